"""Uploaded files are judged by their content: every sample is built here, in tmp_path, from scratch."""

from __future__ import annotations

import codecs
import gzip
import io
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from tracker.documents import inspection
from tracker.documents._pdf_probe import raw_scan_is_active
from tracker.documents.inspection import (
    PDF_ONLY,
    SPREADSHEETS,
    DocumentKind,
    DocumentRejected,
    Inspection,
    accepted_formats,
    display_name,
    download_name,
    inspect_document,
    not_accepted_message,
)

NOT_A_PDF = "Ce fichier n'est pas un PDF. Seuls les documents PDF sont acceptés."
NOT_A_SPREADSHEET = (
    "Ce fichier n'est pas un tableur. Formats acceptés : tableur OpenDocument (.ods), tableur Excel (.xlsx), "
    "tableur Excel 97-2003 (.xls) ou fichier CSV (.csv)."
)
PDF_ACTIVE = (
    "Ce PDF contient du JavaScript ou des actions automatiques : il est refusé par sécurité. "
    "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
)
PDF_DAMAGED = "Ce PDF est endommagé ou incomplet : enregistrez-le à nouveau puis déposez-le une nouvelle fois."
HTML = "Ce fichier est une page web (HTML) et non un document : il est refusé par sécurité."
EXECUTABLE = "Ce fichier est un programme exécutable : il est refusé par sécurité."
SHEET_DAMAGED = (
    "Ce tableur est endommagé ou dans un format non pris en charge : enregistrez-le à nouveau depuis votre tableur."
)
SHEET_ENTITIES = "Ce tableur contient des déclarations XML interdites (entités) : il est refusé par sécurité."
SHEET_NESTED = (
    "Ce tableur contient une archive, un programme ou un objet incorporé : il est refusé par sécurité. "
    "Enregistrez-le à nouveau sans objet incorporé."
)
SHEET_MACROS = (
    "Ce tableur contient des macros ou des liens actifs (DDE) : il est refusé par sécurité. "
    "Enregistrez-le sans macros, au format .xlsx ou .ods."
)
SHEET_PROTECTED = "Ce tableur est protégé par un mot de passe ou chiffré : déposez une version non protégée."
SHEET_SUSPICIOUS_PATHS = "Ce tableur contient des chemins internes suspects : il est refusé par sécurité."


def rejection(path: Path, allowed: frozenset[DocumentKind] = PDF_ONLY, **limits: float) -> str:
    with pytest.raises(DocumentRejected) as caught:
        inspect_document(path, allowed, **limits)
    assert str(caught.value) == caught.value.message
    return caught.value.message


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# PDF samples ------------------------------------------------------------------------------------------------


