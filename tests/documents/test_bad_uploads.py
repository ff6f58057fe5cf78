"""Every bad upload of SECURITY.md §D (19-23) through the real section form: a clear message next to the
field, the typed text kept, and no file, no row and no temporary file left behind. The samples are the
ones the inspection tests build; here they travel over HTTP."""

from __future__ import annotations

import glob
import html
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from documents.test_inspection import (
    BILLION_LAUGHS,
    EXECUTABLE,
    EXTERNAL_ENTITY,
    HTML,
    PDF_ACTIVE,
    PDF_DAMAGED,
    SHEET_ENTITIES,
    XLSX_PARTS,
    add_document_javascript,
    ods,
    pdf_bytes,
    xlsx,
)
from tracker.audit.models import AuditEntry
from tracker.documents.models import Document
from tracker.documents.storage import LocalStorage
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Stage

NATURE = "RGPD article 6-1-e ; CRPA L.114-8 ; délibération n° 2026-12 du 3 mars 2026."
ENCRYPTED = "Ce PDF est protégé par un mot de passe ou chiffré : déposez une version non protégée."
POLYGLOT = (
    "Ce PDF contient aussi du code de page web (HTML) : il est refusé par sécurité. "
    "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
)
ZIP_BOMB = "Ce tableur est anormalement compressé (possible « bombe zip ») : il est refusé par sécurité."


def _encrypted(writer: PdfWriter) -> None:
    writer.encrypt("secret")


def _zip_bomb(tmp_path: Path) -> bytes:
    path = tmp_path / "bombe.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in XLSX_PARTS.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet2.xml", "w") as entry:
            for _ in range(150):
                entry.write(bytes(1024 * 1024))
    return path.read_bytes()


# (name, how to build the bytes, the field, the message)
PDF_CASES: dict[str, tuple[str, Callable[[Path], bytes], str]] = {
    "executable renommé en PDF": ("facture.pdf", lambda _: b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), EXECUTABLE),
    "page HTML renommée en PDF": ("deliberation.pdf", lambda _: b"<!DOCTYPE html><html><body>x</body></html>", HTML),
    "polyglotte PDF/HTML": (
        "deliberation.pdf",
        lambda _: pdf_bytes().replace(b"%PDF-1.3\n", b"%PDF-1.3\n<script>alert(1)</script>\n", 1),
        POLYGLOT,
    ),
    "PDF avec JavaScript": ("deliberation.pdf", lambda _: pdf_bytes(change=add_document_javascript), PDF_ACTIVE),
    "PDF tronqué": ("deliberation.pdf", lambda _: pdf_bytes()[:300], PDF_DAMAGED),
    "PDF chiffré": ("deliberation.pdf", lambda _: pdf_bytes(change=_encrypted), ENCRYPTED),
}
SHEET_CASES: dict[str, tuple[str, Callable[[Path], bytes], str]] = {
    "bombe zip": ("besoin.xlsx", _zip_bomb, ZIP_BOMB),
    "entités XML (milliard de rires)": (
        "besoin.xlsx",
        lambda tmp: xlsx(tmp, {"xl/workbook.xml": BILLION_LAUGHS}).read_bytes(),
        SHEET_ENTITIES,
    ),
    "entité externe": (
        "besoin.ods",
        lambda tmp: ods(tmp, {"content.xml": EXTERNAL_ENTITY}).read_bytes(),
        SHEET_ENTITIES,
    ),
}


def _stored(storage: LocalStorage) -> set[str]:
    return {key for key, _at in storage.entries()}


def _spooled() -> list[str]:
    return glob.glob(f"{tempfile.gettempdir()}/tracker-upload-*")


def _post(client: FlaskClient, request: HabilitationRequest, key: str, data: dict[str, Any]) -> Any:
    return client.post(
        f"/demandes/{request.id}/sections/{key}",
        data={"version": str(request.version), "action": "save", **data},
        content_type="multipart/form-data",
    )


