"""The PDF dossier (ARCHITECTURE habit 9, SECURITY §E): the content a dossier shows, read back from the
generated PDF with pypdf; its attachments; its page count; its watermark; a locked-down URL fetcher; escaped
content; a bounded rendering time; and the content hash that tells a stored dossier can be served again."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from habilitations.builders import Situation
from pypdf import PdfReader
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from statements import count_statements

from dossiers.conftest import GENERATED_AT, VERIFICATION_URL, Built, set_project
from tracker.catalogue.rules import canonical_json
from tracker.documents.storage import LocalStorage
from tracker.dossiers import DOSSIER_JSON_NAME, pdf_engine, render
from tracker.dossiers.content import DossierContent, build_content
from tracker.dossiers.render import (
    STATIC_ROOT,
    Annex,
    DossierRenderError,
    DossierRenderTimeout,
    annexes_from_storage,
    render_dossier,
    render_html,
    render_pdf,
)
from tracker.habilitations import services
from tracker.habilitations.workflow import Actor, Stage

# The fixed fixture of ``test_the_page_count_is_what_the_layout_implies``: cover, contents, the seven sandbox
# sections (three pages), the attestations (two pages), the history, the annexes with « À propos ».
SUBMITTED_PAGES = 9

HOSTILE = (
    '<img src="file:///etc/passwd"> voir http://evil.example/x.png '
    '<link rel="stylesheet" href="http://evil.example/x.css"> '
    "<style>@import url(http://evil.example/y.css);</style> "
    '<a rel="attachment" href="file:///etc/hostname">pièce</a>'
)


# --- reading PDFs back ----------------------------------------------------------------------------------


def pages_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def flat(text: str) -> str:
    """Without any space or zero-width break: a SHA-256 may wrap between its halves."""
    return re.sub(r"[\s\u200b]+", "", text)


def attachments_of(pdf: bytes) -> dict[str, bytes]:
    found = PdfReader(io.BytesIO(pdf)).attachments
    assert all(len(contents) == 1 for contents in found.values()), "each attachment name is unique"
    return {name: contents[0] for name, contents in found.items()}


TOC_LINE = re.compile(r"^(?P<title>.+?)\s*(?:\.\s*)+(?P<page>\d+)$")


def table_of_contents(pages: list[str]) -> dict[str, int]:
    toc_page = next(text for text in pages if text.startswith("Sommaire"))
    entries = {}
    for line in toc_page.splitlines():
        if match := TOC_LINE.match(line.strip()):
            entries[" ".join(match["title"].split())] = int(match["page"])
    return entries


def page_of_heading(pages: list[str], title: str) -> int:
    """The first page after the contents whose text has ``title`` as a line of its own (1-based)."""
    toc_index = next(index for index, text in enumerate(pages) if text.startswith("Sommaire"))
    for index in range(toc_index + 1, len(pages)):
        if title in (" ".join(line.split()) for line in pages[index].splitlines()):
            return index + 1
    raise AssertionError(f"heading {title!r} not found")


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture
def submitted(build: Callable[..., Built]) -> Built:
    return build(Situation.SUBMITTED)


@pytest.fixture
def submitted_dossier(submitted: Built, content_of: Callable[..., DossierContent], storage: LocalStorage) -> bytes:
    content = content_of(submitted.request, "submission")
    return render_pdf(content, annexes=annexes_from_storage(content, storage), watermark=False)


# --- what the dossier shows -----------------------------------------------------------------------------


def test_a_submitted_dossier_shows_every_section_in_plain_french(
    submitted: Built, submitted_dossier: bytes, content_of: Callable[..., DossierContent]
) -> None:
    pages = pages_of(submitted_dossier)
    text = "\n".join(pages)
    request = submitted.request
    for expected in (
        # cover: numbers, stage, state, the four parties with their SIRET, the dossier's state
        f"{request.number}",
        "DOSSIER DE SOUMISSION",
        "Dites-le-nous une fois – Cantine scolaire",
        "Bac à sable",
        "En cours d'instruction",
        "Commune de Saint-Médard-en-Jalles",
        request.organization.siret,
        "Logiciels d'Aquitaine SAS",
        request.editeur.siret,  # type: ignore[union-attr]
        "Garonne Hébergement SAS",
        request.hebergeur.siret,  # type: ignore[union-attr]
        "DGFiP – Bureau de l'accès aux données",
        "Soumis le",
        "Date limite d'instruction",
        VERIFICATION_URL,
        # sections, their fields' French labels and values
        "Mon projet",
        "Nom du projet",
        "Cas d'usage Cantine scolaire",
        "Le cadre juridique",
        "Nature et références des textes",
        "https://www.exemple.fr/deliberation.pdf",
        "Les données",
        "Années sur lesquelles porte votre demande",
        "Dernière année de revenu (N-1)",
        "Agrégats fiscaux",
        "Revenu fiscal de référence",
        "Situation du foyer fiscal",
        "Nombre de parts",
        "Le traitement des données personnelles",
        "Les personnes impliquées",
        "Les modalités d'accès",
        "Par le numéro fiscal (SPI) de l'usager",
        "L'hébergement",
        "Hébergeur de données de santé (HDS)",
        "En France",
        # attestations: signers, functions, statements
        "Attestation RGPD",
        "Claire Martin",
        "Julien Bernard",
        "Sophie Petit",
        "Fonction de test",
        "J'atteste, au nom de l'hébergeur",
        "Conditions générales d'utilisation",
        # history
        "Demande soumise à la DGFiP",
        "Brouillon → En cours d'instruction (bac à sable)",
        # annexes
        "Délibération 2026-12.pdf",
        "Certificat HDS.pdf",
        DOSSIER_JSON_NAME,
    ):
        assert expected in text, expected
    # Scope and use-case keys never reach the pages: only their labels.
    for key in ("dgfip_rfr", "dgfip_annee_n_moins_1", "cantine_scolaire", "with_spi", "france"):
        assert not re.search(rf"\b{key}\b", text), key

    content = content_of(submitted.request, "submission")
    flat_text = flat(text)
    for document in content.documents:
        assert document.sha256 in flat_text, document.name
    for attestation in content.attestations:
        assert attestation.content_sha256 in flat_text, attestation.label
    assert content.content_sha256 in flat_text
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        assert f"page {number} / {total}" in page
        assert f"dossier {request.number}" in page


def test_the_pdf_carries_title_author_and_language(
    submitted: Built, submitted_dossier: bytes, content_of: Callable[..., DossierContent]
) -> None:
    reader = PdfReader(io.BytesIO(submitted_dossier))
    assert reader.metadata.title == f"Dossier {submitted.request.number} – Dites-le-nous une fois – Cantine scolaire"
    assert reader.metadata.author == "Habilitations DGFiP"
    assert reader.trailer["/Root"]["/Lang"] == "fr"
    html = render_html(content_of(submitted.request, "submission"), watermark=False)
    assert '<svg viewBox="0 0' in html and 'class="qr-code"' in html  # the QR code, inline


def test_the_page_count_is_what_the_layout_implies(submitted_dossier: bytes) -> None:
    pages = pages_of(submitted_dossier)
    assert len(pages) == SUBMITTED_PAGES
    assert f"page {SUBMITTED_PAGES} / {SUBMITTED_PAGES}" in pages[-1]
    toc = table_of_contents(pages)
    assert {"Mon projet", "L'hébergement", "4. Les annexes", "5. À propos de ce dossier"} <= toc.keys()
    for title, page in toc.items():
        assert page_of_heading(pages, title) == page, title
    assert max(toc.values()) == SUBMITTED_PAGES  # « À propos » closes the dossier on its last page


def test_a_draft_is_watermarked_on_every_page(
    build: Callable[..., Built], content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    built = build(Situation.FRESH_DRAFT)
    content = content_of(built.request, "current")
    assert content.is_draft and content.dossier_state == "Brouillon"
    pdf = render_pdf(content, annexes=annexes_from_storage(content, storage), watermark=True)
    pages = pages_of(pdf)
    assert len(pages) > 5
    for page in pages:
        assert "Brouillon" in page
    assert "Ce dossier est un brouillon" in pages[-1]


def test_an_approved_production_request_lists_both_habilitations_and_every_stage(
    build: Callable[..., Built], content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    built = build(Situation.VALIDATED_PRODUCTION)
    content = content_of(built.request, "approval")
    numbers = [habilitation.number for habilitation in content.habilitations]
    assert len(numbers) == 2
    assert content.dossier_state.startswith("Validé le ")
    pdf = render_pdf(content, annexes=annexes_from_storage(content, storage), watermark=False)
    text = "\n".join(pages_of(pdf))
    for expected in (
        *numbers,
        "DOSSIER D'HABILITATION",
        "La recette fonctionnelle",
        "L'homologation de sécurité",
        "La volumétrie",
        "50 appels par minute",
        "Attestation d'homologation et de volumétrie",
        "Demande validée",
        "Étape de production engagée",
        "Procès-verbal de recette.pdf",
        "Décision d'homologation.pdf",
    ):
        assert expected in text, expected


DOSSIER_STATES = {
    Situation.FRESH_DRAFT: "Brouillon",
    Situation.CHANGES_REQUESTED: "Brouillon",
    Situation.REOPENING_DRAFT: "Brouillon",
    Situation.REOPENING_CHANGES_REQUESTED: "Brouillon",
    Situation.PRODUCTION_DRAFT: "Brouillon",
    Situation.PRODUCTION_CHANGES_REQUESTED: "Brouillon",
    Situation.SUBMITTED: "Soumis le ",
    Situation.REOPENING_SUBMITTED: "Soumis le ",
    Situation.PRODUCTION_SUBMITTED: "Soumis le ",
    Situation.VALIDATED: "Validé le ",
    Situation.VALIDATED_PRODUCTION: "Validé le ",
    Situation.REFUSED: "Refusé le ",
    Situation.REFUSED_PRODUCTION: "Refusé le ",
    Situation.ARCHIVED: "Supprimé le ",
    Situation.REVOKED: "Révoqué le ",
}
assert set(DOSSIER_STATES) == set(Situation)


@pytest.mark.parametrize("situation", list(Situation))
def test_every_situation_states_what_the_dossier_is(
    situation: Situation, build: Callable[..., Built], content_of: Callable[..., DossierContent]
) -> None:
    content = content_of(build(situation).request)
    assert content.dossier_state.startswith(DOSSIER_STATES[situation])
    assert content.is_draft == (DOSSIER_STATES[situation] == "Brouillon")
    assert content.dossier_state == "Brouillon" or re.search(r"\d{2}/\d{2}/\d{4} à \d{2}:\d{2}$", content.dossier_state)
    html = render_html(content, watermark=content.is_draft)
    assert html.count('class="watermark"') == int(content.is_draft)
    for section in content.sections:
        assert f'id="{section.anchor}"' in html and f'href="#{section.anchor}"' in html
    if situation is Situation.REOPENING_SUBMITTED:
        # The submission of an update lists what changed since the habilitation, in words.
        changes = [item for item in content.timeline if item.changes]
        assert changes and changes[-1].compared_with == "l'habilitation H" + content.habilitations[0].number[1:]
        assert changes[-1].changes[0].startswith("Le champ « Description du projet » a changé de « ")
        assert "Changements depuis l&#39;habilitation" in html
    if situation is Situation.CHANGES_REQUESTED:
        named = next(item for item in content.timeline if item.sections)
        assert named.title == "Modifications demandées par la DGFiP" and named.sections == ("Mon projet",)
        assert [section.key for section in content.sections if section.is_change_requested] == ["projet"]
        assert "Modification demandée par la DGFiP." in html


# --- attachments --------------------------------------------------------------------------------------


def test_the_uploaded_documents_and_dossier_json_travel_as_attachments(
    build: Callable[..., Built], content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    built = build(Situation.VALIDATED_PRODUCTION)
    content = content_of(built.request, "approval")
    pdf = render_pdf(content, annexes=annexes_from_storage(content, storage), watermark=False)
    attached = attachments_of(pdf)
    assert set(attached) == {*built.uploaded.files, DOSSIER_JSON_NAME}
    for name, data in built.uploaded.files.items():
        assert attached[name] == data, name

    dossier = json.loads(attached[DOSSIER_JSON_NAME])
    assert dossier["dossier"] == {
        "format_version": 1,
        "kind": "approval",
        "generated_at": GENERATED_AT.isoformat(),
        "request_id": built.request.id,
        "request_number": built.request.number,
        "request_version": built.request.version,
        "content_sha256": content.content_sha256,
    }
    # Anyone can check the hash: SHA-256 of the canonical JSON of « request ».
    assert hashlib.sha256(canonical_json(dossier["request"])).hexdigest() == content.content_sha256
    sections = {section["key"]: section for section in dossier["request"]["sections"]}
    assert sections["donnees"]["data"]["scopes"] == ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"]
    assert {document["sha256"] for document in dossier["request"]["documents"]} == {
        hashlib.sha256(data).hexdigest() for data in built.uploaded.files.values()
    }
    assert all("storage_key" not in document for document in dossier["request"]["documents"])


def test_the_annexes_must_be_the_documents_the_dossier_lists(
    submitted: Built, content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    content = content_of(submitted.request, "submission")
    annexes = annexes_from_storage(content, storage)
    assert len(annexes) == 2
    with pytest.raises(ValueError, match="annexes"):
        render_pdf(content, annexes=annexes[:1], watermark=False)
    forged = Annex(annexes[0].name, annexes[0].data + b"%", annexes[0].description)
    with pytest.raises(ValueError, match="annexes"):
        render_pdf(content, annexes=[forged, annexes[1]], watermark=False)


def test_a_stored_file_that_no_longer_matches_its_hash_is_not_attached(
    submitted: Built, content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    content = content_of(submitted.request, "submission")
    document = content.attached_documents[0]
    assert document.storage_key is not None
    path = storage._path(document.storage_key)
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n% altered")
        with pytest.raises(DossierRenderError, match="empreinte SHA-256"):
            annexes_from_storage(content, storage)
    finally:
        path.write_bytes(original)


# --- safety ---------------------------------------------------------------------------------------------


def test_hostile_field_content_is_printed_as_text_and_nothing_is_fetched(
    session: Session,
    cast,  # type: ignore[no-untyped-def]
    build: Callable[..., Built],
    content_of: Callable[..., DossierContent],
    storage: LocalStorage,
) -> None:
    built = build(Situation.FRESH_DRAFT, intitule="<b>Cantine</b> http://evil.example/titre")
    set_project(session, built.request, cast, description=HOSTILE)
    content = content_of(built.request, "current")
    html = render_html(content, watermark=True)
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "<img" not in html and "<style" not in html and 'rel="attachment"' not in html

    rendered = render_dossier(content, annexes=annexes_from_storage(content, storage), watermark=True)
    text = "\n".join(pages_of(rendered.pdf))
    for literal in (
        '<img src="file:///etc/passwd">',
        "http://evil.example/x.png",
        '<link rel="stylesheet" href="http://evil.example/x.css">',
        "@import url(http://evil.example/y.css);",
        "<b>Cantine</b> http://evil.example/titre",
    ):
        assert literal in text, literal
    # Only the dossier's stylesheet and fonts were asked for; nothing was even attempted elsewhere.
    assert rendered.refused == ()
    assert [Path(url.removeprefix("file://")).relative_to(STATIC_ROOT).as_posix() for url in rendered.fetched] == [
        "dossier/print.css",
        "dsfr/fonts/Marianne-Regular.woff",
        "dsfr/fonts/Marianne-Regular_Italic.woff",
        "dsfr/fonts/Marianne-Bold.woff",
    ]
    assert set(attachments_of(rendered.pdf)) == {*built.uploaded.files, DOSSIER_JSON_NAME}


def test_the_fetcher_serves_the_static_files_and_refuses_everything_else(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "dossier").mkdir(parents=True)
    (static / "dossier" / "print.css").write_text("p { color: black }")
    (static / "app.js").write_text("alert(1)")
    outside = tmp_path / "secret.css"
    outside.write_text("p { color: red }")
    (static / "dossier" / "link.css").symlink_to(outside)
    fetcher = pdf_engine.StaticFilesOnly(static)

    response = fetcher.fetch((static / "dossier" / "print.css").as_uri())
    assert response.read() == b"p { color: black }" and response.content_type == "text/css"
    for url in (
        "file:///etc/passwd",
        outside.as_uri(),
        f"{static.as_uri()}/dossier/../../secret.css",
        (static / "dossier" / "link.css").as_uri(),  # a link out of the folder
        (static / "app.js").as_uri(),  # not a kind of file a dossier uses
        f"{(static / 'dossier' / 'print.css').as_uri()}?v=1",
        f"file://evil.example{static}/dossier/print.css",
        "http://evil.example/x.png",
        "https://127.0.0.1/x.css",
        "ftp://evil.example/x",
        "data:text/css,p{color:red}",
        "//evil.example/x.css",
    ):
        with pytest.raises(pdf_engine.Refused):
            fetcher.fetch(url)
    assert fetcher.fetched == [(static / "dossier" / "print.css").as_uri()]
    assert len(fetcher.refused) == 12


def test_raw_markup_reaching_weasyprint_still_fetches_nothing_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: were a value ever left unescaped, the renderer would still fetch nothing."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # restored afterwards: rendering here sets it in this process
    html = (
        '<html lang="fr"><link rel="stylesheet" href="dossier/print.css">'
        '<style>@import url("http://evil.example/a.css"); p { background: url(file:///etc/passwd) }</style>'
        '<p>Texte <img src="file:///etc/passwd"><img src="http://evil.example/x.png">'
        '<img src="data:image/png;base64,iVBORw0KGgo="><a rel="attachment" href="file:///etc/hostname">x</a></p>'
    )
    pdf, fetcher = pdf_engine.render(html, static_root=STATIC_ROOT, attachments=[], created=GENERATED_AT)
    assert pdf.startswith(b"%PDF-")
    assert all(Path(url.removeprefix("file://")).is_relative_to(STATIC_ROOT) for url in fetcher.fetched)
    assert {
        "http://evil.example/a.css",
        "file:///etc/passwd",
        "http://evil.example/x.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/hostname",
    } <= set(fetcher.refused)
    assert set(attachments_of(pdf)) == set()


def test_a_rendering_past_its_time_limit_is_stopped_and_the_next_one_works(
    submitted: Built, content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    content = content_of(submitted.request, "submission")
    annexes = annexes_from_storage(content, storage)
    render.start_engine()
    child = render.engine_pid()
    assert child is not None
    with pytest.raises(DossierRenderTimeout, match="interrompu"):
        render_pdf(content, annexes=annexes, watermark=False, timeout=0.01)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # killed and reaped, not left running
    assert render.engine_pid() is None
    assert render_pdf(content, annexes=annexes, watermark=False).startswith(b"%PDF-")
    assert render.engine_pid() not in (None, child)


def test_a_forked_process_leaves_the_rendering_child_to_its_parent() -> None:
    """A server forking its workers after a first dossier: each worker starts its own child, and lets go of
    the parent's pipes (were it to keep them, the parent's child would never see the end of its input)."""
    render.start_engine()
    parents_child = render._engine._process
    assert parents_child is not None
    render._engine.after_fork()  # what os.register_at_fork runs in a forked process
    assert render.engine_pid() is None
    # Here the only copy of its input was ours: closed, the child reaches its end and exits on its own.
    assert parents_child.wait(timeout=30) == 0
    render._engine._inherited.remove(parents_child)


def test_the_same_content_renders_to_the_same_bytes(
    submitted: Built, content_of: Callable[..., DossierContent], storage: LocalStorage
) -> None:
    content = content_of(submitted.request, "submission")
    annexes = annexes_from_storage(content, storage)
    render.stop_engine()
    first = render_pdf(content, annexes=annexes, watermark=False)  # the first of a new child process
    time.sleep(1.1)  # embedded fonts carry a time stamp to the second: the dossier's, not the clock's
    assert render_pdf(content, annexes=annexes, watermark=False) == first


# --- content and its hash -------------------------------------------------------------------------------


def test_the_same_content_has_the_same_hash_whatever_its_kind_and_time(
    session: Session,
    cast,
    build: Callable[..., Built],  # type: ignore[no-untyped-def]
) -> None:
    request = build(Situation.FRESH_DRAFT).request

    def content(kind: str, at: datetime) -> DossierContent:
        return build_content(session, request, kind=kind, generated_at=at, verification_url=VERIFICATION_URL)

    first = content("current", GENERATED_AT)
    again = content("submission", datetime(2026, 6, 1, tzinfo=UTC))
    assert again.content_sha256 == first.content_sha256
    assert again.json_bytes() != first.json_bytes()  # its « dossier » part says when and why

    row = request.section(Stage.SANDBOX, "projet")
    assert row is not None
    services.save_section(
        session,
        request,
        "projet",
        {**row.data, "description": "Une autre description du téléservice."},
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    changed = content("current", GENERATED_AT)
    assert changed.content_sha256 != first.content_sha256
    projet = next(section for section in changed.sections if section.key == "projet")
    assert any(field.text == "Une autre description du téléservice." for field in projet.fields)


def test_content_is_read_in_seven_statements_whatever_the_history(
    session: Session, connection: Connection, build: Callable[..., Built]
) -> None:
    counts = []
    for situation in (Situation.SUBMITTED, Situation.VALIDATED_PRODUCTION):
        request = build(situation).request
        session.commit()
        session.expire_all()
        with count_statements(connection) as statements:
            content = build_content(
                session, request, kind="current", generated_at=GENERATED_AT, verification_url=VERIFICATION_URL
            )
        counts.append(len(statements))
        assert content.sections and content.timeline and content.documents
    assert counts == [7, 7]


def test_scopes_are_shown_by_group_and_justifications_by_label(
    session: Session,
    cast,
    build: Callable[..., Built],
    content_of: Callable[..., DossierContent],  # type: ignore[no-untyped-def]
) -> None:
    built = build(Situation.FRESH_DRAFT)
    request = built.request
    row = request.section(Stage.SANDBOX, "donnees")
    assert row is not None
    services.save_section(
        session,
        request,
        "donnees",
        {
            **row.data,
            "scopes": ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart", "dgfip_aft"],
            "scope_justifications": {"dgfip_aft": "Adresse du foyer <b>nécessaire</b> au calcul."},
        },
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    content = content_of(request)
    donnees = next(section for section in content.sections if section.key == "donnees")
    fields = {field.key: field for field in donnees.fields}
    assert [(group.label, group.scopes) for group in fields["scopes"].groups] == [
        ("Années sur lesquelles porte votre demande", ("Dernière année de revenu (N-1)",)),
        ("Adresse", ("Adresse déclarée au 1er janvier",)),
        ("Situation du foyer fiscal", ("Nombre de parts",)),
        ("Agrégats fiscaux", ("Revenu fiscal de référence",)),
    ]
    assert fields["scope_justifications"].pairs == (
        ("Adresse déclarée au 1er janvier", "Adresse du foyer <b>nécessaire</b> au calcul."),
    )
    assert "Adresse du foyer &lt;b&gt;nécessaire&lt;/b&gt; au calcul." in render_html(content, watermark=True)