def pdf_bytes(pages: int = 1, change: Callable[[PdfWriter], None] | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if change is not None:
        change(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def add_document_javascript(writer: PdfWriter) -> None:
    try:  # pypdf 7 replaced add_js by add_open_action
        from pypdf.actions import JavaScript
    except ImportError:
        writer.add_js("app.alert(1)")
    else:
        writer.add_open_action(JavaScript("app.alert(1)"))


def action(kind: str, **entries: str) -> DictionaryObject:
    dictionary = DictionaryObject({NameObject("/S"): NameObject(kind)})
    for key, value in entries.items():
        dictionary[NameObject(f"/{key}")] = TextStringObject(value)
    return dictionary


def set_open_action(value: DictionaryObject | ArrayObject) -> Callable[[PdfWriter], None]:
    def change(writer: PdfWriter) -> None:
        writer.root_object[NameObject("/OpenAction")] = value

    return change


def handmade_pdf(objects: list[bytes]) -> bytes:
    """A classic PDF whose objects 1..n are given; object 1 is the catalog."""
    output = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(output)
    output += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    output += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    output += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(output)


def pdf_with_compressed_action(hidden: bytes) -> bytes:
    """Object 5 (the catalog's /OpenAction) lives in a compressed object stream behind a cross-reference
    stream: its bytes never appear in clear in the file."""
    header = b"5 0 "
    packed = zlib.compress(header + hidden)
    output = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (len(header), len(packed), packed),
    ]
    offsets = {}
    for number, body in enumerate(bodies, start=1):
        offsets[number] = len(output)
        output += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    offsets[6] = len(output)
    rows = [b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")]
    rows += [b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00" for number in (1, 2, 3, 4)]
    rows.append(b"\x02" + (4).to_bytes(4, "big") + (0).to_bytes(2, "big"))  # object 5: in stream 4, index 0
    rows.append(b"\x01" + offsets[6].to_bytes(4, "big") + b"\x00\x00")
    table = b"".join(rows)
    output += (
        b"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n%s\nendstream\nendobj\n"
        % (
            len(table),
            table,
        )
    )
    output += b"startxref\n%d\n%%%%EOF\n" % offsets[6]
    return bytes(output)


CATALOG_AND_PAGE = [
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
]


# PDF ---------------------------------------------------------------------------------------------------------


def test_a_valid_pdf_is_accepted_with_its_page_count(tmp_path: Path) -> None:
    path = write(tmp_path, "rapport.pdf", pdf_bytes(pages=3))
    assert inspect_document(path, PDF_ONLY) == Inspection(DocumentKind.PDF, 3)


def test_ordinary_navigation_is_not_mistaken_for_active_content(tmp_path: Path) -> None:
    def change(writer: PdfWriter) -> None:
        page = writer.pages[0]
        writer.root_object[NameObject("/OpenAction")] = ArrayObject([page.indirect_reference, NameObject("/Fit")])
        link = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Link"),
                NameObject("/Rect"): ArrayObject(
                    [NumberObject(0), NumberObject(0), NumberObject(50), NumberObject(50)]
                ),
                NameObject("/A"): action("/URI", URI="https://www.impots.gouv.fr/"),
            }
        )
        page[NameObject("/Annots")] = ArrayObject([link])

    path = write(tmp_path, "liens.pdf", pdf_bytes(pages=2, change=change))
    assert inspect_document(path, PDF_ONLY) == Inspection(DocumentKind.PDF, 2)


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.pdf", pdf_bytes(change=lambda writer: writer.encrypt("x")))
    assert rejection(path) == "Ce PDF est protégé par un mot de passe ou chiffré : déposez une version non protégée."


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(add_document_javascript, id="document-javascript"),
        pytest.param(set_open_action(action("/Launch", F="calc.exe")), id="open-action-launch"),
        pytest.param(set_open_action(action("/URI", URI="https://attaquant.example/")), id="open-action-uri"),
        pytest.param(
            lambda writer: writer.pages[0].__setitem__(
                NameObject("/AA"), DictionaryObject({NameObject("/O"): action("/GoToR", F="//serveur/partage")})
            ),
            id="page-open-remote-goto",
        ),
    ],
)
def test_javascript_and_automatic_actions_are_refused(tmp_path: Path, change: Callable[[PdfWriter], None]) -> None:
    path = write(tmp_path, "actif.pdf", pdf_bytes(change=change))
    assert rejection(path) == PDF_ACTIVE


def test_hex_escaped_names_do_not_hide_javascript(tmp_path: Path) -> None:
    data = handmade_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
            *CATALOG_AND_PAGE,
            b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>",
        ]
    )
    assert b"/JavaScript" not in data
    assert raw_scan_is_active(data)
    assert rejection(write(tmp_path, "echappe.pdf", data)) == PDF_ACTIVE


def test_javascript_inside_a_compressed_object_stream_is_found_by_the_parsed_walk(tmp_path: Path) -> None:
    data = pdf_with_compressed_action(b"<< /S /JavaScript /JS (app.alert(1)) >>")
    assert not raw_scan_is_active(data)
    assert rejection(write(tmp_path, "compresse.pdf", data)) == PDF_ACTIVE
    harmless = pdf_with_compressed_action(b"<< /S /GoTo /D [3 0 R /Fit] >>")
    assert inspect_document(write(tmp_path, "sain.pdf", harmless), PDF_ONLY) == Inspection(DocumentKind.PDF, 1)


def test_raw_scan_matches_whole_names_only() -> None:
    assert raw_scan_is_active(b"<< /S/Launch >>")
    assert not raw_scan_is_active(b"<< /JSON 1 /Launcher 2 /Subtype /Link >>")


