"""An instructor's day in a real browser: find a request by the collectivité's SIRET, take it in hand, and ask
for changes on one section through the decision dialog, starting from a message template."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tracker.demo import ORGANIZATIONS

from .test_login import log_in

pytestmark = pytest.mark.e2e

INSTRUCTEUR_EMAIL = "instructeur@dgfip.exemple.fr"
# The demo's request waiting for the DGFiP (« Place en crèche »); no other browser test changes it.
SUBMITTED = "D2"


def test_an_instructor_finds_a_request_by_siret_takes_it_and_requests_changes_on_one_section(
    page: Page, live_server: str, demo_password: str, broken_responses: list[str]
) -> None:
    siret = ORGANIZATIONS["collectivite"][2]
    log_in(page, INSTRUCTEUR_EMAIL, demo_password)

    page.get_by_role("link", name="Demandes à instruire").first.click()
    page.get_by_label("Rechercher").fill(f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}")
    page.get_by_role("button", name="Rechercher").click()
    expect(page).to_have_url(re.compile(rf"[?&]q={siret[:3]}"))  # the search is kept in the URL
    results = page.get_by_role("table").first
    expect(results.get_by_role("link", name=SUBMITTED, exact=True)).to_be_visible()
    results.get_by_role("link", name=SUBMITTED, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(SUBMITTED)

    page.get_by_role("button", name="Prendre en charge").click()
    expect(page.get_by_text("Vous avez pris la demande en charge.")).to_be_visible()
    expect(page.locator("dd", has_text="Marc Durand").first).to_be_visible()

    open_dialog = page.get_by_role("button", name="Demander des modifications")
    # The DSFR script binds the button to its dialog once loaded; a click before that would do nothing.
    expect(open_dialog).to_have_attribute("data-fr-js-modal-button", "true")
    open_dialog.click()
    dialog = page.get_by_role("dialog", name=re.compile("Demander des modifications"))
    expect(dialog).to_be_visible()
    dialog.locator("label", has_text="Le cadre juridique").click()
    dialog.get_by_label("Partir d'un modèle de message").select_option(label="Délibération manquante")
    reason = dialog.get_by_label(re.compile("^Motif"))
    expect(reason).to_have_value(re.compile(rf"Pour instruire la demande {SUBMITTED}, merci de joindre"))
    reason.press("End")
    reason.type("\nLa délibération du conseil municipal suffit.")

    dialog.get_by_role("button", name="Prévisualiser le courriel").click()
    dialog = page.get_by_role("dialog", name=re.compile("Demander des modifications"))
    expect(dialog.get_by_text("Courriels qui partiront (1)")).to_be_visible()
    expect(dialog.get_by_text("dpo@mairie-exemple.fr")).to_be_visible()
    expect(dialog.locator(".email-preview")).to_contain_text("La délibération du conseil municipal suffit.")

    dialog.get_by_role("button", name="Confirmer : demander des modifications").click()
    expect(page.get_by_text("Demander des modifications : c'est fait.")).to_be_visible()
    expect(page.locator(".fr-badge", has_text="À modifier").first).to_be_visible()
    history = page.locator("ol.timeline li").first
    expect(history).to_contain_text("Sections à modifier : « Le cadre juridique »")
    expect(history).to_contain_text("La délibération du conseil municipal suffit.")
    assert broken_responses == []
