"""Benchmark of the signed PDF dossiers against PERFORMANCE.md: a typical dossier cold and warm, its peak
memory, the ratio to bare WeasyPrint rendering the same HTML, the dossier with its two PDF annexes and its
signature, and a dossier already generated for the same content served from storage.

    .venv/bin/python benchmarks/dossier.py [--runs 10]

It builds its own data in a temporary directory (a SQLite database with the demo's requests and uploads, a
signing key), so it needs nothing but `make assets` (the Marianne fonts) and the Debian libraries of
WeasyPrint (`make system`). Exits 1 only on a gross regression (a median beyond five times its target).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from tracker import create_app
from tracker.db import db
from tracker.demo import seed
from tracker.dossiers import DOSSIER_JSON_NAME, snapshots
from tracker.dossiers.content import DossierContent, DossierKind, build_content
from tracker.dossiers.pdf_engine import render as bare_render
from tracker.dossiers.render import STATIC_ROOT, Annex, annexes_from_storage, engine_pid, render_html, render_pdf
from tracker.dossiers.render import stop_engine as stop_renderer
from tracker.dossiers.signing import configured_signing_key, sign_pdf
from tracker.habilitations.models import HabilitationRequest
from tracker.migrate import upgrade

GROSS_REGRESSION = 5


@dataclass(frozen=True)
class Figure:
    scenario: str
    target: str
    target_seconds: float
    samples: list[float]
    ratio: str = "—"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _timed(function: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def _peak_rss_mb(pid: int | None) -> float | None:
    """The renderer's high-water mark of resident memory (Linux)."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _app(directory: Path) -> Flask:
    database = directory / "bench.sqlite3"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "DOCUMENTS_DIRECTORY": str(directory / "documents"),
            "DOSSIERS_DIRECTORY": str(directory / "dossiers"),
            "DOSSIER_SIGNING_KEY": str(directory / "signing" / "key.pem"),
            "DOSSIER_SIGNING_CERT": str(directory / "signing" / "cert.pem"),
            "DOSSIER_SIGNING_GENERATE_MISSING": True,
            "DOSSIERS_IN_PROCESS": False,
            "BASE_URL": "https://habilitations.exemple.fr",
        }
    )
    upgrade(f"sqlite:///{database}")
    return app


def _typical_request() -> HabilitationRequest:
    """The demo's approved sandbox request whose hébergeur uploaded two certificates (two PDF annexes)."""
    for request in db.session.scalars(select(HabilitationRequest).order_by(HabilitationRequest.id)):
        content = build_content(
            db.session, request, kind=DossierKind.CURRENT, generated_at=_now(), verification_url="x"
        )
        if len(content.attached_documents) >= 2:
            return request
    raise SystemExit("Aucune demande de démonstration n'a deux pièces jointes.")


def _now() -> datetime:
    return datetime.now(UTC)


def _bare(content: DossierContent, annexes: list[Annex]) -> bytes:
    """WeasyPrint alone, in this process, on the same HTML, fetcher and attachments."""
    html = render_html(content, watermark=False)
    attachments = [(annex.name, annex.description, annex.data) for annex in annexes]
    attachments.append((DOSSIER_JSON_NAME, "Données de la demande", content.json_bytes()))
    pdf, _fetcher = bare_render(html, static_root=STATIC_ROOT, attachments=attachments, created=content.generated_at)
    return pdf


def measure(runs: int) -> tuple[list[Figure], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-dossier-") as temporary:
        app = _app(Path(temporary))
        with app.app_context():
            seed(db.session, "Mot de passe du banc d'essai 2026")
            db.session.commit()
            documents = app.extensions["tracker_storage"]
            request = _typical_request()
            content = build_content(
                db.session, request, kind=DossierKind.CURRENT, generated_at=_now(), verification_url="https://x/v"
            )
            annexes = annexes_from_storage(content, documents)
            key = configured_signing_key(app.config)

            def render() -> bytes:
                return render_pdf(content, annexes=annexes, watermark=False)

            stop_renderer()
            cold = _timed(render, 1)
            pages = PdfReader(io.BytesIO(render())).pages
            warm = _timed(render, runs)
            _bare(content, annexes)  # WeasyPrint's own first run (imports, fonts) is not what is compared
            bare = _timed(lambda: _bare(content, annexes), runs)
            memory = _peak_rss_mb(engine_pid())

            def render_and_sign() -> bytes:
                return sign_pdf(render(), key, reason="Banc d'essai")

            signed = _timed(render_and_sign, runs)

            stored = snapshots.current_dossier(db.session, request, requested_by_id=None)
            db.session.commit()
            snapshots.generate_pending(db.session, documents)

            def served() -> bytes:
                dossier = snapshots.current_dossier(db.session, request, requested_by_id=None)
                assert dossier.id == stored.id and dossier.is_ready, "the stored dossier is served"
                data = snapshots.stored_pdf(dossier)
                db.session.rollback()
                return data

            served()
            from_storage = _timed(served, runs)
            stop_renderer()

    ratio = statistics.median(warm) / statistics.median(bare)
    page_count = len(pages)
    figures = [
        Figure("Dossier à froid (démarrage du moteur + 1er rendu)", "≤ 2 s", 2.0, cold, note=f"{page_count} pages"),
        Figure(
            "Dossier à chaud",
            "≤ 1,0 s",
            1.0,
            warm,
            ratio=f"{ratio:.2f} (cible ≤ 1,2)",
            note=f"{statistics.median(warm) / page_count * 1000:.0f} ms/page ; mémoire max. du moteur "
            + (f"{memory:.0f} Mo (cible ≤ 150)" if memory else "inconnue"),
        ),
        Figure("WeasyPrint seul, même HTML (référence)", "—", 1.0, bare),
        Figure("Dossier + 2 PDF joints + signature", "≤ 1,5 s", 1.5, signed),
        Figure("Dossier déjà généré, même contenu (stockage)", "≤ 20 ms", 0.020, from_storage),
    ]
    versions = {
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "SQLAlchemy": version("sqlalchemy"),
        "WeasyPrint": version("weasyprint"),
        "pyHanko": version("pyhanko"),
    }
    return figures, versions


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="mesures par scénario (défaut : 10)")
    parser.add_argument("--json", action="store_true", help="sortie JSON en plus du tableau")
    arguments = parser.parse_args()
    figures, versions = measure(arguments.runs)
    print(f"Dossiers PDF — {arguments.runs} mesures par scénario, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("| scénario | cible | médiane | p95 | rapport | remarque |")
    print("|---|---|---|---|---|---|")
    for figure in figures:
        print(
            f"| {figure.scenario} | {figure.target} | {_seconds(figure.median)} | {_seconds(figure.p95)} "
            f"| {figure.ratio} | {figure.note} |"
        )
    print("Versions : " + ", ".join(f"{name} {number}" for name, number in versions.items()))
    if arguments.json:
        print(json.dumps({f.scenario: {"median": f.median, "p95": f.p95} for f in figures}, ensure_ascii=False))
    regressions = [f.scenario for f in figures if f.target != "—" and f.median > GROSS_REGRESSION * f.target_seconds]
    if regressions:
        print("Régression grossière : " + ", ".join(regressions), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