def test_a_pdf_carrying_a_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "joint.pdf", pdf_bytes(change=lambda writer: writer.add_attachment("a.exe", b"MZ")))
    assert rejection(path) == (
        "Ce PDF contient des fichiers joints : il est refusé par sécurité. Exportez-le à nouveau sans pièce jointe."
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(pdf_bytes(pages=2)[: len(pdf_bytes(pages=2)) // 2], id="truncated"),
        pytest.param(b"%PDF-1.7\nnothing to see\n%%EOF\n", id="no-objects"),
        pytest.param(pdf_bytes(pages=0), id="no-page"),
    ],
)
def test_damaged_pdfs_are_refused(tmp_path: Path, data: bytes) -> None:
    assert rejection(write(tmp_path, "casse.pdf", data)) == PDF_DAMAGED


def test_html_renamed_pdf_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "facture.pdf", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
    assert rejection(path) == HTML


@pytest.mark.parametrize(
    "magic",
    [b"MZ\x90\x00\x03\x00\x00\x00", b"\x7fELF\x02\x01\x01\x00", b"#!/bin/sh\nrm -rf ~;echo,"],
    ids=["pe", "elf", "script"],
)
def test_executables_are_refused_whatever_their_name(tmp_path: Path, magic: bytes) -> None:
    path = write(tmp_path, "facture.pdf", magic + bytes(200))
    assert rejection(path, PDF_ONLY) == EXECUTABLE
    assert rejection(path, SPREADSHEETS) == EXECUTABLE


def test_a_polyglot_starting_with_html_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "polyglotte.pdf", b"<html><script>alert(1)</script>\n" + pdf_bytes())
    assert rejection(path) == HTML


def test_a_pdf_with_markup_in_its_first_kilobyte_is_refused(tmp_path: Path) -> None:
    data = pdf_bytes().replace(b"%PDF-1.3\n", b"%PDF-1.3\n%<SCRIPT>alert(1)</script>\n", 1)
    assert rejection(write(tmp_path, "polyglotte.pdf", data)) == (
        "Ce PDF contient aussi du code de page web (HTML) : il est refusé par sécurité. "
        "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
    )


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes()
        except OSError:
            continue
        if text.encode() in arguments:
            found.append(cmdline.parent.name)
    return found


def test_parsing_time_is_bounded_and_the_child_is_killed(tmp_path: Path) -> None:
    path = write(tmp_path, "enorme.pdf", pdf_bytes(pages=50))
    started = time.monotonic()
    assert rejection(path, time_limit=0.001) == (
        "L'analyse de ce PDF a pris trop de temps : il est peut-être endommagé ou trop complexe."
    )
    assert time.monotonic() - started < 5
    if Path("/proc/self/cmdline").exists():
        assert _processes_mentioning(str(path)) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_running_out_of_memory_gives_a_clear_message(tmp_path: Path) -> None:
    path = write(tmp_path, "lourd.pdf", pdf_bytes())
    assert rejection(path, memory_limit_bytes=1024 * 1024) == (
        "L'analyse de ce PDF a échoué : il est peut-être endommagé ou trop volumineux. "
        "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
    )


def test_too_many_objects_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "complexe.pdf", pdf_bytes(pages=5))
    assert rejection(path, max_pdf_objects=3) == (
        "Ce PDF est trop complexe pour être analysé : exportez-le à nouveau en PDF simple (PDF/A par exemple)."
    )


def test_a_pdf_where_spreadsheets_are_expected_is_refused(tmp_path: Path) -> None:
    assert rejection(write(tmp_path, "liste.xlsx", pdf_bytes()), SPREADSHEETS) == NOT_A_SPREADSHEET


# Spreadsheet samples ----------------------------------------------------------------------------------------

XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
XLSX_PARTS = {
    "[Content_Types].xml": XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>',
    "xl/workbook.xml": XML + '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Communes" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": XML
    + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/></Relationships>',
    "xl/worksheets/sheet1.xml": XML
    + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Épinal</t></is></c></row></sheetData></worksheet>',
}
ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
ODS_PARTS = {
    "content.xml": XML + '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">'
    '<office:body><office:spreadsheet><table:table table:name="Communes"><table:table-row><table:table-cell>'
    "<text:p>Épinal</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>"
    "</office:body></office:document-content>",
    "META-INF/manifest.xml": XML
    + '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.3"><manifest:file-entry manifest:full-path="/" '
    f'manifest:media-type="{ODS_MIMETYPE}"/><manifest:file-entry manifest:full-path="content.xml" '
    'manifest:media-type="text/xml"/></manifest:manifest>',
}
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol3;</workbook>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE doc [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0">&xxe;'
    "</office:document-content>"
)


