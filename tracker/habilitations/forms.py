"""Forms of the request pages. Section forms are built from the catalogue, which also validates them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TelField,
    TextAreaField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from tracker.catalogue.definitions import FieldDefinition, FieldKind, SectionDefinition
from tracker.catalogue.rules import is_empty
from tracker.habilitations.parties import Hosting

NOT_A_NUMBER = "Saisissez un nombre entier."
NOT_A_DATE = "Saisissez une date valide."


class VersionedForm(FlaskForm):
    """Every form that changes a request carries the version it was read at (optimistic locking)."""

    version = HiddenField(validators=[InputRequired()])

    @property
    def expected_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


SANDBOX_PATH = "bac_a_sable"
WITH_EDITEUR_PATH = "avec_editeur"


class CreateRequestForm(FlaskForm):
    """A collectivité starts in the sandbox, or « avec éditeur » straight in production for a product
    already habilitated in the sandbox; an éditeur starts the sandbox request of one of its products."""

    use_case = SelectField("Cas d'usage", validators=[DataRequired("Choisissez un cas d'usage.")])
    path = RadioField(
        "Parcours",
        choices=[
            SelectChoice(SANDBOX_PATH, "Commencer par le bac à sable (données fictives)"),
            SelectChoice(
                WITH_EDITEUR_PATH,
                "Avec éditeur : demander directement la production, pour un logiciel déjà habilité en bac à sable",
            ),
        ],
        default=SANDBOX_PATH,
    )
    product_id = SelectField("Logiciel", validate_choice=False)

    def __init__(
        self, *args: Any, use_cases: list[tuple[str, str]], products: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.use_case.choices = [SelectChoice("", "Sélectionnez un cas d'usage"), *choices(use_cases)]
        self.product_id.choices = [SelectChoice("", "Sélectionnez un logiciel"), *choices(products)]


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """WTForms 3.3 deprecates (value, label) tuples; the catalogue keeps plain pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EventForm(VersionedForm):
    """A workflow event: the reason (mandatory or not, the workflow decides) and named sections."""

    request_id = HiddenField()
    reason = TextAreaField("Motif", validators=[Optional(), Length(max=5000)])
    sections = MultiCheckboxField("Sections à modifier", choices=[], validate_choice=False)
    # DGFiP decisions only: a message template to start from (filled in by the page's script, or by the
    # preview when scripts are off), and the preview button, which takes the decision on trial only.
    template = SelectField("Partir d'un modèle de message", choices=[], validate_choice=False)
    preview = SubmitField("Prévisualiser le courriel")


class PartiesForm(VersionedForm):
    """The collectivité names its éditeur and hébergeur; name and e-mail serve only for an organization
    the tracker does not know yet (or one without any user)."""

    editeur_siret = StringField("SIRET de l'éditeur", validators=[DataRequired("Indiquez le SIRET de l'éditeur.")])
    editeur_name = StringField(
        "Raison sociale de l'éditeur", description="Seulement si l'éditeur n'utilise pas encore ce service."
    )
    editeur_email = EmailField(
        "Adresse électronique de votre contact chez l'éditeur",
        description="Seulement si l'éditeur n'utilise pas encore ce service : une invitation lui sera envoyée.",
        validators=[Optional(), Email("Cette adresse électronique n'est pas valide.")],
    )
    product_name = StringField(
        "Logiciel utilisé",
        description="Le nom du logiciel de l'éditeur qui appellera l'API, par exemple « Cantine+ ».",
        validators=[Optional(), Length(max=200, message="200 caractères au maximum.")],
    )
    product_version = StringField(
        "Version du logiciel",
        validators=[Optional(), Length(max=50, message="50 caractères au maximum.")],
    )
    hosting = RadioField(
        "Hébergement du logiciel et des données",
        choices=[SelectChoice(h.value, h.label) for h in Hosting],
        default=Hosting.SAME_AS_EDITEUR.value,
    )
    hebergeur_siret = StringField("SIRET de l'hébergeur", description="Seulement pour un hébergeur tiers.")
    hebergeur_name = StringField(
        "Raison sociale de l'hébergeur", description="Seulement si l'hébergeur n'utilise pas encore ce service."
    )
    hebergeur_email = EmailField(
        "Adresse électronique de votre contact chez l'hébergeur",
        description="Seulement si l'hébergeur n'utilise pas encore ce service : une invitation lui sera envoyée.",
        validators=[Optional(), Email("Cette adresse électronique n'est pas valide.")],
    )

    def __init__(self, *args: Any, names_product: bool = True, **kwargs: Any) -> None:
        """``names_product``: False on a request « avec éditeur », whose software is already set."""
        super().__init__(*args, **kwargs)
        self.names_product = names_product

    def validate(self, extra_validators: Any = None) -> bool:
        is_valid = super().validate(extra_validators)
        if self.names_product:
            for field, message in (
                (self.product_name, "Indiquez le nom du logiciel."),
                (self.product_version, "Indiquez la version du logiciel."),
            ):
                if not (field.data or "").strip():
                    field.errors = [*field.errors, message]
                    is_valid = False
        return is_valid


