"""Filling a section over HTTP (DOMAIN §3.4): save, next, complete, attest, edit after attesting.

« Enregistrer » (``action=save``) keeps whatever was typed; « Suivant » (``action=next``) keeps it too but
says, next to each field, what is still missing. Invalid input is never stored and never lost: the page
comes back with the typed values and the error beside the field.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from factories import login
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from habilitations.builders import Cast, fingerprint, make_cast, new_request
from tracker.catalogue.impot_particulier import PROJET
from tracker.catalogue.rules import REQUIRED, validate_section
from tracker.habilitations.models import HabilitationRequest, RequestSection
from tracker.habilitations.workflow import SectionStatus, Stage

URL = "/demandes/{id}/sections/projet"
DESCRIPTION = "Tarification de la cantine au quotient familial, pour 1 200 familles."


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def draft(client: FlaskClient, session: Session, cast: Cast) -> HabilitationRequest:
    request = new_request(session, cast)
    session.commit()
    login(client, session, cast.collectivite)
    return request


def _projet(session: Session, request_id: int) -> RequestSection:
    session.expire_all()
    section = session.get(HabilitationRequest, request_id).section(Stage.SANDBOX, "projet")
    assert section is not None
    return section


def _post(client: FlaskClient, session: Session, request: HabilitationRequest, **fields: Any) -> Any:
    version = session.get(HabilitationRequest, request.id).version
    return client.post(URL.format(id=request.id), data={"version": str(version), **fields})


def _messages(body: str, field_id: str) -> str:
    """The error messages the page ties to one field (its ``<id>-messages`` group)."""
    assert f'aria-describedby="{field_id}-messages"' in body, f"no message tied to {field_id}"
    return body.split(f'id="{field_id}-messages"', 1)[1].split("</div>", 1)[0]


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_new_request_starts_with_the_use_case_prefill(session: Session, draft: HabilitationRequest) -> None:
    section = _projet(session, draft.id)
    assert section.data["intitule"] == "Dites-le-nous une fois – Cantine scolaire"
    assert section.data["use_case"] == "cantine_scolaire"
    assert section.data["description"].startswith("Le téléservice de restauration scolaire récupère")
    # The prefilled description keeps a « [à compléter …] » passage: the section is not complete yet.
    assert section.status is SectionStatus.IN_PROGRESS
    assert validate_section(PROJET, section.data) == {
        "description": "Complétez ce texte : remplacez les passages « [à compléter …] »."
    }


def test_save_keeps_incomplete_input(client: FlaskClient, session: Session, draft: HabilitationRequest) -> None:
    response = _post(client, session, draft, action="save", intitule="Cantine", description="")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(URL.format(id=draft.id))
    section = _projet(session, draft.id)
    assert section.data == {"intitule": "Cantine"}
    assert section.status is SectionStatus.IN_PROGRESS


def test_next_with_missing_fields_says_what_is_missing_and_keeps_the_input(
    client: FlaskClient, session: Session, draft: HabilitationRequest
) -> None:
    response = _post(client, session, draft, action="next", intitule="Cantine des écoles", volumetrie_approximative="")

    assert response.status_code == 422
    body = _text(response)
    assert REQUIRED in _messages(body, "description")
    assert 'aria-describedby="intitule-messages"' not in body
    assert 'value="Cantine des écoles"' in body
    # « Suivant » saves like « Enregistrer » before pointing at what is missing.
    section = _projet(session, draft.id)
    assert (section.data, section.status) == ({"intitule": "Cantine des écoles"}, SectionStatus.IN_PROGRESS)


def test_next_with_everything_required_completes_the_section(
    client: FlaskClient, session: Session, draft: HabilitationRequest
) -> None:
    response = _post(
        client,
        session,
        draft,
        action="next",
        intitule="Cantine",
        description=DESCRIPTION,
        use_case="cantine_scolaire",
        date_prevue_mise_en_production="2027-09-01",
        volumetrie_approximative="1200",
    )

    assert response.status_code == 302
    # « Suivant » leads to the party's next step.
    assert response.headers["Location"].endswith(f"/demandes/{draft.id}/sections/cadre_juridique")
    section = _projet(session, draft.id)
    assert section.status is SectionStatus.COMPLETE
    assert section.data == {
        "intitule": "Cantine",
        "description": DESCRIPTION,
        "use_case": "cantine_scolaire",
        "date_prevue_mise_en_production": "2027-09-01",
        "volumetrie_approximative": 1200,
    }
    assert session.get(HabilitationRequest, draft.id).intitule == "Cantine"  # the list column follows


def _complete(client: FlaskClient, session: Session, request: HabilitationRequest) -> None:
    response = _post(client, session, request, action="next", intitule="Cantine", description=DESCRIPTION)
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("volumetrie_approximative", "douze cents"),
        ("volumetrie_approximative", "12.5"),
        ("date_prevue_mise_en_production", "31/02/2027"),
        ("date_prevue_mise_en_production", "demain"),
    ],
)
@pytest.mark.parametrize("action", ["save", "next"])
def test_invalid_values_are_refused_next_to_the_field_and_nothing_is_lost(
    client: FlaskClient, session: Session, draft: HabilitationRequest, field: str, value: str, action: str
) -> None:
    before = fingerprint(session, draft.id)

    response = _post(
        client, session, draft, action=action, intitule="Cantine du midi", description=DESCRIPTION, **{field: value}
    )

    assert response.status_code == 422
    body = _text(response)
    assert "fr-message--error" in _messages(body, field)
    assert f'value="{value}"' in body  # the wrong value comes back to be corrected
    assert 'value="Cantine du midi"' in body and DESCRIPTION in body  # and so does everything else
    assert fingerprint(session, draft.id) == before  # nothing half-saved


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("volumetrie_approximative", "douze cents", "Saisissez un nombre entier."),
        ("date_prevue_mise_en_production", "31/02/2027", "Saisissez une date valide"),
    ],
)
def test_invalid_value_messages_are_in_french(
    client: FlaskClient, session: Session, draft: HabilitationRequest, field: str, value: str, message: str
) -> None:
    response = _post(client, session, draft, action="save", intitule="Cantine", **{field: value})

    assert response.status_code == 422
    assert message in _messages(_text(response), field)


def test_a_negative_volume_is_refused_when_completing(
    client: FlaskClient, session: Session, draft: HabilitationRequest
) -> None:
    response = _post(
        client,
        session,
        draft,
        action="next",
        intitule="Cantine",
        description=DESCRIPTION,
        volumetrie_approximative="-3",
    )

    assert response.status_code == 422
    assert "supérieure ou égale à 0" in _messages(_text(response), "volumetrie_approximative")
    assert _projet(session, draft.id).status is SectionStatus.IN_PROGRESS


def test_a_stale_section_form_is_refused_and_nothing_is_overwritten(
    client: FlaskClient, session: Session, draft: HabilitationRequest
) -> None:
    stale_version = session.get(HabilitationRequest, draft.id).version
    _complete(client, session, draft)
    before = fingerprint(session, draft.id)

    response = client.post(
        URL.format(id=draft.id),
        data={"version": str(stale_version), "action": "save", "intitule": "Écrasé", "description": "Écrasé"},
    )

    assert response.status_code == 409
    assert "Quelqu'un a modifié cette demande entre-temps" in _text(response)
    assert fingerprint(session, draft.id) == before


def test_the_section_page_shows_the_saved_values(
    client: FlaskClient, session: Session, draft: HabilitationRequest
) -> None:
    _post(
        client,
        session,
        draft,
        action="save",
        intitule="Cantine",
        description=DESCRIPTION,
        date_prevue_mise_en_production="2027-09-01",
        volumetrie_approximative="1200",
    )

    body = _text(client.get(URL.format(id=draft.id)))

    assert 'value="Cantine"' in body
    assert DESCRIPTION in body
    assert 'value="2027-09-01"' in body
    assert 'value="1200"' in body
