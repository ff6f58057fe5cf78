"""What an uploaded file really is, decided from its content, and whether it is safe to keep.

Pure: no Flask, no database. The caller has already bounded the size of the upload and saved it to a
temporary file; ``inspect_document`` either returns what the file is or raises ``DocumentRejected`` whose
``message`` is a French sentence to show next to the form field. The file name is never trusted: it is
only cleaned for display by ``display_name``; storage keys are random elsewhere.

* PDF: the file must start with ``%PDF-`` (a PDF/HTML polyglot is refused), then pypdf parses it in a child
  process (``_pdf_probe.py``) under a memory and CPU limit, killed after ``time_limit`` seconds. Encrypted,
  damaged, active (JavaScript, launch actions…) or file-carrying PDFs are refused; see the probe's docstring.
* ODS and XLSX (zip archives): the central directory alone is checked first (entry count, declared sizes,
  compression ratio, paths, nested archives); only then are the XML parts streamed, with size caps, through
  defusedxml with DTDs and entities forbidden (billion laughs, external entities).
* XLS (OLE2): recognised by its magic number and a few byte markers only, see ``_inspect_ole2``.
* CSV: decodes as UTF-8 (with or without BOM) or cp1252, no control characters, a separator on line one.
"""

from __future__ import annotations

import codecs
import enum
import json
import math
import os
import re
import subprocess
import sys
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

MiB = 1024 * 1024