def make_zip(path: Path, parts: dict[str, str | bytes], *, mimetype: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if mimetype is not None:  # ODF wants it first and stored
            archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


def xlsx(tmp_path: Path, changes: dict[str, str | bytes] | None = None) -> Path:
    return make_zip(tmp_path / "classeur.xlsx", {**XLSX_PARTS, **(changes or {})})


def ods(tmp_path: Path, extra: dict[str, str | bytes] | None = None) -> Path:
    return make_zip(tmp_path / "classeur.ods", {**ODS_PARTS, **(extra or {})}, mimetype=ODS_MIMETYPE)


# Spreadsheets -----------------------------------------------------------------------------------------------


def test_valid_xlsx_and_ods_are_accepted(tmp_path: Path) -> None:
    assert inspect_document(xlsx(tmp_path), SPREADSHEETS) == Inspection(DocumentKind.XLSX, None)
    assert inspect_document(ods(tmp_path), SPREADSHEETS) == Inspection(DocumentKind.ODS, None)
    assert inspect_document(ods(tmp_path), frozenset({DocumentKind.ODS})) == Inspection(DocumentKind.ODS, None)


def test_a_spreadsheet_where_a_pdf_is_expected_is_refused(tmp_path: Path) -> None:
    assert rejection(xlsx(tmp_path), PDF_ONLY) == NOT_A_PDF
    assert rejection(xlsx(tmp_path), frozenset({DocumentKind.ODS})) == (
        "Ce fichier n'est pas un tableur. Formats acceptés : tableur OpenDocument (.ods)."
    )


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "bombe.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in XLSX_PARTS.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet2.xml", "w") as entry:
            zeros = bytes(1024 * 1024)
            for _ in range(150):
                entry.write(zeros)
    assert path.stat().st_size < 1024 * 1024
    started = time.monotonic()
    assert rejection(path, SPREADSHEETS) == (
        "Ce tableur est anormalement compressé (possible « bombe zip ») : il est refusé par sécurité."
    )
    assert time.monotonic() - started < 2


def test_too_much_declared_content_is_refused(tmp_path: Path) -> None:
    megabyte = bytes(1024 * 1024)  # each entry below the size from which the ratio is checked
    parts: dict[str, str | bytes] = {**XLSX_PARTS, **{f"xl/media/image{index}.png": megabyte for index in range(101)}}
    assert rejection(make_zip(tmp_path / "gros.xlsx", parts), SPREADSHEETS) == (
        "Ce tableur est trop volumineux une fois décompressé (plus de 100 Mo) : il est refusé par sécurité."
    )


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    parts: dict[str, str | bytes] = {**XLSX_PARTS, **{f"xl/media/image{index}.png": b"x" for index in range(1000)}}
    assert rejection(make_zip(tmp_path / "nombreux.xlsx", parts), SPREADSHEETS) == (
        "Ce tableur contient trop d'éléments internes (plus de 1 000) : il est refusé par sécurité."
    )


def test_billion_laughs_in_an_xlsx_is_refused(tmp_path: Path) -> None:
    assert rejection(xlsx(tmp_path, {"xl/workbook.xml": BILLION_LAUGHS}), SPREADSHEETS) == SHEET_ENTITIES


def test_external_entity_in_ods_content_is_refused(tmp_path: Path) -> None:
    assert rejection(ods(tmp_path, {"content.xml": EXTERNAL_ENTITY}), SPREADSHEETS) == SHEET_ENTITIES


def test_a_declaration_in_a_legacy_drawing_is_refused(tmp_path: Path) -> None:
    path = xlsx(tmp_path, {"xl/drawings/vmlDrawing1.vml": '<xml><!ENTITY x SYSTEM "file:///etc/passwd"><v:shape/>'})
    assert rejection(path, SPREADSHEETS) == SHEET_ENTITIES


