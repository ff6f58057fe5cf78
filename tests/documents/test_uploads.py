"""Documents through the section form (DOMAIN §5, SECURITY §D, §H): checked by content, kept under a
random key, referenced by exact version from the section, downloaded as attachments by the parties only,
and never a row without its file (orphan files are swept)."""

from __future__ import annotations

import glob
import hashlib
import html
import io
import tempfile
from datetime import timedelta
from typing import Any

from factories import login, make_organization, make_user, principal_for
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast, audit_actions_since, audit_mark, fill_every_section, new_request
from pypdf import PdfWriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.audit.models import AuditEntry
from tracker.catalogue.impot_particulier import CADRE_JURIDIQUE
from tracker.documents.models import Document
from tracker.documents.services import Upload, receive_upload, sweep_orphans
from tracker.documents.storage import LocalStorage
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, SectionStatus, Stage

URL = "/demandes/{id}/sections/cadre_juridique"
NATURE = "RGPD article 6-1-e ; CRPA L.114-8 ; délibération n° 2026-12 du 3 mars 2026."


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _post(client: FlaskClient, session: Session, request: HabilitationRequest, files: list[Any], **fields: Any) -> Any:
    version = session.get(HabilitationRequest, request.id).version  # type: ignore[union-attr]
    data = {"version": str(version), "cadre_juridique_nature": NATURE, **fields}
    if files:
        data["cadre_juridique_documents"] = files
    return client.post(URL.format(id=request.id), data=data, content_type="multipart/form-data")


def _section(session: Session, request_id: int) -> Any:
    session.expire_all()
    return session.get(HabilitationRequest, request_id).section(Stage.SANDBOX, "cadre_juridique")  # type: ignore[union-attr]


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _stored(storage: LocalStorage) -> set[str]:
    return {key for key, _at in storage.entries()}


def _release_body(response: Any) -> None:
    """The test client spools a large request body to a temporary file it leaves open."""
    response.request.environ["wsgi.input"].close()


def _spooled() -> list[str]:
    return glob.glob(f"{tempfile.gettempdir()}/tracker-upload-*")


def test_an_uploaded_pdf_is_kept_and_named_by_the_section(
    client: FlaskClient, session: Session, draft: HabilitationRequest, storage: LocalStorage
) -> None:
    content = pdf_bytes(pages=2)
    mark = audit_mark(session)
    response = _post(client, session, draft, [(io.BytesIO(content), "délibération 2026-12.pdf")], action="next")
    assert response.status_code == 302

    document = session.execute(select(Document)).scalar_one()
    assert (document.filename, document.kind, document.content_type) == (
        "délibération 2026-12.pdf",
        "pdf",
        "application/pdf",
    )
    assert (document.size, document.page_count) == (len(content), 2)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert document.storage_key != document.filename and len(document.storage_key) == 40
    with storage.open(document.storage_key) as stored:
        assert stored.read() == content
    section = _section(session, draft.id)
    assert section.data["cadre_juridique_documents"] == [document.reference()]
    assert section.status is SectionStatus.COMPLETE, "a document stands in for the URL"
    assert audit_actions_since(session, mark) == ["document.uploaded", "section.saved"]
    assert _spooled() == []


def test_downloads_are_attachments_for_the_parties_only(
    client: FlaskClient, session: Session, draft: HabilitationRequest, cast: Cast
) -> None:
    content = pdf_bytes()
    _post(client, session, draft, [(io.BytesIO(content), "../../etc/CON.pdf")])
    document = session.execute(select(Document)).scalar_one()
    url = f"/demandes/{draft.id}/documents/{document.id}"

    for user in (cast.collectivite, cast.editeur, cast.hebergeur):
        login(client, session, user)
        response = client.get(url)
        assert response.status_code == 200
        assert response.data == content
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "fichier-CON.pdf" in response.headers["Content-Disposition"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert "no-store" in response.headers["Cache-Control"]
        response.close()
    downloads = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "document.downloaded")
    )
    assert downloads == 3

    # Another organization, and DGFiP before any submission: the same 404 as a missing document.
    missing = client.get(f"/demandes/{draft.id}/documents/{document.id + 1000}")
    login(client, session, make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE)))
    assert client.get(url).status_code == 404
    login(client, session, cast.instructeur)
    assert client.get(url).status_code == 404
    assert missing.status_code == 404
    # A document of one request is not reachable through another request's URL.
    other = new_request(session, cast)
    session.commit()
    login(client, session, cast.collectivite)
    assert client.get(f"/demandes/{other.id}/documents/{document.id}").status_code == 404