class CguForm(VersionedForm):
    accept_cgu = BooleanField(
        "J'accepte les conditions générales d'utilisation",
        validators=[DataRequired("Vous devez accepter les conditions générales d'utilisation.")],
    )
    dpo_informed = BooleanField(
        "Je confirme que le délégué à la protection des données de ma collectivité est informé de cette demande",
        validators=[DataRequired("Confirmez que le délégué à la protection des données est informé.")],
    )
    commitment = BooleanField(
        "Ma collectivité s'engage à déclarer ses formalités RGPD et à homologuer son téléservice",
        validators=[DataRequired("Cet engagement est nécessaire pour soumettre la demande.")],
    )


class TextByKeyField(Field):
    """Texts keyed by an item, posted as ``<name>-<key>`` (one justification per flagged scope)."""

    def process(self, formdata: Any, data: Any = None, extra_filters: Any = None) -> None:
        self.process_errors = []
        self.raw_data = []
        self.object_data = data
        self.data = dict(data) if isinstance(data, dict) else {}
        if formdata is not None:
            prefix = f"{self.name}-"
            self.data = {
                key.removeprefix(prefix): value.strip()
                for key, value in formdata.items()
                if key.startswith(prefix) and isinstance(value, str) and value.strip()
            }


def _wtforms_field(definition: FieldDefinition) -> Field:
    common: dict[str, Any] = {
        "label": definition.label,
        "description": definition.help_text,
        "validators": [Optional()],
    }
    if definition.kind is FieldKind.TEXTAREA:
        return TextAreaField(**common)
    if definition.kind is FieldKind.CHOICE:
        return SelectField(
            choices=[SelectChoice("", "Sélectionnez une option"), *choices(definition.choices)],
            validate_choice=False,
            **common,
        )
    if definition.kind is FieldKind.MULTI_CHOICE:
        return MultiCheckboxField(choices=choices(definition.choices), validate_choice=False, **common)
    if definition.kind is FieldKind.SCOPES:
        # Rendered by group on the scopes page; the catalogue checks the keys.
        return MultiCheckboxField(choices=[], validate_choice=False, **common)
    if definition.kind is FieldKind.SCOPE_JUSTIFICATIONS:
        return TextByKeyField(**common)
    if definition.kind is FieldKind.CONFIRMATION:
        return BooleanField(**common)
    if definition.kind is FieldKind.DOCUMENTS:
        return MultipleFileField(**common)
    if definition.kind is FieldKind.DATE:
        return DateField(**common, invalid_value_message=NOT_A_DATE)
    if definition.kind is FieldKind.INTEGER:
        return IntegerField(**common, invalid_value_message=NOT_A_NUMBER)
    # The catalogue checks the format; the input type only helps browsers and mobile keyboards.
    text_field = {FieldKind.EMAIL: EmailField, FieldKind.PHONE: TelField, FieldKind.URL: URLField}
    return text_field.get(definition.kind, StringField)(**common)


def section_form_class(definition: SectionDefinition) -> type[VersionedForm]:
    """A form class for one catalogue section; required marks come from the catalogue."""
    attributes = {field.key: _wtforms_field(field) for field in definition.fields}
    return type(f"{definition.key.title()}SectionForm", (VersionedForm,), attributes)


def form_to_data(form: VersionedForm, definition: SectionDefinition) -> dict[str, Any]:
    """Section content as stored: JSON types, empty values left out."""
    data: dict[str, Any] = {}
    for field_definition in definition.fields:
        if field_definition.kind is FieldKind.DOCUMENTS:
            continue  # files are received apart, and the section keeps references to them
        value = form[field_definition.key].data
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, str):
            value = value.strip()
        if not is_empty(value):
            data[field_definition.key] = value
    for normalize in definition.normalizers:
        data = normalize(data)
    return data


def data_to_form(data: dict[str, Any], definition: SectionDefinition) -> dict[str, Any]:
    values = {}
    for field_definition in definition.fields:
        if field_definition.kind is FieldKind.DOCUMENTS:
            continue
        value = data.get(field_definition.key)
        if field_definition.kind is FieldKind.DATE and isinstance(value, str):
            value = date.fromisoformat(value)
        values[field_definition.key] = value
    return values
