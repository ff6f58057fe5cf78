"""Fixtures for the browser tests: the app served by a subprocess, Debian's Chromium through Playwright.

Playwright never downloads a browser here (no network but the package registries): it drives
/usr/bin/chromium, installed by scripts/install-browser.sh. Without it the tests are skipped on a
developer's machine and fail in CI, where a skipped browser test would hide a broken set-up.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_SCRIPT = Path(__file__).with_name("server.py")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "Mot de passe de démonstration e2e"
STARTUP_SECONDS = 90
TIMEOUT_MS = 15_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Keep each phase's report on the item, so the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} est absent : lancez scripts/install-browser.sh (apt-get install chromium)."
        if os.environ.get("CI"):
            pytest.fail(f"Navigateur requis en CI. {reason}")
        pytest.skip(reason)
    return CHROMIUM


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _wait_until_ready(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    base_url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Le serveur de test s'est arrêté (code {process.returncode}) :\n{_read(log)}")
        if base_url is None:
            match = re.search(r"^PORT=(\d+)$", _read(log), re.MULTILINE)
            if match:
                base_url = f"http://127.0.0.1:{match.group(1)}"
        if base_url is not None:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return base_url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.2)
    pytest.fail(f"Le serveur de test n'a pas répondu sur /healthz en {STARTUP_SECONDS} s :\n{_read(log)}")


@pytest.fixture(scope="session")
def demo_password() -> str:
    """The password of every demo account on the test server."""
    return DEMO_PASSWORD


@pytest.fixture(scope="session")
def live_server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the app, on a fresh SQLite database holding the demo data."""
    workdir = tmp_path_factory.mktemp("e2e")
    log = workdir / "server.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACKER_") and key != "FLASK_APP"}
    env.update(
        TRACKER_DATABASE_URL=f"sqlite:///{workdir / 'e2e.sqlite3'}",
        TRACKER_SECRET_KEY="e2e-secret-key-not-for-production",
        TRACKER_DEMO_PASSWORD=DEMO_PASSWORD,
        TRACKER_DOCUMENTS_DIR=str(workdir / "documents"),
        TRACKER_ENV="development",
        PYTHONUNBUFFERED="1",
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT)],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_until_ready(process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        # launch() gives every run a fresh, temporary user-data-dir and removes it on close.
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def broken_responses() -> list[str]:
    """Responses a person would notice (a missing stylesheet or script, a server error), as "status URL"."""
    return []


@pytest.fixture
def page(
    browser,
    live_server: str,
    broken_responses: list[str],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
):
    """A page in a fresh browser context (no cookies); a screenshot is kept if the test fails."""
    context = browser.new_context(base_url=live_server, locale="fr-FR", timezone_id="Europe/Paris")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def _record(response) -> None:
        if response.status >= 500 or (response.status >= 400 and "/static/" in response.url):
            broken_responses.append(f"{response.status} {response.url}")

    page.on("response", _record)
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            directory = Path(os.environ.get("TRACKER_E2E_ARTIFACTS") or tmp_path_factory.mktemp("e2e-captures"))
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{request.node.name}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"Capture d'écran : {path} (page {page.url})")
            except Exception as error:  # the browser itself may be what failed
                print(f"Capture d'écran impossible : {error}")
        context.close()