def test_a_refused_file_is_said_next_to_its_field_and_the_typed_text_is_kept(
    client: FlaskClient, session: Session, draft: HabilitationRequest, storage: LocalStorage
) -> None:
    before = _stored(storage)
    page = b"<!doctype html><html><script>alert(1)</script></html>"
    response = _post(
        client,
        session,
        draft,
        [(io.BytesIO(page), "deliberation.pdf")],
        cadre_juridique_url="https://www.exemple.fr/deliberation-2026-12.html",
        action="save",
    )
    assert response.status_code == 422
    body = _text(response)
    messages = body.split('id="cadre_juridique_documents-messages"', 1)[1].split("</div>", 1)[0]
    assert "« deliberation.pdf » : Ce fichier est une page web (HTML) et non un document" in messages
    assert "Votre saisie est enregistrée, mais des fichiers ont été refusés" in body
    section = _section(session, draft.id)
    assert section.data == {
        "cadre_juridique_nature": NATURE,
        "cadre_juridique_url": "https://www.exemple.fr/deliberation-2026-12.html",
    }
    assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert _stored(storage) == before
    assert _spooled() == []


def test_an_oversized_file_is_refused_and_an_oversized_body_answers_413(
    client: FlaskClient, session: Session, draft: HabilitationRequest, storage: LocalStorage, app: Flask
) -> None:
    before = _stored(storage)
    big = pdf_bytes() + b"%" * (10 * 1024 * 1024)
    response = _post(client, session, draft, [(io.BytesIO(big), "scan.pdf")])
    assert response.status_code == 422
    assert "« scan.pdf » : Ce fichier dépasse la taille maximale de 10 Mo." in _text(response)
    _release_body(response)
    assert _stored(storage) == before and _spooled() == []

    limit = app.config["MAX_CONTENT_LENGTH"]
    huge = _post(client, session, draft, [(io.BytesIO(b"%PDF-" + b"0" * limit), "enorme.pdf")])
    assert huge.status_code == 413
    _release_body(huge)
    assert session.scalar(select(func.count()).select_from(Document)) == 0


def test_six_documents_per_field_at_most(client: FlaskClient, session: Session, draft: HabilitationRequest) -> None:
    files = [(io.BytesIO(pdf_bytes()), f"piece-{n}.pdf") for n in range(1, 8)]
    response = _post(client, session, draft, files)
    assert response.status_code == 422
    assert "« piece-7.pdf » : 6 documents au maximum pour ce champ" in _text(response)
    section = _section(session, draft.id)
    assert [ref["name"] for ref in section.data["cadre_juridique_documents"]] == [f"piece-{n}.pdf" for n in range(1, 7)]


def test_a_removed_or_replaced_document_stays_in_the_history_and_drops_the_attestation(
    client: FlaskClient, session: Session, draft: HabilitationRequest, cast: Cast
) -> None:
    _post(client, session, draft, [(io.BytesIO(pdf_bytes()), "v1.pdf")], action="next")
    first = session.execute(select(Document)).scalar_one()
    # The other sections of the attestation completed, then the collectivité signs it.
    request = session.get(HabilitationRequest, draft.id)
    owners = {actor: cast.principal(actor) for actor in (Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR)}
    fill_every_section(session, request, owners, except_keys=("cadre_juridique",))
    session.commit()
    attested = _section(session, draft.id)
    assert attested.status is SectionStatus.ATTESTED

    response = _post(
        client,
        session,
        draft,
        [(io.BytesIO(pdf_bytes(pages=3)), "v2.pdf")],
        **{"cadre_juridique_documents-retirer": str(first.id)},
    )
    assert response.status_code == 302
    section = _section(session, draft.id)
    assert [ref["name"] for ref in section.data["cadre_juridique_documents"]] == ["v2.pdf"]
    assert section.status is SectionStatus.COMPLETE and section.attested_sha256 is None
    # Both versions remain, and the first can still be downloaded.
    assert [d.filename for d in session.execute(select(Document).order_by(Document.id)).scalars()] == [
        "v1.pdf",
        "v2.pdf",
    ]
    download = client.get(f"/demandes/{draft.id}/documents/{first.id}")
    assert download.status_code == 200
    download.close()


