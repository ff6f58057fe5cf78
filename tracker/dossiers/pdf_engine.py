"""The child process that turns a dossier's HTML into PDF with WeasyPrint.

Run only by ``tracker.dossiers.render`` as a script (``python -I <this file> STATIC_ROOT STYLESHEET``), never imported
by the application: it imports nothing but WeasyPrint and the standard library, so it starts without Flask
or the models, pays WeasyPrint's import and font set-up once, then renders one job after another for as long
as its parent keeps it. The parent kills it when a rendering outlives its time limit, and starts a new one.

Protocol, on stdin and stdout, each message a frame (8-byte big-endian length, then the payload):

* on start, the child sends ``{"ready": true, "weasyprint": "<version>"}``;
* a job is a JSON header ``{"html": str, "created": ISO 8601, "attachments": [{"name", "description"}]}``
  followed by one frame per attachment holding its bytes;
* the answer is a JSON header ``{"ok": bool, "error": str | null, "fetched": [url], "refused": [url],
  "messages": [str]}`` followed by one frame holding the PDF (empty when ``ok`` is false).

No pickle crosses the pipe: the parent reads only lengths, JSON and bytes.

Every resource WeasyPrint asks for goes through ``StaticFilesOnly``: a file of the app's own static folder
(the stylesheet, the Marianne fonts) or nothing. ``file://`` elsewhere, any host over http(s), ``data:`` URLs
and every other scheme are refused and reported back, so that the parent can log them.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import os
import struct
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pydyf
from weasyprint import HTML, Attachment, __version__
from weasyprint.urls import URLFetcher, URLFetcherResponse

FRAME_HEADER = struct.Struct(">Q")
# What the dossier's own static files can be: its stylesheet and its fonts (and images, should it get any).
SERVED_TYPES = {
    ".css": "text/css",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class Refused(ValueError):
    """A resource outside the static folder: WeasyPrint logs it and renders without it."""


class StaticFilesOnly(URLFetcher):
    """Serves files under ``root`` (symbolic links and ``..`` resolved first), refuses everything else.

    Keeps the bytes of what it served: static files do not change while the app runs, and the stylesheet
    and fonts are asked for by every rendering.
    """

    _cache: dict[tuple[Path, int], bytes] = {}

    def __init__(self, root: Path) -> None:
        # No protocol at all for the stock opener: ``fetch`` below never calls it.
        super().__init__(allowed_protocols=(), allow_redirects=False)
        self.root = root.resolve()
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def local_path(self, url: str) -> Path | None:
        """The static file ``url`` names, or None when it names anything else."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost") or parts.query:
            return None
        try:
            path = Path(url2pathname(unquote(parts.path))).resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            return None
        if not path.is_relative_to(self.root) or not path.is_file() or path.suffix.lower() not in SERVED_TYPES:
            return None
        return path

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        path = self.local_path(url)
        if path is None:
            self.refused.append(url)
            raise Refused(f"Ressource refusée (hors des fichiers statiques de l'application) : {url[:200]}")
        self.fetched.append(url)
        key = (path, path.stat().st_mtime_ns)
        body = self._cache.get(key)
        if body is None:
            body = self._cache[key] = path.read_bytes()
        content_type = SERVED_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        return URLFetcherResponse(path.as_uri(), body, {"Content-Type": content_type})


class _Messages(logging.Handler):
    """WeasyPrint's warnings and errors for one rendering, sent back to the parent instead of stderr."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:500])


def unicode_file_names(_document: Any, pdf: pydyf.PDF) -> None:
    """WeasyPrint writes an attachment's ``/F`` (also its key in the name tree: the same object) as UTF-8
    bytes, which readers decode as PDFDocEncoding (« DÃ©libÃ©ration.pdf »). Write it as a PDF text string,
    like its ``/UF``, so that every reader shows the name that was uploaded."""
    for item in pdf.objects:
        if (
            isinstance(item, pydyf.Dictionary)
            and item.get("Type") == "/Filespec"
            and isinstance(item.get("F"), pydyf.String)
            and isinstance(item.get("UF"), pydyf.String)
        ):
            item["F"].string = item["UF"].string


def render(
    html: str, *, static_root: Path, attachments: list[tuple[str, str, bytes]], created: datetime
) -> tuple[bytes, StaticFilesOnly]:
    """One dossier: the PDF and the fetcher (what it served and what it refused). The attachments'
    dates are the dossier's, so that the same dossier gives the same bytes."""
    fetcher = StaticFilesOnly(static_root)
    # fontTools stamps each embedded font subset with the time it is written, unless told the time of the
    # build (reproducible-builds.org): the dossier's, so that the same dossier gives the same bytes.
    os.environ["SOURCE_DATE_EPOCH"] = str(int(created.timestamp()))
    document = HTML(string=html, base_url=static_root.resolve().as_uri() + "/", url_fetcher=fetcher)
    pdf = document.write_pdf(
        attachments=[
            Attachment(
                string=data,
                name=name,
                description=description,
                created=created,
                modified=created,
                url_fetcher=fetcher,
                relationship="Supplement",
            )
            for name, description, data in attachments
        ],
        # Derived from the content: the same dossier keeps the same identifier.
        pdf_identifier=True,
        finisher=unicode_file_names,
    )
    return pdf, fetcher


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    return payload


def write_frames(stream: BinaryIO, *payloads: bytes) -> None:
    for payload in payloads:
        stream.write(FRAME_HEADER.pack(len(payload)))
        stream.write(payload)
    stream.flush()


def _answer(job: dict[str, Any], attachments: list[bytes], static_root: Path) -> tuple[dict[str, Any], bytes]:
    messages = _Messages()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(messages)
    try:
        pdf, fetcher = render(
            job["html"],
            static_root=static_root,
            attachments=[
                (str(item["name"]), str(item.get("description") or ""), data)
                for item, data in zip(job["attachments"], attachments, strict=True)
            ],
            created=datetime.fromisoformat(job["created"]),
        )
    except Exception as error:  # reported to the parent, which raises it there
        return {"ok": False, "error": f"{type(error).__name__}: {error}", "messages": messages.messages}, b""
    finally:
        logger.removeHandler(messages)
    return {
        "ok": True,
        "error": None,
        "fetched": fetcher.fetched,
        "refused": fetcher.refused,
        "messages": messages.messages,
    }, pdf


def serve(static_root: Path, stylesheet: str, requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer jobs until the parent closes the pipe. ``stylesheet``: the dossiers' stylesheet, relative to
    the static folder, rendered once before the first job (Pango, fontconfig and the fonts get loaded)."""
    logger = logging.getLogger("weasyprint")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    warm_up = f'<html lang="fr"><link rel="stylesheet" href="{stylesheet}"><p>Habilitations <b>DGFiP</b></p>'
    render(warm_up, static_root=static_root, attachments=[], created=datetime.now().astimezone())
    write_frames(answers, json.dumps({"ready": True, "weasyprint": __version__}).encode())
    while (header := read_frame(requests)) is not None:
        job = json.loads(header)
        attachments = [read_frame(requests) for _ in job["attachments"]]
        if any(data is None for data in attachments):
            return
        answer, pdf = _answer(job, attachments, static_root)  # type: ignore[arg-type]
        write_frames(answers, json.dumps(answer).encode(), pdf)


def main() -> None:
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    # Nothing but frames may reach the parent on stdout: a stray print goes to stderr.
    sys.stdout = sys.stderr
    sys.stdin = io.StringIO()
    serve(Path(sys.argv[1]), sys.argv[2], requests, answers)


if __name__ == "__main__":
    main()
