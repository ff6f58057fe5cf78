"""Dossiers kept for each request (issue « Signed PDF dossiers »): a snapshot asked for at each submission
and approval, rendered and signed afterwards from the content frozen at that moment, stored for good and
served byte for byte, its hash in the audit log and on the timeline; a current dossier on demand, served
from storage while the content has not changed; the public verification page and the CLI."""

from __future__ import annotations

import hashlib
import html
import io
import json
from collections.abc import Callable

import pytest
from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Situation, take
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.audit.models import AuditEntry
from tracker.documents.storage import LocalStorage
from tracker.dossiers import DOSSIER_JSON_NAME, snapshots
from tracker.dossiers.cli import dossier_group
from tracker.dossiers.content import DossierContent, DossierKind
from tracker.dossiers.models import Dossier, DossierStatus
from tracker.habilitations.models import DOSSIER_NOTICE, HabilitationRequest, TimelineEntry
from tracker.habilitations.workflow import Actor, Event

from .conftest import Built, Cast


def _dossiers(session: Session, request: HabilitationRequest) -> list[Dossier]:
    return list(session.scalars(select(Dossier).where(Dossier.request_id == request.id).order_by(Dossier.id)))


def _generate(session: Session, storage: LocalStorage) -> int:
    done = snapshots.generate_pending(session, storage)
    session.expire_all()
    return done


def _dossier_json(pdf: bytes) -> dict:
    reader = PdfReader(io.BytesIO(pdf))
    return json.loads(reader.attachments[DOSSIER_JSON_NAME][0])


def _text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def submitted(build: Callable[..., Built]) -> Built:
    return build(Situation.SUBMITTED)


def test_content_freezes_and_thaws_to_the_same_content(
    submitted: Built, content_of: Callable[..., DossierContent]
) -> None:
    content = content_of(submitted.request, "submission")
    frozen = snapshots.freeze(content)
    assert json.loads(json.dumps(frozen)) == frozen, "what the row stores is plain JSON"
    thawed = snapshots.thaw(DossierContent, frozen)
    assert thawed == content
    assert thawed.content_sha256 == content.content_sha256
    assert any(document.storage_key for document in thawed.documents), "the annexes can be found again"


def test_a_submission_and_an_approval_each_keep_a_signed_snapshot(
    session: Session, storage: LocalStorage, cast: Cast, submitted: Built
) -> None:
    request = submitted.request
    (submission,) = _dossiers(session, request)
    assert (submission.kind, submission.status, submission.is_draft) == (
        DossierKind.SUBMISSION,
        DossierStatus.PENDING,
        False,
    )
    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR, reason="Bienvenue.")
    assert [d.kind for d in _dossiers(session, request)] == [DossierKind.SUBMISSION, DossierKind.APPROVAL]

    assert _generate(session, storage) == 2
    for dossier in _dossiers(session, request):
        assert dossier.status is DossierStatus.READY and dossier.page_count and dossier.page_count > 3
        pdf = snapshots.stored_pdf(dossier)
        assert hashlib.sha256(pdf).hexdigest() == dossier.pdf_sha256 and len(pdf) == dossier.size
        assert _dossier_json(pdf)["dossier"]["kind"] == dossier.kind.value
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dossier.signed", AuditEntry.object_id == str(request.id))
        ).all()
        assert dossier.pdf_sha256 in {e.details["sha256"] for e in entry}
    notices = session.scalars(
        select(TimelineEntry).where(TimelineEntry.request_id == request.id, TimelineEntry.notice == DOSSIER_NOTICE)
    ).all()
    assert sorted(n.details["kind"] for n in notices) == ["approval", "submission"]
    assert {n.details["sha256"] for n in notices} == {d.pdf_sha256 for d in _dossiers(session, request)}


def test_a_snapshot_shows_the_moment_it_was_asked_for_even_when_rendered_later(
    session: Session, storage: LocalStorage, cast: Cast, submitted: Built
) -> None:
    request = submitted.request
    (submission,) = _dossiers(session, request)
    version_at_submission = submission.request_version
    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, reason="Précisez le projet.")

    _generate(session, storage)
    submission = session.get(Dossier, submission.id)
    pdf = snapshots.stored_pdf(submission)
    data = _dossier_json(pdf)
    assert data["dossier"]["request_version"] == version_at_submission < request.version
    assert "Précisez le projet." not in _text(pdf), "the request for changes came after the submission"
    assert data["request"]["state"] == "En cours d'instruction"


def test_the_current_dossier_is_served_from_storage_while_the_content_is_unchanged(
    session: Session, storage: LocalStorage, cast: Cast, submitted: Built
) -> None:
    request = submitted.request
    _generate(session, storage)
    (submission,) = _dossiers(session, request)
    # The snapshot's own timeline entry does not count as a change: the snapshot is the current dossier.
    assert snapshots.current_dossier(session, request, requested_by_id=None).id == submission.id

    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, reason="Précisez.")
    fresh = snapshots.current_dossier(session, request, requested_by_id=None)
    assert (fresh.kind, fresh.status, fresh.is_draft) == (DossierKind.CURRENT, DossierStatus.PENDING, True)
    assert snapshots.current_dossier(session, request, requested_by_id=None).id == fresh.id, "asked twice, made once"
    _generate(session, storage)
    fresh = session.get(Dossier, fresh.id)
    assert "Brouillon" in _text(snapshots.stored_pdf(fresh))
    assert snapshots.current_dossier(session, request, requested_by_id=None).id == fresh.id
    notices = session.scalars(
        select(TimelineEntry).where(TimelineEntry.request_id == request.id, TimelineEntry.notice == DOSSIER_NOTICE)
    ).all()
    assert len(notices) == 1, "a current dossier is not recorded on the timeline, only snapshots are"


