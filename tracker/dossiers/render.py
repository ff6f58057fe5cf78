"""A dossier's content as HTML (Jinja, autoescaped) and as PDF (WeasyPrint, in a child process).

The PDF is rendered by one long-lived child process per application process (``pdf_engine.py``), started on
first use: WeasyPrint's import and its font set-up are paid once, and a rendering that outlives its time
limit is stopped by killing the child (a thread cannot be stopped), the next rendering starting a new one.
Renderings of one application process take turns on its child.

What the dossier may load is locked down twice: the template escapes every value of the request (a field
holding ``<img src="file:///etc/passwd">`` is printed, never interpreted), and the child's URL fetcher serves
only the app's own static files. The uploaded documents travel inside the PDF as attachments, with
``dossier.json``; the dossier's pages list each of them with its size and SHA-256.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from functools import cached_property
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from tracker import TEMPLATES_DIRECTORY
from tracker.documents.storage import Storage
from tracker.dossiers import DOSSIER_JSON_NAME
from tracker.dossiers.content import DossierContent, format_date, format_datetime
from tracker.templating import file_size

logger = logging.getLogger(__name__)

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
STYLESHEET = "dossier/print.css"
# Run as a script, never imported here: it imports WeasyPrint, which the application process does without.
ENGINE_SCRIPT = Path(__file__).resolve().with_name("pdf_engine.py")
# The framing of pdf_engine's messages: an 8-byte big-endian length, then the payload.
FRAME_HEADER = struct.Struct(">Q")
# A dossier of a few dozen pages renders in a few seconds on a busy machine; a rendering that takes much
# longer is stuck, not slow.
DEFAULT_TIMEOUT = 30.0
# Starting the child (Python, WeasyPrint, a first rendering to load the fonts) is not the rendering's time.
STARTUP_TIMEOUT = 60.0
READ_CHUNK = 1024 * 1024
DOSSIER_JSON_DESCRIPTION = "Données de la demande, lisibles par machine (JSON)"


class DossierRenderError(RuntimeError):
    """The dossier could not be rendered; the message says why, in French."""


class DossierRenderTimeout(DossierRenderError):
    """The rendering took longer than its time limit and was stopped."""


@dataclass(frozen=True)
class Annex:
    """An uploaded document attached to the dossier, under ``name``."""

    name: str
    data: bytes
    description: str = ""

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class RenderedPdf:
    """The PDF, and what the fetcher served and refused while rendering it (for logs and tests)."""

    pdf: bytes
    fetched: tuple[str, ...]
    refused: tuple[str, ...]
    messages: tuple[str, ...]


# --- HTML ---------------------------------------------------------------------------------------------


def _hash(value: str | None) -> Markup:
    """A SHA-256 that may break in its middle only, so that it never overflows its cell."""
    if not value:
        return Markup("—")
    half = len(value) // 2
    return Markup('<span class="hash">{}<wbr>{}</span>').format(value[:half], value[half:])


_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIRECTORY / "dossiers")),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(datetime_fr=format_datetime, date_fr=format_date, file_size=file_size, hash=_hash)


def qr_code_svg(url: str) -> Markup:
    """The verification address as a QR code, inline SVG drawn from our own data (nothing to fetch)."""
    code = segno.make(url, error="m")
    # segno writes only path data here (no title, no text): nothing of the URL ends up as markup.
    return Markup(code.svg_inline(scale=1, border=0, omitsize=True, dark="#161616", svgclass="qr-code"))  # noqa: S704


def render_html(content: DossierContent, *, watermark: bool) -> str:
    """The dossier as one HTML document; ``watermark`` prints « Brouillon » across every page."""
    return _render_html(content, watermark=watermark, dossier_json=content.json_bytes())


def _render_html(content: DossierContent, *, watermark: bool, dossier_json: bytes) -> str:
    return _environment.get_template("dossier.html").render(
        content=content,
        watermark=watermark,
        stylesheet=STYLESHEET,
        qr_code=qr_code_svg(content.verification_url),
        dossier_json_name=DOSSIER_JSON_NAME,
        dossier_json_size=len(dossier_json),
        dossier_json_sha256=hashlib.sha256(dossier_json).hexdigest(),
    )


# --- PDF ----------------------------------------------------------------------------------------------


def annexes_from_storage(content: DossierContent, storage: Storage) -> list[Annex]:
    """The bytes of every document the dossier lists as attached, checked against their SHA-256."""
    annexes = []
    for document in content.attached_documents:
        assert document.storage_key is not None and document.annex_name is not None
        try:
            with storage.open(document.storage_key) as stream:
                data = stream.read()
        except OSError as error:
            raise DossierRenderError(f"Le document « {document.name} » est introuvable dans le stockage.") from error
        annex = Annex(document.annex_name, data, document.description)
        if annex.sha256 != document.sha256:
            raise DossierRenderError(
                f"Le document « {document.name} » stocké ne correspond plus à son empreinte SHA-256 : "
                "le dossier n'est pas produit."
            )
        annexes.append(annex)
    return annexes


def _check_annexes(content: DossierContent, annexes: Sequence[Annex]) -> None:
    """The pages list the attachments: the PDF must carry exactly those, byte for byte."""
    expected = {document.annex_name: document.sha256 for document in content.attached_documents}
    given = {annex.name: annex.sha256 for annex in annexes}
    if len(given) != len(annexes) or given != expected:
        raise ValueError(
            "Les annexes fournies ne sont pas celles que le dossier liste : "
            f"attendues {sorted(expected)}, reçues {sorted(a.name for a in annexes)}."
        )


def render_dossier(
    content: DossierContent, *, annexes: Sequence[Annex], watermark: bool, timeout: float = DEFAULT_TIMEOUT
) -> RenderedPdf:
    """The PDF with its attachments (the annexes, then ``dossier.json``), rendered within ``timeout``
    seconds or stopped (``DossierRenderTimeout``)."""
    _check_annexes(content, annexes)
    dossier_json = content.json_bytes()
    html = _render_html(content, watermark=watermark, dossier_json=dossier_json)
    descriptions = {document.annex_name: document.description for document in content.attached_documents}
    attachments = [(annex.name, annex.description or descriptions[annex.name], annex.data) for annex in annexes]
    attachments.append((DOSSIER_JSON_NAME, DOSSIER_JSON_DESCRIPTION, dossier_json))
    # WeasyPrint writes the attachments' dates with a « Z » as they come: give them in UTC.
    created = content.generated_at.astimezone(UTC).isoformat()
    rendered = _engine.render(html, attachments, created=created, timeout=timeout)
    for message in rendered.messages:
        logger.debug("dossier %s: WeasyPrint: %s", content.request_number, message)
    if rendered.refused:
        # Nothing outside the static files was fetched; that something asked is worth knowing (SECURITY §E).
        logger.warning("dossier %s: resources refused: %s", content.request_number, list(rendered.refused))
    return rendered


def render_pdf(
    content: DossierContent, *, annexes: Sequence[Annex], watermark: bool, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    return render_dossier(content, annexes=annexes, watermark=watermark, timeout=timeout).pdf


# --- the child process --------------------------------------------------------------------------------


class _Expired(Exception):
    pass


class _Engine:
    """One child process rendering PDFs, started on demand and replaced when killed or dead."""

    def __init__(self, static_root: Path, stylesheet: str) -> None:
        self.static_root = static_root
        self.stylesheet = stylesheet
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._inherited: list[subprocess.Popen[bytes]] = []

    def after_fork(self) -> None:
        """In a process forked from ours (a server's workers): the child process is the parent's. Let go of
        our copies of its pipes (so that it still sees the end of its input when the parent stops it) and
        start a child of our own when needed."""
        self._lock = threading.Lock()
        process, self._process = self._process, None
        if process is not None:
            self._close_pipes(process)
            # Kept, never waited for: it is not ours to reap.
            self._inherited.append(process)

    @property
    def pid(self) -> int | None:
        """The running child's process id (None when there is none)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self) -> None:
        with self._lock:
            self._running()

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def render(
        self, html: str, attachments: list[tuple[str, str, bytes]], *, created: str, timeout: float
    ) -> RenderedPdf:
        header = json.dumps(
            {
                "html": html,
                "created": created,
                "attachments": [{"name": name, "description": description} for name, description, _ in attachments],
            }
        ).encode()
        if not self._lock.acquire(timeout=timeout):
            raise DossierRenderTimeout(
                f"Le moteur de rendu est resté occupé plus de {timeout:g} s par un autre dossier : réessayez."
            )
        try:
            process = self._running()
            deadline = time.monotonic() + timeout
            try:
                self._send(process, [header, *(data for _, _, data in attachments)], deadline)
                answer: dict[str, Any] = json.loads(self._receive(process, deadline))
                pdf = self._receive(process, deadline)
            except _Expired:
                self._kill()
                raise DossierRenderTimeout(
                    f"Le rendu du dossier a dépassé {timeout:g} s : il a été interrompu."
                ) from None
            except (OSError, ValueError) as error:
                self._kill()
                raise DossierRenderError(f"Le moteur de rendu s'est arrêté pendant le rendu ({error}).") from error
        finally:
            self._lock.release()
        if not answer["ok"]:
            raise DossierRenderError(f"Le rendu du dossier a échoué : {answer['error']}")
        return RenderedPdf(
            pdf=pdf,
            fetched=tuple(answer["fetched"]),
            refused=tuple(answer["refused"]),
            messages=tuple(answer["messages"]),
        )

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        # -I: the child sees neither PYTHON* variables nor the current directory, only the interpreter's
        # own packages; its own session, so that a Ctrl-C meant for the server does not reach it.
        process = subprocess.Popen(  # noqa: S603 - our interpreter and our script, no shell
            [sys.executable, "-I", str(ENGINE_SCRIPT), str(self.static_root), self.stylesheet],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdin is not None and process.stdout is not None
        os.set_blocking(process.stdin.fileno(), False)
        os.set_blocking(process.stdout.fileno(), False)
        self._process = process
        try:
            ready = json.loads(self._receive(process, time.monotonic() + STARTUP_TIMEOUT))
        except (_Expired, OSError, ValueError) as error:
            self._kill()
            raise DossierRenderError("Le moteur de rendu des dossiers n'a pas pu démarrer.") from error
        if not ready.get("ready"):
            self._kill()
            raise DossierRenderError("Le moteur de rendu des dossiers n'a pas pu démarrer.")
        return process

    @staticmethod
    def _send(process: subprocess.Popen[bytes], payloads: list[bytes], deadline: float) -> None:
        assert process.stdin is not None
        descriptor = process.stdin.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_WRITE)
            for payload in payloads:
                for part in (FRAME_HEADER.pack(len(payload)), payload):
                    view = memoryview(part)
                    while view:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise _Expired
                        if not selector.select(remaining):
                            continue
                        try:
                            written = os.write(descriptor, view)
                        except BlockingIOError:
                            continue
                        view = view[written:]

    @staticmethod
    def _read_exactly(process: subprocess.Popen[bytes], size: int, deadline: float) -> bytes:
        assert process.stdout is not None
        descriptor = process.stdout.fileno()
        chunks, missing = [], size
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while missing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Expired
                if not selector.select(remaining):
                    continue
                try:
                    chunk = os.read(descriptor, min(missing, READ_CHUNK))
                except BlockingIOError:
                    continue
                if not chunk:
                    raise EOFError("fin inattendue de la sortie du moteur de rendu")
                chunks.append(chunk)
                missing -= len(chunk)
        return b"".join(chunks)

    def _receive(self, process: subprocess.Popen[bytes], deadline: float) -> bytes:
        (length,) = FRAME_HEADER.unpack(self._read_exactly(process, FRAME_HEADER.size, deadline))
        return self._read_exactly(process, length, deadline)

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
        self._close_pipes(process)

    def _stop(self) -> None:
        """Let the child finish on end of input; kill it if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        self._close_pipes(process)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @staticmethod
    def _close_pipes(process: subprocess.Popen[bytes]) -> None:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


_engine = _Engine(STATIC_ROOT, STYLESHEET)
atexit.register(_engine.stop)
os.register_at_fork(after_in_child=_engine.after_fork)


def start_engine() -> None:
    """Start the rendering process now rather than at the first dossier (a worker may call it at start)."""
    _engine.start()


def stop_engine() -> None:
    _engine.stop()


def engine_pid() -> int | None:
    return _engine.pid
