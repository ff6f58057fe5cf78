"""Internal notes (issue « DGFiP instruction »): written by instructeurs, read by the DGFiP, never shown to
the parties, who cannot even learn they exist."""

from __future__ import annotations

import html

import pytest
from factories import login
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, audit_actions_since, audit_mark, build, make_cast
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.audit.models import AuditEntry
from tracker.habilitations.models import HabilitationRequest
from tracker.instruction.models import InternalNote

NOTE = "Délibération à vérifier auprès de la préfecture.\nAppeler Mme Durand lundi."


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def submitted(session: Session, cast: Cast) -> HabilitationRequest:
    request = build(session, cast, Situation.SUBMITTED)
    session.commit()
    return request


def _page(client: FlaskClient, request: HabilitationRequest) -> str:
    return client.get(f"/demandes/{request.id}").get_data(as_text=True)


def test_an_instructeur_writes_a_note_the_dgfip_reads_and_the_parties_never_see(
    client: FlaskClient, session: Session, cast: Cast, submitted: HabilitationRequest
) -> None:
    login(client, session, cast.instructeur)
    mark = audit_mark(session)
    response = client.post(f"/demandes/{submitted.id}/notes", data={"note": f"  {NOTE}  "})
    assert response.status_code == 302
    note = session.execute(select(InternalNote)).scalar_one()
    assert (note.body, note.author_id) == (NOTE, cast.instructeur.id)
    assert audit_actions_since(session, mark) == ["request.note_added"]
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "request.note_added")).scalar_one()
    assert "préfecture" not in str(entry.details), "the audit log does not copy the note"
    version = session.get(HabilitationRequest, submitted.id).version  # type: ignore[union-attr]
    assert version == submitted.version, "a note does not touch the request"

    for reader in (cast.instructeur, cast.rapporteur):
        login(client, session, reader)
        page = _page(client, submitted)
        assert "Notes internes" in page and "Délibération à vérifier auprès de la préfecture." in page
    login(client, session, cast.rapporteur)
    assert 'name="note"' not in _page(client, submitted), "rapporteurs read, they do not write"
    for party in (cast.collectivite, cast.editeur, cast.hebergeur):
        login(client, session, party)
        page = _page(client, submitted)
        assert "Notes internes" not in page and "préfecture" not in page


@pytest.mark.parametrize(("role", "status"), [("rapporteur", 403), ("collectivite", 404), ("editeur", 404)])
def test_only_instructeurs_write_notes(
    client: FlaskClient, session: Session, cast: Cast, submitted: HabilitationRequest, role: str, status: int
) -> None:
    login(client, session, getattr(cast, role))
    assert client.post(f"/demandes/{submitted.id}/notes", data={"note": NOTE}).status_code == status
    assert session.execute(select(InternalNote)).first() is None


def test_an_empty_or_oversized_note_is_refused_with_a_message(
    client: FlaskClient, session: Session, cast: Cast, submitted: HabilitationRequest
) -> None:
    login(client, session, cast.instructeur)
    for body, message in (
        ("   ", "Écrivez la note avant de l'enregistrer."),
        ("x" * 5001, "5000 caractères au maximum."),
    ):
        response = client.post(f"/demandes/{submitted.id}/notes", data={"note": body}, follow_redirects=True)
        assert message in html.unescape(response.get_data(as_text=True))
    assert session.execute(select(InternalNote)).first() is None
