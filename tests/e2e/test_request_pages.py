"""The scopes page and the summary page in a real browser, as the DPO of the demo commune uses them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from .test_login import DPO_EMAIL, log_in

pytestmark = pytest.mark.e2e

# The demo's draft request (« Activités périscolaires »): filled, attested, not yet submitted.
DRAFT = "D4"


def _label_of(page: Page, checkbox: Locator) -> Locator:
    return page.locator(f"label[for='{checkbox.get_attribute('id')}']")


def test_a_scope_rule_error_shows_next_to_the_checkboxes_then_is_fixed(
    page: Page, live_server: str, demo_password: str, broken_responses: list[str]
) -> None:
    log_in(page, DPO_EMAIL, demo_password)
    page.get_by_role("link", name=DRAFT, exact=True).click()
    page.get_by_role("link", name=re.compile("la section Les données$")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Les données")
    expect(page.get_by_text("Recommandation pour ce cas d'usage")).to_be_visible()

    scopes = page.locator("#scopes-fieldset")
    death = scopes.get_by_role("checkbox", name=re.compile(r"^Données fiscales au 31.12 en cas de décès"))
    ifi = scopes.get_by_role("checkbox", name=re.compile(r"^Indicateur ISF.IFI"))
    # DSFR draws the box on the label, which takes the click as a person's would.
    _label_of(page, death).click()
    _label_of(page, ifi).click()
    expect(death).to_be_checked()
    page.get_by_role("button", name="Suivant").click()

    # The rule's message sits inside the checkboxes' fieldset, which is marked in error and describes it.
    expect(scopes).to_have_class(re.compile("fr-fieldset--error"))
    message = scopes.locator(".fr-message--error")
    expect(message).to_contain_text("sont incompatibles : décochez l'une ou l'autre de ces données.")
    expect(scopes).to_have_attribute("aria-describedby", "scopes-messages")
    # Both are beyond the use case's advice: a justification field appears for each.
    expect(page.get_by_label(re.compile("Justification pour « Indicateur ISF/IFI »"))).to_be_visible()
    advice = "Justifiez chaque donnée demandée au-delà de ce que recommande le cas d'usage"
    expect(page.get_by_text(advice)).to_be_visible()
    # Nothing typed is lost: the boxes stay ticked.
    expect(ifi).to_be_checked()

    _label_of(page, ifi).click()
    _label_of(page, death).click()
    expect(ifi).not_to_be_checked()
    page.get_by_role("button", name="Suivant").click()

    # Fixed: « Suivant » leads to the next step of the collectivité's form.
    expect(page.get_by_role("heading", level=1)).to_have_text("Le traitement des données personnelles")
    expect(page.get_by_text("Section « Les données » enregistrée.")).to_be_visible()
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 4 sur 6")
    assert broken_responses == []


def test_the_summary_shows_every_section_with_labels_not_keys(
    page: Page, live_server: str, demo_password: str, broken_responses: list[str]
) -> None:
    log_in(page, DPO_EMAIL, demo_password)
    page.goto("/")
    page.get_by_role("table").first.get_by_role("link", name="D6", exact=True).click()
    page.get_by_role("link", name="Voir le récapitulatif complet de la demande").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif de la demande D6")
    for section in ("Mon projet", "Le cadre juridique", "Les données", "L'hébergement", "L'homologation de sécurité"):
        expect(page.get_by_role("heading", level=2, name=section)).to_be_visible()
    data = page.locator("section", has=page.get_by_role("heading", name="Les données", exact=True))
    expect(data.get_by_text("Revenu fiscal de référence")).to_be_visible()
    expect(data.get_by_text("dgfip_rfr")).to_have_count(0)
    decision = page.get_by_role("link", name=re.compile("decision-homologation.pdf"))
    expect(decision).to_be_visible()
    with page.expect_download() as download:
        decision.click()
    assert download.value.suggested_filename == "decision-homologation.pdf"
    assert broken_responses == []
