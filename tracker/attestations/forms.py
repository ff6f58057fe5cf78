"""The signature form of an attestation."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from tracker.habilitations.forms import VersionedForm


class SignatureForm(VersionedForm):
    statement_version = HiddenField()
    signer_name = StringField(
        "Nom et prénom du signataire",
        validators=[DataRequired("Indiquez votre nom."), Length(max=200, message="200 caractères au maximum.")],
    )
    signer_function = StringField(
        "Fonction du signataire",
        description="Par exemple : délégué à la protection des données, directeur général des services.",
        validators=[DataRequired("Indiquez votre fonction."), Length(max=200, message="200 caractères au maximum.")],
    )
    confirm = BooleanField(
        "Je signe cette attestation : j'ai lu la déclaration ci-dessus et le contenu qu'elle couvre",
        validators=[DataRequired("Cochez la case pour signer.")],
    )