def _field_messages(response: Any, field: str) -> str:
    body = html.unescape(response.get_data(as_text=True))
    return body.split(f'id="{field}-messages"', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize("case", list(PDF_CASES), ids=str)
def test_a_bad_pdf_is_refused_and_leaves_nothing(
    client: FlaskClient,
    session: Session,
    draft: HabilitationRequest,
    storage: LocalStorage,
    tmp_path: Path,
    case: str,
) -> None:
    name, build, message = PDF_CASES[case]
    before = _stored(storage)
    response = _post(
        client,
        draft,
        "cadre_juridique",
        {"cadre_juridique_nature": NATURE, "cadre_juridique_documents": [(io.BytesIO(build(tmp_path)), name)]},
    )
    assert response.status_code == 422
    assert f"« {name} » : {message}" in _field_messages(response, "cadre_juridique_documents")
    section = session.get(HabilitationRequest, draft.id).section(Stage.SANDBOX, "cadre_juridique")  # type: ignore[union-attr]
    assert section.data == {"cadre_juridique_nature": NATURE}, "the typed text is kept"
    assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert _stored(storage) == before
    assert _spooled() == []
    refusal = session.execute(select(AuditEntry).where(AuditEntry.action == "document.refused")).scalar_one()
    assert (refusal.details["field"], refusal.details["reason"]) == ("cadre_juridique_documents", message)


@pytest.mark.parametrize("case", list(SHEET_CASES), ids=str)
def test_a_hostile_spreadsheet_is_refused_before_extraction_and_leaves_nothing(
    client: FlaskClient,
    session: Session,
    draft: HabilitationRequest,
    storage: LocalStorage,
    tmp_path: Path,
    case: str,
) -> None:
    name, build, message = SHEET_CASES[case]
    before = _stored(storage)
    response = _post(
        client,
        draft,
        "donnees",
        {"specific_requirements": "y", "specific_requirements_document": [(io.BytesIO(build(tmp_path)), name)]},
    )
    assert response.status_code == 422
    assert f"« {name} » : {message}" in _field_messages(response, "specific_requirements_document")
    assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert _stored(storage) == before
    assert _spooled() == []


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        # The multipart quoting eats the backslashes before the app sees them; no separator survives.
        ("..\\..\\windows\\system32\\note.pdf", "windowssystem32note.pdf"),
        ("rapport\x00.html.pdf", "rapport.html.pdf"),
        ("facture\u202efdp.exe.pdf", "facturefdp.exe.pdf"),
        ("CON.pdf", "fichier-CON.pdf"),
        ("é" * 300 + ".pdf", "é" * 116 + ".pdf"),
    ],
)
def test_hostile_file_names_are_stored_under_a_random_key_and_shown_sanitised(
    client: FlaskClient,
    session: Session,
    draft: HabilitationRequest,
    storage: LocalStorage,
    hostile: str,
    shown: str,
) -> None:
    content = pdf_bytes()
    response = _post(
        client,
        draft,
        "cadre_juridique",
        {"cadre_juridique_nature": NATURE, "cadre_juridique_documents": [(io.BytesIO(content), hostile)]},
    )
    assert response.status_code == 302
    document = session.execute(select(Document)).scalar_one()
    assert document.filename == shown
    assert document.storage_key.isalnum() and document.storage_key in _stored(storage)
    download = client.get(f"/demandes/{draft.id}/documents/{document.id}")
    disposition = download.headers["Content-Disposition"]
    download.close()
    assert disposition.startswith("attachment;")
    # RFC 6266: an ASCII fallback and the exact name in UTF-8 (RFC 5987), never a raw hostile byte.
    assert "\x00" not in disposition and "\u202e" not in disposition and "/" not in disposition.split(";", 1)[1]
    if not shown.isascii():
        assert f"filename*=UTF-8''{quote(shown)}" in disposition
