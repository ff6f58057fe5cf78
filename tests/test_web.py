"""Cross-cutting web behaviour: health check, French DSFR error pages without stack traces, security
headers on every response, the lifecycle help page drawn from the workflow table, per-party dashboards."""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as ET
from collections import defaultdict

import pytest
from factories import login, make_organization, make_user, principal_for
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import tracker.main.views as main_views
from tracker.accounts.models import Organization, OrganizationKind, User
from tracker.audit.models import AuditEntry
from tracker.habilitations import diagram, services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import RULES, State, arrows
from tracker.web import render_error

SVG = "{http://www.w3.org/2000/svg}"


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


# --- health check ---------------------------------------------------------------------------------------


def test_healthz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_without_details_when_the_database_fails(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main_views, "text", lambda _sql: text("SELECT * FROM table_qui_n_existe_pas"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "indisponible"}
    assert "table_qui_n_existe_pas" not in response.get_data(as_text=True)


def test_healthz_needs_no_login_and_stores_no_session(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert not response.headers.getlist("Set-Cookie")


# --- error pages ----------------------------------------------------------------------------------------


def test_404_page_is_french_and_dsfr(client: FlaskClient) -> None:
    response = client.get("/cette-page-n-existe-pas")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert '<html lang="fr"' in body
    assert "Page introuvable" in body and "Erreur 404" in body
    assert "dsfr/dsfr.min.css" in body and 'class="fr-header"' in body and 'class="fr-btn"' in body
    assert "Not Found" not in body


def test_404_under_the_api_is_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/rien-ici")
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404
    assert "n'existe pas" in response.get_json()["error"]["message"]


def test_403_page_for_a_hebergeur_creating_a_request(client: FlaskClient, session: Session) -> None:
    hebergeur = make_organization(session, OrganizationKind.HEBERGEUR)
    user = make_user(session, hebergeur)
    session.commit()
    login(client, session, user)

    response = client.get("/demandes/nouvelle")

    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "Accès refusé" in body and "Erreur 403" in body
    assert "Forbidden" not in body
    [refusal] = session.scalars(select(AuditEntry).where(AuditEntry.action == "access_refused")).all()
    assert (refusal.actor_id, refusal.object_id) == (user.id, "/demandes/nouvelle")


def test_405_page_is_french(client: FlaskClient) -> None:
    response = client.get("/deconnexion")
    assert response.status_code == 405
    assert "Méthode non autorisée" in response.get_data(as_text=True)


def test_413_for_a_body_over_the_limit(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post("/connexion", data={"email": "a@b.fr", "password": "x" * 4096})
    assert response.status_code == 413
    assert "Fichier trop volumineux" in response.get_data(as_text=True)


def test_unexpected_error_shows_a_french_page_without_the_trace(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    collectivite = make_organization(session, OrganizationKind.COLLECTIVITE)
    user = make_user(session, collectivite)
    session.commit()
    login(client, session, user)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("détail interne : mot de passe de la base = hunter2")

    monkeypatch.setattr(main_views, "dashboard_requests", broken)
    with caplog.at_level(logging.ERROR, logger="tracker.web"):
        response = client.get("/", headers={"X-Request-ID": "incident-2026-0001"})

    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Erreur inattendue" in body and "Erreur 500" in body
    assert "Traceback" not in body and "RuntimeError" not in body and "hunter2" not in body
    assert response.headers["X-Request-ID"] == "incident-2026-0001"
    [record] = [r for r in caplog.records if r.name == "tracker.web"]
    assert "incident-2026-0001" in record.getMessage() and record.exc_info is not None


def test_render_error_500_directly(app: Flask) -> None:
    with app.test_request_context("/quelque-part"):
        response = render_error(500)
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Erreur inattendue" in body
    assert "Une erreur inattendue s'est produite" in html.unescape(body)


def test_render_error_with_problems_lists_them_escaped(app: Flask) -> None:
    with app.test_request_context("/quelque-part"):
        response = render_error(409, "Conflit de version.", ("<script>alert(1)</script>",))
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body


# --- headers on every response --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/connexion", 200),
        ("/healthz", 200),
        ("/aide/cycle-de-vie", 200),
        ("/static/app.css", 200),
        ("/", 302),
        ("/nulle-part", 404),
    ],
)
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = csp_directives(response.headers["Content-Security-Policy"])
    scripts = csp.get("script-src", csp["default-src"])
    assert scripts == ["'self'"]
    assert not any("unsafe" in value for values in csp.values() for value in values)
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    response.close()


def test_request_ids_differ_between_requests(client: FlaskClient) -> None:
    first = client.get("/connexion").headers["X-Request-ID"]
    second = client.get("/connexion").headers["X-Request-ID"]
    assert first != second


def test_a_well_formed_incoming_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get("/connexion", headers={"X-Request-ID": "proxy-4f2a9c1e-0001"})
    assert response.headers["X-Request-ID"] == "proxy-4f2a9c1e-0001"


@pytest.mark.parametrize("incoming", ["court", "a b c d e f g h", "x" * 65, "id;drop table", "ok\u00e9-12345678"])
def test_a_malformed_incoming_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/connexion", headers={"X-Request-ID": incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


@pytest.mark.parametrize("path", ["/connexion", "/aide/cycle-de-vie", "/nulle-part"])
def test_pages_hold_no_inline_script_the_policy_would_block(client: FlaskClient, path: str) -> None:
    body = client.get(path).get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", body)
    assert scripts and all(" src=" in tag for tag in scripts)
    assert not re.search(r"\son[a-z]+\s*=", body)  # no onclick= and friends
    assert not re.search(r"\sstyle\s*=", body)  # style-src 'self' would drop inline styles too


# --- lifecycle help page --------------------------------------------------------------------------------


def test_lifecycle_page_lists_every_event_of_the_workflow(client: FlaskClient) -> None:
    response = client.get("/aide/cycle-de-vie")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    numbers = diagram.event_numbers()
    assert sorted(numbers.values()) == list(range(1, len(RULES) + 1))
    for event, rule in RULES.items():
        assert str(escape(rule.label)) in body
        assert f"<strong>{numbers[event]}. {escape(rule.label)}</strong>" in body
        assert f"<code>{event.value}</code>" in body


def test_lifecycle_diagram_has_one_arrow_per_pair_of_states(client: FlaskClient) -> None:
    body = client.get("/aide/cycle-de-vie").get_data(as_text=True)
    match = re.search(r"<svg\b.*?</svg>", body, re.S)
    assert match is not None
    svg = ET.fromstring(match.group(0))  # noqa: S314 (our own page; raises unless well-formed XML)

    pairs = {(arrow.source, arrow.target) for arrow in arrows()}
    arrow_paths = [element for element in svg if element.tag == f"{SVG}path"]
    assert len(arrow_paths) == len(pairs)
    assert all(path.get("marker-end") == "url(#arrowhead)" for path in arrow_paths)
    assert len(svg.findall(f".//{SVG}path")) == len(pairs) + 1  # plus the arrowhead in <defs>

    numbers = diagram.event_numbers()
    expected_labels: dict[tuple[object, object], set[int]] = defaultdict(set)
    for arrow in arrows():
        expected_labels[(arrow.source, arrow.target)].add(numbers[arrow.event])
    pills = sorted(
        element.text or "" for element in svg if element.tag == f"{SVG}text" and (element.text or "")[:1].isdigit()
    )
    assert pills == sorted(", ".join(map(str, sorted(found))) for found in expected_labels.values())

    texts = {element.text for element in svg.iter(f"{SVG}text")}
    assert {state.label for state in State} <= texts


def test_lifecycle_page_is_public(client: FlaskClient) -> None:
    assert client.get("/aide/cycle-de-vie").status_code == 200


# --- dashboards show each party its own requests --------------------------------------------------------


def new_request(session: Session, user: User, editeur: Organization, hebergeur: Organization) -> HabilitationRequest:
    request = services.create_request(session, principal=principal_for(user), use_case="cantine_scolaire")
    request.editeur = editeur
    request.hebergeur = hebergeur
    session.flush()
    return request


def links_to(body: str, request: HabilitationRequest) -> bool:
    return f'href="/demandes/{request.id}"' in body


def test_each_party_sees_only_its_own_requests(client: FlaskClient, session: Session) -> None:
    bordeaux = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Bordeaux")
    lyon = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Lyon")
    editeur_a = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Aquitain")
    editeur_b = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Rhodanien")
    hebergeur_a = make_organization(session, OrganizationKind.HEBERGEUR, name="Hébergeur Aquitain")
    hebergeur_b = make_organization(session, OrganizationKind.HEBERGEUR, name="Hébergeur Rhodanien")
    users = {
        organization.name: make_user(session, organization)
        for organization in (bordeaux, lyon, editeur_a, editeur_b, hebergeur_a, hebergeur_b)
    }
    from_bordeaux = new_request(session, users["Commune de Bordeaux"], editeur_a, hebergeur_a)
    from_lyon = new_request(session, users["Commune de Lyon"], editeur_b, hebergeur_b)
    session.commit()

    expectations = {
        "Commune de Bordeaux": from_bordeaux,
        "Commune de Lyon": from_lyon,
        "Éditeur Aquitain": from_bordeaux,
        "Éditeur Rhodanien": from_lyon,
        "Hébergeur Aquitain": from_bordeaux,
        "Hébergeur Rhodanien": from_lyon,
    }
    for name, own in expectations.items():
        other = from_lyon if own is from_bordeaux else from_bordeaux
        login(client, session, users[name])
        response = client.get("/")
        assert response.status_code == 200, name
        body = response.get_data(as_text=True)
        assert links_to(body, own), name
        assert not links_to(body, other), name


def test_collectivite_dashboard_offers_a_new_request_and_partners_do_not(client: FlaskClient, session: Session) -> None:
    collectivite = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    editeur = make_user(session, make_organization(session, OrganizationKind.EDITEUR))
    session.commit()
    login(client, session, collectivite)
    assert 'href="/demandes/nouvelle"' in client.get("/").get_data(as_text=True)
    login(client, session, editeur)
    body = client.get("/").get_data(as_text=True)
    assert 'href="/demandes/nouvelle"' not in body
    assert "Aucune demande pour l'instant" in html.unescape(body)


def test_dgfip_is_sent_to_its_instruction_list_which_hides_drafts(client: FlaskClient, session: Session) -> None:
    collectivite = make_organization(session, OrganizationKind.COLLECTIVITE)
    author = make_user(session, collectivite)
    draft = new_request(
        session,
        author,
        make_organization(session, OrganizationKind.EDITEUR),
        make_organization(session, OrganizationKind.HEBERGEUR),
    )
    instructeur = make_user(session, make_organization(session, OrganizationKind.DGFIP))
    session.commit()
    assert draft.state is State.DRAFT
    login(client, session, instructeur)

    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/instruction"
    instruction = client.get("/instruction")
    assert instruction.status_code == 200
    assert not links_to(instruction.get_data(as_text=True), draft)


def test_nul_characters_in_a_form_are_refused_before_any_query(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/connexion", data={"email": "dpo\x00@mairie-exemple.fr", "password": "x" * 12})
    assert response.status_code == 400
    assert "Requête invalide" in response.get_data(as_text=True)
    assert client.get("/demandes/aller?numero=D1\x00").status_code == 400


def test_nul_characters_in_a_repeated_field_are_refused_too(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/demandes/aller?numero=D1&numero=D2\x00").status_code == 400