@pytest.mark.parametrize("name", ["../../evil.xml", "/etc/cron.d/evil", "C:/evil.xml", "xl\\..\\..\\evil.xml"])
def test_suspicious_entry_names_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "chemins.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for part, content in XLSX_PARTS.items():
            archive.writestr(part, content)
        archive.writestr(zipfile.ZipInfo(name), "<x/>")  # ZipInfo keeps the name as given
    assert rejection(path, SPREADSHEETS) == SHEET_SUSPICIOUS_PATHS


def test_duplicate_entry_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "doublon.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for part, content in XLSX_PARTS.items():
            archive.writestr(part, content)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("xl/workbook.xml", "<autre/>")
    assert rejection(path, SPREADSHEETS) == SHEET_SUSPICIOUS_PATHS


def inner_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    ["xl/embeddings/archive.zip", "xl/embeddings/oleObject1.bin", "xl/media/setup.exe"],
)
def test_nested_archives_and_programs_are_refused(tmp_path: Path, name: str) -> None:
    content = {".zip": inner_zip(), ".bin": OLE2}.get(Path(name).suffix, b"MZ" + bytes(100))
    path = make_zip(tmp_path / "imbrique.xlsx", {**XLSX_PARTS, name: content})
    assert rejection(path, SPREADSHEETS) == SHEET_NESTED


def test_a_disguised_nested_zip_is_found_by_its_magic_number(tmp_path: Path) -> None:
    path = ods(tmp_path, {"Pictures/image.png": inner_zip()})
    assert rejection(path, SPREADSHEETS) == SHEET_NESTED


def test_compressed_vector_images_are_not_nested_archives(tmp_path: Path) -> None:
    path = ods(tmp_path, {"Pictures/logo.emz": gzip.compress(b"\x01\x00\x00\x00 EMF")})
    assert inspect_document(path, SPREADSHEETS) == Inspection(DocumentKind.ODS, None)
    path = ods(tmp_path, {"Pictures/logo.png": gzip.compress(b"anything")})
    assert rejection(path, SPREADSHEETS) == SHEET_NESTED


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda tmp_path: xlsx(tmp_path, {"xl/vbaProject.bin": b"\x00" * 10}), id="xlsm-vba"),
        pytest.param(
            lambda tmp_path: xlsx(
                tmp_path,
                {
                    "[Content_Types].xml": XLSX_PARTS["[Content_Types].xml"].replace(
                        "spreadsheetml.sheet.main+xml",
                        'spreadsheetml.sheet.main+xml"/><Override PartName="/x" '
                        'ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml',
                    )
                },
            ),
            id="macro-enabled-content-type",
        ),
        pytest.param(
            lambda tmp_path: xlsx(
                tmp_path,
                {
                    "xl/externalLinks/externalLink1.xml": XML
                    + '<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    '<ddeLink ddeService="cmd" ddeTopic="/c calc"/></externalLink>'
                },
            ),
            id="xlsx-dde",
        ),
        pytest.param(lambda tmp_path: ods(tmp_path, {"Basic/Standard/Module1.xml": "<module/>"}), id="ods-basic"),
        pytest.param(
            lambda tmp_path: ods(
                tmp_path,
                {
                    "content.xml": ODS_PARTS["content.xml"].replace(
                        "<office:body>",
                        '<office:scripts><office:event-listeners xmlns:script="urn:oasis:names:tc:opendocument:'
                        'xmlns:script:1.0"><script:event-listener script:event-name="dom:load"/>'
                        "</office:event-listeners></office:scripts><office:body>",
                    )
                },
            ),
            id="ods-event-listener",
        ),
    ],
)
def test_macros_are_refused(tmp_path: Path, build: Callable[[Path], Path]) -> None:
    assert rejection(build(tmp_path), SPREADSHEETS) == SHEET_MACROS