def test_another_party_cannot_upload_into_a_section_it_does_not_own(
    client: FlaskClient, session: Session, draft: HabilitationRequest, cast: Cast, storage: LocalStorage
) -> None:
    before = _stored(storage)
    login(client, session, cast.editeur)
    response = _post(client, session, draft, [(io.BytesIO(pdf_bytes()), "intrus.pdf")])
    assert response.status_code == 403
    assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert _stored(storage) == before


def test_a_crash_before_commit_leaves_an_orphan_file_that_the_sweep_removes(
    session: Session, draft: HabilitationRequest, cast: Cast, storage: LocalStorage
) -> None:
    """Between the file written and the row committed, the process dies: the row never existed, the file
    did. No row points to a missing file; the sweep removes the file once it is old enough."""
    kept = receive_upload(
        session,
        storage,
        draft,
        CADRE_JURIDIQUE,
        CADRE_JURIDIQUE.field("cadre_juridique_documents"),
        Upload("gardé.pdf", io.BytesIO(pdf_bytes())),
        principal=principal_for(cast.collectivite),
        held=0,
    )
    session.commit()
    savepoint = session.begin_nested()
    lost = receive_upload(
        session,
        storage,
        draft,
        CADRE_JURIDIQUE,
        CADRE_JURIDIQUE.field("cadre_juridique_documents"),
        Upload("perdu.pdf", io.BytesIO(pdf_bytes(pages=2))),
        principal=principal_for(cast.collectivite),
        held=1,
    )
    lost_key = lost.storage_key
    savepoint.rollback()  # the crash: the transaction never commits
    assert lost_key in _stored(storage)
    for document in session.execute(select(Document)).scalars():
        assert document.storage_key in _stored(storage), "no row points to a missing file"

    # Too recent: it may belong to an upload still in its transaction.
    assert sweep_orphans(session, storage, older_than=timedelta(hours=1)) == 0
    assert sweep_orphans(session, storage, older_than=timedelta(0)) >= 1
    assert lost_key not in _stored(storage)
    assert kept.storage_key in _stored(storage)


def test_the_sweep_command_removes_old_orphans_only(app: Flask, session: Session, storage: LocalStorage) -> None:
    import os
    import time

    from tracker.cli import main as tracker_cli

    old = storage.save(io.BytesIO(b"%PDF-1.7 orphelin ancien"))
    fresh = storage.save(io.BytesIO(b"%PDF-1.7 orphelin recent"))
    two_hours_ago = time.time() - 2 * 3600
    os.utime(storage.root / old.key[:2] / old.key[2:4] / old.key, (two_hours_ago, two_hours_ago))
    result = app.test_cli_runner().invoke(tracker_cli, ["documents", "sweep"])
    assert result.exit_code == 0, result.output
    assert "1 fichier(s) orphelin(s) supprimé(s)." in result.output
    assert old.key not in _stored(storage) and fresh.key in _stored(storage)
    storage.delete(fresh.key)


def test_the_section_page_lists_the_replaced_versions(
    client: FlaskClient, session: Session, draft: HabilitationRequest
) -> None:
    _post(client, session, draft, [(io.BytesIO(pdf_bytes()), "v1.pdf")])
    first = session.execute(select(Document)).scalar_one()
    _post(
        client,
        session,
        draft,
        [(io.BytesIO(pdf_bytes(pages=2)), "v2.pdf")],
        **{"cadre_juridique_documents-retirer": str(first.id)},
    )
    page = _text(client.get(URL.format(id=draft.id)))
    history = page.split("Versions précédentes (1)", 1)[1].split("</details>", 1)[0]
    assert "v1.pdf" in history and first.sha256[:16] in history and "v2.pdf" not in history
