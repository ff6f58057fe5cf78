"""Login, invitation and membership forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from tracker.accounts.models import DgfipFunction, MembershipRole


class LoginForm(FlaskForm):
    email = EmailField(
        "Adresse électronique", validators=[DataRequired("Saisissez votre adresse électronique.")]
    )
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
    )
    role = SelectField("Rôle", choices=[(r.value, r.label) for r in MembershipRole], default="member")
    dgfip_function = SelectField(
        "Fonction DGFiP",
        choices=[("", "—"), *((f.value, f.label) for f in DgfipFunction)],
        validators=[Optional()],
    )