def test_a_password_protected_ods_is_refused(tmp_path: Path) -> None:
    manifest = ODS_PARTS["META-INF/manifest.xml"].replace(
        'manifest:media-type="text/xml"/>',
        'manifest:media-type="text/xml"><manifest:encryption-data manifest:checksum="x"/></manifest:file-entry>',
    )
    path = ods(tmp_path, {"META-INF/manifest.xml": manifest, "content.xml": b"\x8f\x01encrypted bytes"})
    assert rejection(path, SPREADSHEETS) == SHEET_PROTECTED


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda tmp_path: xlsx(tmp_path, {"xl/workbook.xml": "<workbook><sheets></workbook>"}), id="bad-xml"
        ),
        pytest.param(
            lambda tmp_path: make_zip(tmp_path / "vide.ods", {"styles.xml": "<a/>"}, mimetype=ODS_MIMETYPE),
            id="ods-without-content",
        ),
        pytest.param(lambda tmp_path: write(tmp_path, "coupe.xlsx", b"PK\x03\x04" + bytes(60)), id="not-a-zip"),
    ],
)
def test_damaged_spreadsheets_are_refused(tmp_path: Path, build: Callable[[Path], Path]) -> None:
    assert rejection(build(tmp_path), SPREADSHEETS) == SHEET_DAMAGED


def test_other_zip_documents_are_not_spreadsheets(tmp_path: Path) -> None:
    odt = make_zip(tmp_path / "lettre.ods", ODS_PARTS, mimetype="application/vnd.oasis.opendocument.text")
    assert rejection(odt, SPREADSHEETS) == NOT_A_SPREADSHEET
    plain = make_zip(tmp_path / "archive.xlsx", {"notes.txt": "bonjour"})
    assert rejection(plain, SPREADSHEETS) == NOT_A_SPREADSHEET


# XLS ---------------------------------------------------------------------------------------------------------

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def ole2(*streams: str) -> bytes:
    return OLE2 + b"".join(name.encode("utf-16-le") + bytes(64 - 2 * len(name)) for name in streams)


def test_xls_is_accepted_by_its_magic_number(tmp_path: Path) -> None:
    path = write(tmp_path, "ancien.xls", ole2("Root Entry", "Workbook", "\x05SummaryInformation"))
    assert inspect_document(path, SPREADSHEETS) == Inspection(DocumentKind.XLS, None)
    assert rejection(path, PDF_ONLY) == NOT_A_PDF


@pytest.mark.parametrize(
    ("streams", "message"),
    [
        (("Root Entry", "Workbook", "_VBA_PROJECT_CUR"), SHEET_MACROS),
        (("Root Entry", "EncryptionInfo", "EncryptedPackage"), SHEET_PROTECTED),
        (("Root Entry", "WordDocument", "1Table"), NOT_A_SPREADSHEET),
    ],
    ids=["macros", "encrypted-xlsx", "word-document"],
)
def test_other_ole2_files_are_refused(tmp_path: Path, streams: tuple[str, ...], message: str) -> None:
    assert rejection(write(tmp_path, "ancien.xls", ole2(*streams)), SPREADSHEETS) == message


# CSV ---------------------------------------------------------------------------------------------------------

CSV_TEXT = "commune;département;population\r\nÉpinal;Vosges;32000\r\nCôte-Saint-André;Isère;5000\r\n"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(CSV_TEXT.encode("utf-8"), id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + CSV_TEXT.encode("utf-8"), id="utf-8-bom"),
        pytest.param(CSV_TEXT.encode("cp1252"), id="cp1252"),
        pytest.param(b'nom,montant\n"Dupont",12\xe2\x82\xac', id="comma-no-final-newline"),
        pytest.param(b"nom\tmontant\rDupont\t12\r", id="tab-old-mac-lines"),
        pytest.param(b"MZone;code\nNord;59\n", id="starts-like-a-dos-program"),
    ],
)
def test_csv_is_accepted(tmp_path: Path, content: bytes) -> None:
    assert inspect_document(write(tmp_path, "liste.csv", content), SPREADSHEETS) == Inspection(DocumentKind.CSV, None)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"nom;montant\nDupont;12\x00\x00\n", id="nul-bytes"),
        pytest.param(b"nom;montant\nDupont;\x1b[31m12\n", id="escape-sequence"),
        pytest.param(b"Madame Monsieur\nVeuillez, trouver; ci-joint", id="no-separator-on-first-line"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(100), id="png"),
    ],
)
def test_text_that_is_not_tabular_is_refused(tmp_path: Path, content: bytes) -> None:
    assert rejection(write(tmp_path, "liste.csv", content), SPREADSHEETS) == NOT_A_SPREADSHEET


