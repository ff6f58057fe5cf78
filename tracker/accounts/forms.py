"""Login, invitation and membership forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from tracker.accounts.models import DgfipFunction, MembershipRole

INVALID_CHOICE = "Choisissez une des valeurs proposées."


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class LoginForm(FlaskForm):
    email = EmailField("Adresse électronique", validators=[DataRequired("Saisissez votre adresse électronique.")])
    password = PasswordField("Mot de passe", validators=[DataRequired("Saisissez votre mot de passe.")])


class AcceptInvitationForm(FlaskForm):
    full_name = StringField(
        "Prénom et nom", validators=[DataRequired("Saisissez votre prénom et votre nom."), Length(max=200)]
    )
    password = PasswordField(
        "Mot de passe",
        description="12 caractères au minimum. Une phrase de passe est idéale : les espaces, accents et "
        "émojis sont acceptés.",
        validators=[DataRequired("Choisissez un mot de passe.")],
    )
    password_confirmation = PasswordField(
        "Confirmation du mot de passe",
        validators=[
            DataRequired("Confirmez le mot de passe."),
            EqualTo("password", "Les deux mots de passe ne correspondent pas."),
        ],
    )


class InviteForm(FlaskForm):
    email = EmailField(
        "Adresse électronique",
        validators=[
            DataRequired("Saisissez l'adresse électronique de la personne à inviter."),
            Email("Cette adresse électronique n'est pas valide."),
        ],
        filters=[_strip],  # an address pasted from a mail client often brings a space along
    )
    # SelectChoice, not (value, label) tuples: WTForms 3.3 deprecates tuples (an error under the test
    # suite's filterwarnings) and 3.4 drops them.
    role = SelectField(
        "Rôle",
        choices=[SelectChoice(r.value, r.label) for r in MembershipRole],
        default="member",
        invalid_choice_message=INVALID_CHOICE,
    )
    dgfip_function = SelectField(
        "Fonction DGFiP",
        choices=[SelectChoice("", "—"), *(SelectChoice(f.value, f.label) for f in DgfipFunction)],
        validators=[Optional()],
        invalid_choice_message=INVALID_CHOICE,
    )