def test_a_dossier_that_cannot_be_rendered_is_retried_then_marked_failed(
    app: Flask, session: Session, storage: LocalStorage, submitted: Built, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    (dossier,) = _dossiers(session, submitted.request)
    empty = LocalStorage(tmp_path)  # the annexes are not there
    for _attempt in range(snapshots.MAX_ATTEMPTS):
        assert snapshots.generate_pending(session, empty) == 0
    session.expire_all()
    dossier = session.get(Dossier, dossier.id)
    assert dossier.status is DossierStatus.FAILED and dossier.attempts == snapshots.MAX_ATTEMPTS
    assert "DossierRenderError" in (dossier.last_error or "")
    assert snapshots.generate_pending(session, storage) == 0, "a failed dossier is not taken again"


# --- over HTTP ----------------------------------------------------------------------------------------


def test_the_approval_snapshot_downloads_byte_identical_and_matches_the_audit_log(
    client: FlaskClient, session: Session, storage: LocalStorage, cast: Cast, submitted: Built
) -> None:
    request = submitted.request
    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR)
    _generate(session, storage)
    approval = _dossiers(session, request)[-1]
    session.commit()
    login(client, session, cast.collectivite)

    listing = html.unescape(client.get(f"/demandes/{request.id}/dossiers").get_data(as_text=True))
    assert "Dossier d'habilitation" in listing and approval.pdf_sha256 in listing
    first = client.get(f"/demandes/{request.id}/dossiers/{approval.id}/pdf")
    second = client.get(f"/demandes/{request.id}/dossiers/{approval.id}/pdf")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    assert first.headers["Content-Type"] == "application/pdf" and "attachment" in first.headers["Content-Disposition"]
    signed = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dossier.signed").order_by(AuditEntry.id.desc())
    ).first()
    assert signed is not None and hashlib.sha256(first.data).hexdigest() == signed.details["sha256"]


def test_asking_for_the_current_dossier_shows_progress_then_the_download(
    client: FlaskClient, session: Session, storage: LocalStorage, cast: Cast, submitted: Built
) -> None:
    request = submitted.request
    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, reason="Précisez.")
    session.commit()
    login(client, session, cast.editeur)
    response = client.post(f"/demandes/{request.id}/dossiers")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert page.headers.get("Refresh") == "2" and "Génération du dossier en cours" in page.get_data(as_text=True)
    dossier = _dossiers(session, request)[-1]
    assert client.get(f"/demandes/{request.id}/dossiers/{dossier.id}/pdf").status_code == 302, "not ready yet"

    _generate(session, storage)
    page = client.get(f"/demandes/{request.id}/dossiers/{dossier.id}")
    assert "Refresh" not in page.headers and "Télécharger le dossier PDF" in page.get_data(as_text=True)


def test_dossiers_of_a_foreign_request_are_not_found(client: FlaskClient, session: Session, submitted: Built) -> None:
    (dossier,) = _dossiers(session, submitted.request)
    session.commit()
    stranger = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    session.commit()
    login(client, session, stranger)
    request_id = submitted.request.id
    for url in (
        f"/demandes/{request_id}/dossiers",
        f"/demandes/{request_id}/dossiers/{dossier.id}",
        f"/demandes/{request_id}/dossiers/{dossier.id}/pdf",
    ):
        assert client.get(url).status_code == 404
    assert client.post(f"/demandes/{request_id}/dossiers").status_code == 404


def _verify(client: FlaskClient, data: bytes, name: str = "dossier.pdf") -> tuple[int, str]:
    response = client.post("/verification", data={"pdf": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    return response.status_code, html.unescape(response.get_data(as_text=True))


def test_anyone_verifies_a_dossier_on_the_public_page(
    client: FlaskClient, session: Session, storage: LocalStorage, cast: Cast, submitted: Built
) -> None:
    request = submitted.request
    _generate(session, storage)
    (submission,) = _dossiers(session, request)
    pdf = snapshots.stored_pdf(submission)
    session.commit()

    assert client.get("/verification").status_code == 200
    status, page = _verify(client, pdf)
    assert status == 200 and "fr-alert--success" in page
    assert f"Demande {request.number}, version {submission.request_version}" in page
    assert "C'est la version en vigueur" in page

    tampered = bytearray(pdf)
    tampered[len(pdf) // 3] ^= 0x01
    status, page = _verify(client, bytes(tampered))
    assert status == 200 and "fr-alert--error" in page and "modifié après sa signature" in page

    status, page = _verify(client, b"ceci n'est pas un PDF")
    assert status == 200 and "fr-alert--error" in page

    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, reason="Précisez.")
    session.commit()
    status, page = _verify(client, pdf)
    assert "Ce n'est plus la version en vigueur" in page

    response = client.post("/verification", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choisissez le fichier PDF du dossier." in response.get_data(as_text=True)


def test_the_cli_says_whether_the_version_is_current(
    app: Flask, session: Session, storage: LocalStorage, submitted: Built, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    _generate(session, storage)
    (submission,) = _dossiers(session, submitted.request)
    path = tmp_path / "dossier.pdf"
    path.write_bytes(snapshots.stored_pdf(submission))
    session.commit()
    result = app.test_cli_runner().invoke(dossier_group, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "C'est la version en vigueur" in result.output