def test_utf16_csv_gets_a_helpful_message(tmp_path: Path) -> None:
    path = write(tmp_path, "liste.csv", codecs.BOM_UTF16_LE + CSV_TEXT.encode("utf-16-le"))
    assert rejection(path, SPREADSHEETS) == (
        "Ce fichier CSV est encodé en UTF-16 : enregistrez-le à nouveau au format « CSV UTF-8 »."
    )


def test_a_csv_where_a_pdf_is_expected_is_refused(tmp_path: Path) -> None:
    assert rejection(write(tmp_path, "liste.pdf", CSV_TEXT.encode()), PDF_ONLY) == NOT_A_PDF


# Common ------------------------------------------------------------------------------------------------------


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    assert rejection(write(tmp_path, "vide.pdf", b""), PDF_ONLY) == "Le fichier est vide."


def test_allowed_must_not_be_empty(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allowed"):
        inspect_document(write(tmp_path, "a.pdf", pdf_bytes()), frozenset())


def test_kinds_carry_their_display_metadata() -> None:
    assert [(kind.content_type, kind.extension, kind.label) for kind in DocumentKind] == [
        ("application/pdf", "pdf", "PDF"),
        ("application/vnd.oasis.opendocument.spreadsheet", "ods", "tableur OpenDocument (.ods)"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "tableur Excel (.xlsx)"),
        ("application/vnd.ms-excel", "xls", "tableur Excel 97-2003 (.xls)"),
        ("text/csv", "csv", "fichier CSV (.csv)"),
    ]
    assert frozenset(DocumentKind) == SPREADSHEETS | PDF_ONLY


def test_messages_name_what_is_accepted() -> None:
    assert accepted_formats(PDF_ONLY) == "Seuls les documents PDF sont acceptés."
    assert not_accepted_message(PDF_ONLY | {DocumentKind.CSV}) == (
        "Ce type de fichier n'est pas accepté. Formats acceptés : PDF ou fichier CSV (.csv)."
    )


def test_the_probe_is_a_standalone_script() -> None:
    # It runs as a script in an isolated interpreter: it may import nothing from the application.
    source = Path(inspection.__file__).with_name("_pdf_probe.py").read_text(encoding="utf-8")
    assert "import tracker" not in source
    assert "from tracker" not in source


# display_name ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Délibération 2024.pdf", "Délibération 2024.pdf"),
        ("../../x.pdf", "x.pdf"),
        ("C:\\Users\\moi\\Documents\\convention.pdf", "convention.pdf"),
        ("rapport\x00.exe.pdf", "rapport.exe.pdf"),
        ("facture\u202efdp.exe", "facturefdp.exe"),
        ("a\u2066b\u2069c\u200e\u200fd\ufeff.pdf", "abcd.pdf"),
        ("  liste \t des\n communes  .csv", "liste des communes.csv"),
        ("Cafe\u0301.pdf", "Café.pdf"),
        ('question?"ou":non|<>*.pdf', "question__ou__non____.pdf"),
        ("CON.pdf", "fichier-CON.pdf"),
        ("con", "fichier-con"),
        ("Lpt1.tar.gz", "fichier-Lpt1.tar.gz"),
        ("console.pdf", "console.pdf"),
        ("", "document"),
        ("../..", "document"),
        ("\u202e\x00 \u200b", "document"),
        ("dossier/", "document"),
        (".bashrc", "bashrc"),
        ("nom. ", "nom"),
    ],
)
def test_display_name_cleans_hostile_names(original: str, expected: str) -> None:
    assert display_name(original) == expected


def test_display_name_caps_long_names_and_keeps_the_extension() -> None:
    name = display_name("é" * 300 + ".pdf")
    assert name == "é" * 116 + ".pdf"
    assert len(display_name("x" * 300)) == 120
    assert display_name("a" * 200 + ".extension-bien-trop-longue") == "a" * 120


def test_download_name_matches_the_checked_content() -> None:
    assert download_name("setup.msi", DocumentKind.XLS) == "setup.msi.xls"
    assert download_name("Liste.CSV", DocumentKind.CSV) == "Liste.CSV"
    assert download_name("", DocumentKind.PDF) == "document.pdf"
    assert download_name("x" * 300, DocumentKind.PDF) == "x" * 116 + ".pdf"
