"""Logging in and out in a real browser, as a collectivité's DPO would."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

DPO_EMAIL = "dpo@mairie-exemple.fr"


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.locator("input[name='password']").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def test_login_shows_the_dashboard_then_logout(
    page: Page, live_server: str, demo_password: str, broken_responses: list[str]
) -> None:
    log_in(page, DPO_EMAIL, demo_password)

    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", name=re.compile(r"Commune d['’]Exemple")).first).to_be_visible()
    requests_table = page.get_by_role("table").first
    expect(requests_table).to_be_visible()
    expect(requests_table.locator("tbody tr").first).to_be_visible()

    page.get_by_role("button", name="Se déconnecter").first.click()

    expect(page).to_have_url(re.compile(r"/connexion(\?.*)?$"))
    expect(page.get_by_text("Vous êtes déconnecté(e).")).to_be_visible()
    expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    assert broken_responses == []


def test_wrong_password_is_refused(page: Page, live_server: str, broken_responses: list[str]) -> None:
    log_in(page, DPO_EMAIL, "pas le bon mot de passe")

    expect(page).to_have_url(re.compile(r"/connexion(\?.*)?$"))
    expect(page.get_by_text("Adresse électronique ou mot de passe incorrect.")).to_be_visible()
    expect(page.get_by_role("button", name="Se déconnecter")).to_have_count(0)
    assert broken_responses == []


def test_a_request_and_its_summary_from_the_dashboard(
    page: Page, live_server: str, demo_password: str, broken_responses: list[str]
) -> None:
    log_in(page, DPO_EMAIL, demo_password)
    page.get_by_role("link", name="D1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("D1 – Dites-le-nous une fois – Cantine scolaire")
    expect(page.get_by_role("heading", name="Historique")).to_be_visible()

    page.get_by_role("link", name="Voir le récapitulatif complet de la demande").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif de la demande D1")
    expect(page.get_by_text("Nom du projet")).to_be_visible()
    expect(page.get_by_role("cell", name="Logiciel Exemple SA")).to_be_visible()
    assert broken_responses == []