class DocumentKind(enum.StrEnum):
    PDF = "pdf"
    ODS = "ods"
    XLSX = "xlsx"
    XLS = "xls"
    CSV = "csv"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]

    @property
    def extension(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        return _LABELS[self]


_CONTENT_TYPES = {
    DocumentKind.PDF: "application/pdf",
    DocumentKind.ODS: "application/vnd.oasis.opendocument.spreadsheet",
    DocumentKind.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    DocumentKind.XLS: "application/vnd.ms-excel",
    DocumentKind.CSV: "text/csv",
}
_LABELS = {
    DocumentKind.PDF: "PDF",
    DocumentKind.ODS: "tableur OpenDocument (.ods)",
    DocumentKind.XLSX: "tableur Excel (.xlsx)",
    DocumentKind.XLS: "tableur Excel 97-2003 (.xls)",
    DocumentKind.CSV: "fichier CSV (.csv)",
}

PDF_ONLY = frozenset({DocumentKind.PDF})
SPREADSHEETS = frozenset({DocumentKind.ODS, DocumentKind.XLSX, DocumentKind.XLS, DocumentKind.CSV})


class DocumentRejected(Exception):
    """The upload is refused; ``message`` is shown to the user next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Inspection:
    kind: DocumentKind
    page_count: int | None  # pages for PDFs, None otherwise


# Messages (French, shown to the user).
EMPTY = "Le fichier est vide."
EXECUTABLE = "Ce fichier est un programme exécutable : il est refusé par sécurité."
HTML = "Ce fichier est une page web (HTML) et non un document : il est refusé par sécurité."
PDF_POLYGLOT = (
    "Ce PDF contient aussi du code de page web (HTML) : il est refusé par sécurité. "
    "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
)
PDF_TIMEOUT = "L'analyse de ce PDF a pris trop de temps : il est peut-être endommagé ou trop complexe."
PDF_FAILED = (
    "L'analyse de ce PDF a échoué : il est peut-être endommagé ou trop volumineux. "
    "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
)
PDF_TOO_COMPLEX = (
    "Ce PDF est trop complexe pour être analysé : exportez-le à nouveau en PDF simple (PDF/A par exemple)."
)
PDF_ENCRYPTED = "Ce PDF est protégé par un mot de passe ou chiffré : déposez une version non protégée."
PDF_DAMAGED = "Ce PDF est endommagé ou incomplet : enregistrez-le à nouveau puis déposez-le une nouvelle fois."
PDF_ACTIVE = (
    "Ce PDF contient du JavaScript ou des actions automatiques : il est refusé par sécurité. "
    "Exportez-le à nouveau en PDF simple (PDF/A par exemple)."
)
PDF_EMBEDDED = (
    "Ce PDF contient des fichiers joints : il est refusé par sécurité. Exportez-le à nouveau sans pièce jointe."
)
SHEET_DAMAGED = (
    "Ce tableur est endommagé ou dans un format non pris en charge : enregistrez-le à nouveau depuis votre tableur."
)
SHEET_TOO_MANY_ENTRIES = "Ce tableur contient trop d'éléments internes (plus de 1 000) : il est refusé par sécurité."
SHEET_TOO_LARGE = "Ce tableur est trop volumineux une fois décompressé (plus de 100 Mo) : il est refusé par sécurité."
SHEET_BOMB = "Ce tableur est anormalement compressé (possible « bombe zip ») : il est refusé par sécurité."
SHEET_SUSPICIOUS_PATHS = "Ce tableur contient des chemins internes suspects : il est refusé par sécurité."
SHEET_NESTED = (
    "Ce tableur contient une archive, un programme ou un objet incorporé : il est refusé par sécurité. "
    "Enregistrez-le à nouveau sans objet incorporé."
)
SHEET_ENTITIES = "Ce tableur contient des déclarations XML interdites (entités) : il est refusé par sécurité."
SHEET_MACROS = (
    "Ce tableur contient des macros ou des liens actifs (DDE) : il est refusé par sécurité. "
    "Enregistrez-le sans macros, au format .xlsx ou .ods."
)
SHEET_PROTECTED = "Ce tableur est protégé par un mot de passe ou chiffré : déposez une version non protégée."
CSV_UTF16 = "Ce fichier CSV est encodé en UTF-16 : enregistrez-le à nouveau au format « CSV UTF-8 »."

_KIND_ORDER = tuple(DocumentKind)


def accepted_formats(allowed: frozenset[DocumentKind]) -> str:
    """The sentence that tells which formats a field accepts, e.g. for its hint."""
    if allowed == PDF_ONLY:
        return "Seuls les documents PDF sont acceptés."
    labels = [kind.label for kind in _KIND_ORDER if kind in allowed]
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " ou " + labels[-1]
    return f"Formats acceptés : {listed}."


def not_accepted_message(allowed: frozenset[DocumentKind]) -> str:
    """For a file of another kind than the field accepts, or of no kind we recognise."""
    if allowed == PDF_ONLY:
        opening = "Ce fichier n'est pas un PDF."
    elif allowed <= SPREADSHEETS:
        opening = "Ce fichier n'est pas un tableur."
    else:
        opening = "Ce type de fichier n'est pas accepté."
    return f"{opening} {accepted_formats(allowed)}"


# Magic numbers.
_PDF_MAGIC = b"%PDF-"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOS_MAGIC = b"MZ"  # Windows PE and DOS programs
_EXECUTABLE_MAGICS = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O, both word sizes and byte orders, and universal binaries
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!/",  # scripts
)
_HTML_MARKERS = (b"<html", b"<script", b"<!doctype", b"<body", b"<iframe", b"<svg")
_SNIFF_WINDOW = 1024


def inspect_document(
    path: Path,
    allowed: frozenset[DocumentKind],
    *,
    time_limit: float = 10.0,
    memory_limit_bytes: int = 512 * MiB,
    max_pdf_objects: int = 200_000,
) -> Inspection:
    """Decide what the file at ``path`` is from its content; raise ``DocumentRejected`` if it may not stay."""
    if not allowed:
        raise ValueError("allowed must name at least one kind")
    if path.stat().st_size == 0:
        raise DocumentRejected(EMPTY)
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_WINDOW)
    lowered_head = head.lower()

    if head.startswith(_PDF_MAGIC):
        # A file that starts as a PDF but also holds markup could be rendered as HTML by a lax browser.
        if any(marker in lowered_head for marker in _HTML_MARKERS):
            raise DocumentRejected(PDF_POLYGLOT)
        if DocumentKind.PDF not in allowed:
            raise DocumentRejected(not_accepted_message(allowed))
        page_count = _probe_pdf(path, time_limit, memory_limit_bytes, max_pdf_objects)
        return Inspection(DocumentKind.PDF, page_count)
    if head.startswith(_ZIP_MAGIC):
        if not allowed & {DocumentKind.ODS, DocumentKind.XLSX}:
            raise DocumentRejected(not_accepted_message(allowed))
        return Inspection(_inspect_zip(path, allowed), None)
    if head.startswith(_OLE2_MAGIC):
        if DocumentKind.XLS not in allowed:
            raise DocumentRejected(not_accepted_message(allowed))
        _inspect_ole2(path, allowed)
        return Inspection(DocumentKind.XLS, None)
    if head.startswith(_EXECUTABLE_MAGICS) or _is_dos_program(head):
        raise DocumentRejected(EXECUTABLE)
    if any(marker in lowered_head for marker in _HTML_MARKERS):
        raise DocumentRejected(HTML)
    if DocumentKind.CSV in allowed:
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise DocumentRejected(CSV_UTF16)
        if _looks_like_csv(path):
            return Inspection(DocumentKind.CSV, None)
    raise DocumentRejected(not_accepted_message(allowed))


def _is_dos_program(head: bytes) -> bool:
    # "MZ" alone could start a text file ("MZone;…"); a DOS header always holds NUL bytes in its first 64.
    return head.startswith(_DOS_MAGIC) and b"\x00" in head[:64]


# PDF --------------------------------------------------------------------------------------------------------

_PDF_PROBE = Path(__file__).with_name("_pdf_probe.py")
_PDF_VERDICT_MESSAGES = {
    "damaged": PDF_DAMAGED,
    "encrypted": PDF_ENCRYPTED,
    "active": PDF_ACTIVE,
    "embedded": PDF_EMBEDDED,
    "too_complex": PDF_TOO_COMPLEX,
    "memory": PDF_FAILED,
}


def _probe_pdf(path: Path, time_limit: float, memory_limit_bytes: int, max_objects: int) -> int:
    """Parse the PDF in a child process; return its page count or raise ``DocumentRejected``."""
    command = [
        sys.executable,
        "-I",  # isolated: no PYTHON* variables, no user site, not the script's folder on sys.path
        str(_PDF_PROBE),
        os.fspath(path.absolute()),
        str(memory_limit_bytes),
        str(math.ceil(time_limit) + 1),
        str(max_objects),
    ]
    try:
        # The child gets no environment: the application's secrets have nothing to do with a parser.
        # On timeout, run() kills the child and waits for it, so nothing is left behind.
        completed = subprocess.run(  # noqa: S603 - fixed interpreter and script, the path is one argument
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=time_limit,
            env={"PATH": os.defpath},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DocumentRejected(PDF_TIMEOUT) from None
    except OSError as error:
        raise DocumentRejected(PDF_FAILED) from error
    try:
        verdict = json.loads(completed.stdout) if completed.returncode == 0 else None
    except ValueError:
        verdict = None
    if not isinstance(verdict, dict):
        raise DocumentRejected(PDF_FAILED)
    outcome = verdict.get("verdict")
    pages = verdict.get("pages")
    if outcome == "ok" and isinstance(pages, int) and not isinstance(pages, bool) and pages >= 1:
        return pages
    raise DocumentRejected(_PDF_VERDICT_MESSAGES.get(outcome, PDF_FAILED) if isinstance(outcome, str) else PDF_FAILED)


# ODS and XLSX -----------------------------------------------------------------------------------------------

ZIP_MAX_ENTRIES = 1000
ZIP_MAX_TOTAL_SIZE = 100 * MiB
ZIP_MAX_RATIO = 100
# Entries smaller than this are not held to the ratio (small repetitive XML compresses well and cannot
# bomb anyone: the total size cap bounds them all together).
ZIP_RATIO_FLOOR = 1 * MiB
XML_MAX_SIZE = 50 * MiB
_CHUNK = 64 * 1024

_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_XML_SUFFIXES = (".xml", ".rels", ".rdf")
# Legacy VML drawings in XLSX are often not well-formed XML: they are only scanned for declarations.
_LOOSE_XML_SUFFIXES = (".vml",)
_NESTED_SUFFIXES = (
    ".zip", ".jar", ".rar", ".7z", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".cab",
    ".exe", ".dll", ".msi", ".scr", ".com", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".jse", ".wsf", ".hta",
    ".lnk", ".sh",
)  # fmt: skip
_NESTED_MAGICS = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x07\x08",
    _OLE2_MAGIC,  # embedded OLE objects (packages can wrap any program)
    b"Rar!",
    b"7z\xbc\xaf\x27\x1c",
    b"\x1f\x8b",
    _DOS_MAGIC,
    *(magic for magic in _EXECUTABLE_MAGICS if magic != b"#!/"),
)
# Compressed vector images (.emz, .wmz, .svgz) are gzip files that office suites do store in documents.
_GZIPPED_IMAGE_SUFFIXES = (".emz", ".wmz", ".svgz")
_MACRO_NAME = re.compile(
    r"(^|/)vbaproject\.bin$|^xl/(macrosheets|dialogsheets|activex)/|^(basic|scripts)/", re.IGNORECASE
)
# Parts read first: their findings (password, macros) explain the file better than a later parse error.
_FIRST_PARTS = ("META-INF/manifest.xml", "[Content_Types].xml")


def _inspect_zip(path: Path, allowed: frozenset[DocumentKind]) -> DocumentKind:
    try:
        with zipfile.ZipFile(path) as archive:
            kind = _check_directory(archive, allowed)
            _check_parts(archive, kind)
            return kind
    except DocumentRejected:
        raise
    # RuntimeError and ValueError: zipfile's "encrypted entry" and "bad header" cases.
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError) as error:
        raise DocumentRejected(SHEET_DAMAGED) from error


def _is_unsafe_name(name: str) -> bool:
    unified = name.replace("\\", "/")
    return (
        "\x00" in name
        or unified.startswith("/")
        or re.match(r"^[A-Za-z]:", unified) is not None
        or ".." in unified.split("/")
    )


def _check_directory(archive: zipfile.ZipFile, allowed: frozenset[DocumentKind]) -> DocumentKind:
    """Everything decided from the central directory alone, before a byte is decompressed."""
    entries = archive.infolist()
    if len(entries) > ZIP_MAX_ENTRIES:
        raise DocumentRejected(SHEET_TOO_MANY_ENTRIES)
    names = [entry.filename for entry in entries]
    if len(set(names)) != len(names) or any(_is_unsafe_name(name) for name in names):
        raise DocumentRejected(SHEET_SUSPICIOUS_PATHS)
    if any(entry.flag_bits & 0x1 for entry in entries):
        raise DocumentRejected(SHEET_PROTECTED)
    if any(entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for entry in entries):
        raise DocumentRejected(SHEET_DAMAGED)
    for entry in entries:
        if entry.file_size > ZIP_RATIO_FLOOR and entry.file_size > ZIP_MAX_RATIO * max(entry.compress_size, 1):
            raise DocumentRejected(SHEET_BOMB)
    if sum(entry.file_size for entry in entries) > ZIP_MAX_TOTAL_SIZE:
        raise DocumentRejected(SHEET_TOO_LARGE)
    if any(name.lower().endswith(_NESTED_SUFFIXES) for name in names):
        raise DocumentRejected(SHEET_NESTED)

    kind = _zip_kind(archive, set(names))
    if kind is None or kind not in allowed:
        raise DocumentRejected(not_accepted_message(allowed))
    if any(_MACRO_NAME.search(name) for name in names):
        raise DocumentRejected(SHEET_MACROS)
    return kind


def _zip_kind(archive: zipfile.ZipFile, names: set[str]) -> DocumentKind | None:
    if "mimetype" in names:
        entry = archive.getinfo("mimetype")
        # A few bytes of slack tolerate a trailing newline; a long entry is not worth reading.
        is_ods = (
            entry.file_size <= len(_ODS_MIMETYPE) + 2 and b"".join(_read_entry(archive, entry)).strip() == _ODS_MIMETYPE
        )
        return DocumentKind.ODS if is_ods else None
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        return DocumentKind.XLSX
    return None


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Iterator[bytes]:
    """Stream an entry, never more bytes than its declared size nor than ``XML_MAX_SIZE``."""
    if entry.file_size > XML_MAX_SIZE:
        raise DocumentRejected(SHEET_TOO_LARGE)
    produced = 0
    with archive.open(entry) as stream:
        while chunk := stream.read(_CHUNK):
            produced += len(chunk)
            if produced > entry.file_size:
                raise DocumentRejected(SHEET_BOMB)
            yield chunk


class _XmlFindings:
    """A parser target that keeps no tree, only notes the elements that matter for safety."""

    def __init__(self) -> None:
        self.macros = False
        self.protected = False

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        local = tag.rpartition("}")[2]
        if local in ("ddeLink", "event-listener"):  # XLSX DDE links, ODF macro bindings
            self.macros = True
        elif local == "encryption-data":  # ODF manifest of a password-protected document
            self.protected = True
        elif local in ("Override", "Default"):
            content_type = attributes.get("ContentType", "").lower()
            if "macroenabled" in content_type or "vbaproject" in content_type:
                self.macros = True

    def close(self) -> None:
        return None


def _check_parts(archive: zipfile.ZipFile, kind: DocumentKind) -> None:
    """Sniff every entry for embedded archives or programs, then parse every XML part safely."""
    entries = [entry for entry in archive.infolist() if not entry.is_dir()]
    if kind is DocumentKind.ODS and "content.xml" not in archive.namelist():
        raise DocumentRejected(SHEET_DAMAGED)
    entries.sort(key=lambda entry: entry.filename not in _FIRST_PARTS)
    for entry in entries:
        with archive.open(entry) as stream:
            magic = stream.read(8)
        if magic.startswith(_NESTED_MAGICS) and not (
            magic.startswith(b"\x1f\x8b") and entry.filename.lower().endswith(_GZIPPED_IMAGE_SUFFIXES)
        ):
            raise DocumentRejected(SHEET_NESTED)
    for entry in entries:
        lowered = entry.filename.lower()
        if lowered.endswith(_XML_SUFFIXES):
            findings = _parse_xml(archive, entry)
            if findings.protected:
                raise DocumentRejected(SHEET_PROTECTED)
            if findings.macros:
                raise DocumentRejected(SHEET_MACROS)
        elif lowered.endswith(_LOOSE_XML_SUFFIXES):
            _scan_for_declarations(archive, entry)


def _parse_xml(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> _XmlFindings:
    findings = _XmlFindings()
    parser = DefusedXMLParser(target=findings, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        for chunk in _read_entry(archive, entry):
            parser.feed(chunk)
        parser.close()
    except DefusedXmlException as error:
        raise DocumentRejected(SHEET_ENTITIES) from error
    except ParseError as error:
        raise DocumentRejected(SHEET_DAMAGED) from error
    return findings


_DECLARATION = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)


def _scan_for_declarations(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    tail = b""
    for chunk in _read_entry(archive, entry):
        window = tail + chunk
        if _DECLARATION.search(window):
            raise DocumentRejected(SHEET_ENTITIES)
        tail = window[-16:]


# XLS --------------------------------------------------------------------------------------------------------

# XLS is accepted by its OLE2 magic number and a few byte markers, without an OLE2/BIFF parser: there is no
# maintained parser we would trust with hostile input, and the file is only stored, inert, and always
# downloaded as an attachment, never opened by the server. The markers are directory entry names (UTF-16LE):
# an Excel workbook has a "Workbook" (BIFF8) or "Book" (BIFF5) stream, which a Word file, an MSI installer or
# another OLE2 container has not; "_VBA_PROJECT_CUR" means macros; "EncryptedPackage" is a password-protected
# XLSX, which is an OLE2 file too.
_OLE2_WORKBOOK_MARKERS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))
_OLE2_MACRO_MARKER = "_VBA_PROJECT_CUR".encode("utf-16-le")
_OLE2_ENCRYPTED_MARKER = "EncryptedPackage".encode("utf-16-le")


def _inspect_ole2(path: Path, allowed: frozenset[DocumentKind]) -> None:
    found = _find_markers(path, (*_OLE2_WORKBOOK_MARKERS, _OLE2_MACRO_MARKER, _OLE2_ENCRYPTED_MARKER))
    if _OLE2_ENCRYPTED_MARKER in found:
        raise DocumentRejected(SHEET_PROTECTED)
    if _OLE2_MACRO_MARKER in found:
        raise DocumentRejected(SHEET_MACROS)
    if not found & set(_OLE2_WORKBOOK_MARKERS):
        raise DocumentRejected(not_accepted_message(allowed))


def _find_markers(path: Path, markers: tuple[bytes, ...]) -> set[bytes]:
    overlap = max(len(marker) for marker in markers) - 1
    found: set[bytes] = set()
    tail = b""
    with path.open("rb") as stream:
        while chunk := stream.read(MiB):
            window = tail + chunk
            found.update(marker for marker in markers if marker in window)
            tail = window[-overlap:]
    return found


# CSV --------------------------------------------------------------------------------------------------------

_CSV_ENCODINGS = ("utf-8-sig", "cp1252")
_CSV_SEPARATORS = (";", ",", "\t")
# Control characters other than tab, line feed and carriage return, including C1 (U+0080 to U+009F).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _looks_like_csv(path: Path) -> bool:
    for encoding in _CSV_ENCODINGS:
        verdict = _check_text(path, encoding)
        if verdict is not None:
            return verdict
    return False


def _check_text(path: Path, encoding: str) -> bool | None:
    """True if tabular text, False if text but not CSV, None if it does not decode in this encoding."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    first_line: str | None = None
    pending = ""
    try:
        with path.open("rb") as stream:
            while True:
                chunk = stream.read(_CHUNK)
                text = decoder.decode(chunk, final=not chunk)
                if _CONTROL.search(text):
                    return False
                if first_line is None:
                    pending += text
                    if "\n" in pending or "\r" in pending or not chunk:
                        first_line = re.split(r"[\r\n]", pending, maxsplit=1)[0]
                        pending = ""
                if not chunk:
                    break
    except UnicodeDecodeError:
        return None
    return any(separator in (first_line or "") for separator in _CSV_SEPARATORS)


# Display names ----------------------------------------------------------------------------------------------

DISPLAY_NAME_MAX_LENGTH = 120
_MAX_EXTENSION_LENGTH = 10
_FALLBACK_NAME = "document"
# Characters Windows refuses in file names (the download would be renamed anyway) and quotes.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # controls, format (bidi…), surrogates…
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{suffix}" for device in ("COM", "LPT") for suffix in (*"123456789", "¹", "²", "³")}
)


def display_name(original: str) -> str:
    """A safe name to show and to offer in ``Content-Disposition``; never used to store anything."""
    name = unicodedata.normalize("NFC", original or "")
    name = re.split(r"[/\\]", name)[-1]
    cleaned = []
    for character in name:
        if character.isspace():
            cleaned.append(" ")
        elif unicodedata.category(character) not in _REMOVED_CATEGORIES:
            cleaned.append(character)
    name = _WINDOWS_FORBIDDEN.sub("_", "".join(cleaned))
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    # Windows drops trailing dots and spaces; a leading dot hides the file on Unix.
    name = name.strip(" .")
    if not name:
        return _FALLBACK_NAME
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_LENGTH or " " in extension:
        stem, extension = name, ""
    if stem.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        stem = f"fichier-{stem}"
    suffix = f".{extension}" if extension else ""
    stem = stem[: DISPLAY_NAME_MAX_LENGTH - len(suffix)].rstrip(" .") or _FALLBACK_NAME
    return unicodedata.normalize("NFC", stem + suffix)


def download_name(original: str, kind: DocumentKind) -> str:
    """``display_name`` whose extension matches the checked content (``setup.msi`` as XLS → ``setup.msi.xls``),
    so that the user's system opens the download with the right program."""
    name = display_name(original)
    if name.lower().endswith(f".{kind.extension}"):
        return name
    suffix = f".{kind.extension}"
    return name[: DISPLAY_NAME_MAX_LENGTH - len(suffix)].rstrip(" .") + suffix
