"""Each notification of DOMAIN §10 that the tracker sends, caused through the real services or over HTTP,
delivered by the real outbox worker to a real SMTP server on loopback: the envelope recipient, the
subject and the French text that matters.

« Identifiants disponibles » (credentials available) belongs to the credentials issue, which is not built
yet: there is no code sending it to test here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from factories import login
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import (
    Cast,
    Situation,
    build,
    complete_data,
    event_form,
    event_url,
    make_cast,
    make_submittable,
    new_request,
    take,
)
from smtp import ReceivedMail, SmtpSink
from sqlalchemy.orm import Session

from tracker.accounts.models import User
from tracker.accounts.siret import with_luhn_key
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.habilitations import expiry, services
from tracker.habilitations.models import Habilitation, HabilitationRequest
from tracker.habilitations.parties import Hosting, PartyContact, designate_parties
from tracker.habilitations.workflow import Actor, Event, Stage
from tracker.notify.worker import OutboxSettings, deliver_due
from tracker.vault.services import record_credentials

UNSUBSCRIBE = "Ne plus recevoir ce type de notification"


@dataclass
class Post:
    """The outbox as production runs it: commit, then the worker delivers to the SMTP server."""

    session: Session
    sink: SmtpSink
    settings: OutboxSettings

    def deliver(self) -> list[ReceivedMail]:
        self.session.commit()
        report = deliver_due(self.session, self.settings, worker_id="lifecycle", batch_size=500)
        assert report.failed == report.retried == 0, report
        return self.sink.received()

    def start_afresh(self) -> None:
        """Deliver what setting the scene queued (invitations, acknowledgements…), then forget it."""
        self.deliver()
        self.sink.clear()

    def one_to(self, address: str) -> ReceivedMail:
        mails = self.sink.to(address)
        assert len(mails) == 1, [mail.message["Subject"] for mail in mails]
        [mail] = mails
        assert mail.rcpt_tos == (address,)  # one envelope per recipient: nobody sees the others' address
        return mail

    def nothing_to(self, *addresses: str) -> None:
        for address in addresses:
            assert self.sink.to(address) == [], address


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def post(session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings) -> Post:
    return Post(session, smtp_server, outbox_settings)


def text(mail: ReceivedMail) -> str:
    return mail.text.replace("\r\n", "\n")


def subject(mail: ReceivedMail) -> str:
    return str(mail.message["Subject"])


def decide_over_http(
    client: FlaskClient, session: Session, user: User, request: HabilitationRequest, event: Event, **form: Any
) -> None:
    login(client, session, user)
    response = client.post(event_url(request.id, event), data=event_form(request, event, **form))
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()


# --- instruction ------------------------------------------------------------------------------------


def test_the_submission_is_acknowledged_to_the_collectivite_with_the_two_month_date_and_appeal_routes(
    client: FlaskClient, session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.FRESH_DRAFT)
    post.start_afresh()

    decide_over_http(client, session, cast.collectivite, request, Event.SUBMIT)
    post.deliver()

    mail = post.one_to(cast.collectivite.email)
    assert subject(mail) == f"Demande {request.number} : soumission reçue par la DGFiP"
    submitted, deadline = request.deadline_started_at, request.deadline_at
    assert (deadline.year * 12 + deadline.month) - (submitted.year * 12 + submitted.month) == 2
    body = text(mail)
    assert f"La DGFiP doit l'instruire au plus tard le {deadline:%d/%m/%Y}." in body
    assert "réputée rejetée (articles L.231-1 et L.231-4 du code des relations entre le public" in body
    assert "recours gracieux auprès de la DGFiP" in body and "tribunal administratif" in body
    assert UNSUBSCRIBE not in body and mail.message["List-Unsubscribe"] is None
    post.nothing_to(cast.editeur.email, cast.hebergeur.email, cast.rapporteur.email)


def test_a_new_submission_is_announced_to_the_instructors_only(
    client: FlaskClient, session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.FRESH_DRAFT)
    post.start_afresh()

    decide_over_http(client, session, cast.collectivite, request, Event.SUBMIT)
    post.deliver()

    mail = post.one_to(cast.instructeur.email)
    assert subject(mail) == f"Demande {request.number} à instruire ({request.organization.name})"
    body = text(mail)
    assert f"La demande d'habilitation {request.number} « {request.intitule} »" in body
    assert f"Date limite d'instruction : {request.deadline_at:%d/%m/%Y}." in body
    assert f"Consulter la demande : http://tracker.test/demandes/{request.id}" in body
    assert UNSUBSCRIBE in body  # a DGFiP agent may turn it off (tests/notify/test_preferences.py)
    post.nothing_to(cast.rapporteur.email)


def test_changes_requested_tell_each_owner_its_sections_and_the_reason(
    client: FlaskClient, session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.SUBMITTED)
    post.start_afresh()

    decide_over_http(
        client,
        session,
        cast.instructeur,
        request,
        Event.REQUEST_CHANGES,
        reason="Joignez la délibération et précisez la version du logiciel.",
        sections=["cadre_juridique", "modalites"],
    )
    post.deliver()

    expected_subject = f"Demande {request.number} : la DGFiP demande des modifications"
    to_collectivite, to_editeur = post.one_to(cast.collectivite.email), post.one_to(cast.editeur.email)
    assert subject(to_collectivite) == subject(to_editeur) == expected_subject
    assert "Sections à modifier par votre organisation :\n- Le cadre juridique\n" in text(to_collectivite)
    assert "Sections rouvertes sur l'ensemble de la demande :\n- Le cadre juridique\n- Les modalités d'accès" in text(
        to_collectivite
    )
    assert "Sections à modifier par votre organisation :\n- Les modalités d'accès\n" in text(to_editeur)
    for mail in (to_collectivite, to_editeur):
        assert "Motif indiqué par la DGFiP :\nJoignez la délibération et précisez la version du logiciel." in text(mail)
        assert "le délai d'instruction repart alors de zéro" in text(mail)
    post.nothing_to(cast.hebergeur.email, cast.instructeur.email)


def test_a_refusal_tells_every_party_why_and_how_to_appeal(
    client: FlaskClient, session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.SUBMITTED)
    post.start_afresh()

    decide_over_http(
        client, session, cast.instructeur, request, Event.REFUSE, reason="Le cadre juridique ne couvre pas ce service."
    )
    post.deliver()

    for user in (cast.collectivite, cast.editeur, cast.hebergeur):
        mail = post.one_to(user.email)
        assert subject(mail) == f"Demande {request.number} : refusée"
        body = text(mail)
        assert f"La demande {request.number} « {request.intitule} » de {request.organization.name} est refusée" in body
        assert "Le cadre juridique ne couvre pas ce service." in body
        assert "recours gracieux auprès de la DGFiP ou un recours contentieux devant le tribunal administratif" in body
    post.nothing_to(cast.instructeur.email, cast.rapporteur.email)


def test_a_refused_update_says_the_habilitation_stays_active(session: Session, cast: Cast, post: Post) -> None:
    request = build(session, cast, Situation.REOPENING_SUBMITTED)
    post.start_afresh()

    take(session, request, cast, Event.REFUSE, Actor.INSTRUCTEUR, reason="La mise à jour n'est pas justifiée.")
    post.deliver()

    mail = post.one_to(cast.collectivite.email)
    assert subject(mail) == f"Demande {request.number} : mise à jour refusée"
    assert "La mise à jour n'est pas justifiée." in text(mail)
    assert "L'habilitation en vigueur reste active." in text(mail)


def test_a_revocation_tells_every_party_why(session: Session, cast: Cast, post: Post) -> None:
    request = build(session, cast, Situation.VALIDATED)
    post.start_afresh()

    take(session, request, cast, Event.REVOKE, Actor.INSTRUCTEUR, reason="Usage des données hors de la finalité.")
    post.deliver()

    for user in (cast.collectivite, cast.editeur, cast.hebergeur):
        mail = post.one_to(user.email)
        assert subject(mail) == f"Demande {request.number} : habilitations révoquées"
        assert "La DGFiP a révoqué toutes les habilitations de la demande" in text(mail)
        assert "Usage des données hors de la finalité." in text(mail)
        assert "Le téléservice ne doit plus appeler l'API Impôt particulier." in text(mail)


def _with_contacts(session: Session, cast: Cast, responsable: str, dpo: str) -> HabilitationRequest:
    """A submitted request naming its responsable de traitement and DPO at their own addresses."""
    request = new_request(session, cast)
    contacts = {**complete_data(IMPOT_PARTICULIER.section("contacts")), "responsable_email": responsable}
    contacts["dpo_email"] = dpo
    services.save_section(
        session, request, "contacts", contacts, principal=cast.principal(Actor.COLLECTIVITE), expected_version=None
    )
    make_submittable(session, request, cast)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    return request


def test_an_approval_reaches_the_collectivite_and_the_contacts_named_in_the_request(
    client: FlaskClient, session: Session, cast: Cast, post: Post
) -> None:
    request = _with_contacts(session, cast, "maire@commune-test.fr", "dpo@commune-test.fr")
    post.start_afresh()

    decide_over_http(
        client, session, cast.instructeur, request, Event.APPROVE, reason="Bienvenue dans le service.", sections=[]
    )
    post.deliver()

    habilitation = request.habilitations[-1]
    for address in (cast.collectivite.email, "maire@commune-test.fr", "dpo@commune-test.fr"):
        mail = post.one_to(address)
        assert subject(mail) == f"Demande {request.number} validée : habilitation {habilitation.number}"
        assert f"La DGFiP a validé la demande {request.number}" in text(mail)
        assert "pour l'étape « Bac à sable »" in text(mail)
        assert "Bienvenue dans le service." in text(mail)
        assert UNSUBSCRIBE not in text(mail)
    post.nothing_to(cast.editeur.email, cast.hebergeur.email, cast.instructeur.email)


def test_the_api_management_team_is_told_which_sandbox_habilitation_to_open(
    app: Flask, session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.SUBMITTED)
    post.start_afresh()

    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR)
    post.deliver()

    habilitation = request.habilitations[-1]
    mail = post.one_to(app.config["API_MANAGEMENT_EMAIL"])
    assert subject(mail) == f"[BAS] Habilitation {habilitation.number} à ouvrir ({request.organization.name})"
    assert f"Habilitation {habilitation.number} validée pour l'environnement BAS." in text(mail)
    assert f"SIRET {request.organization.siret}" in text(mail)
    assert UNSUBSCRIBE not in text(mail)  # a team mailbox, not a user: nothing to turn off


def test_the_api_management_team_is_told_which_production_habilitation_to_open(
    app: Flask, session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.PRODUCTION_SUBMITTED)
    post.start_afresh()

    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR)
    post.deliver()

    habilitation = services.latest_habilitation(request, Stage.PRODUCTION)
    mail = post.one_to(app.config["API_MANAGEMENT_EMAIL"])
    assert subject(mail) == f"[PROD] Habilitation {habilitation.number} à ouvrir ({request.organization.name})"
    assert f"Habilitation {habilitation.number} validée pour l'environnement PROD." in text(mail)
    assert "pour l'étape « Production »" in text(post.one_to(cast.collectivite.email))


# --- parties and attestations -----------------------------------------------------------------------


def test_a_party_new_to_the_tracker_is_invited_by_email(session: Session, cast: Cast, post: Post) -> None:
    request = new_request(session, cast)
    post.start_afresh()

    designate_parties(
        session,
        request,
        principal=cast.principal(Actor.COLLECTIVITE),
        editeur=PartyContact(with_luhn_key("4420000000012"), "Logiciels de l'Estuaire", "contact@estuaire.fr"),
        hosting=Hosting.SAME_AS_EDITEUR,
        expected_version=None,
    )
    post.deliver()

    mail = post.one_to("contact@estuaire.fr")
    assert subject(mail) == "Invitation à rejoindre Logiciels de l'Estuaire sur Habilitations DGFiP"
    body = text(mail)
    assert f"{cast.collectivite.full_name} vous invite à rejoindre l'organisation « Logiciels de l'Estuaire »" in body
    assert (
        f"{request.organization.name} a désigné votre organisation comme éditeur de sa demande d'habilitation "
        f"{request.number}" in body
    )
    assert "http://tracker.test/invitation/" in body
    assert UNSUBSCRIBE not in body and mail.message["List-Unsubscribe"] is None


def test_editing_an_attested_section_tells_the_collectivite_and_the_owner_to_sign_again(
    session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.FRESH_DRAFT)
    post.start_afresh()

    services.save_section(
        session,
        request,
        "modalites",
        {**complete_data(IMPOT_PARTICULIER.section("modalites")), "logiciel_version": "2.0"},
        principal=cast.principal(Actor.EDITEUR),
        expected_version=None,
    )
    post.deliver()

    for user in (cast.collectivite, cast.editeur):
        mail = post.one_to(user.email)
        assert subject(mail) == (
            f"Demande {request.number} : « Attestation des modalités d'accès » est à signer de nouveau"
        )
        body = text(mail)
        assert "l'attestation « Attestation des modalités d'accès » ne correspond plus au contenu" in body
        assert f"(modification faite par {cast.editeur.full_name}, {request.editeur.name})" in body
        assert "doit la signer de nouveau avant que la demande puisse être soumise" in body
    post.nothing_to(cast.hebergeur.email, cast.instructeur.email)


# --- expiry -----------------------------------------------------------------------------------------


def _production_with_certificate_first(session: Session, cast: Cast) -> tuple[HabilitationRequest, Habilitation]:
    """A production habilitation whose soonest date is the hébergeur's certificate (the homologation, the
    collectivité's, ends later), so that the reminders and the expiry concern the hébergeur too."""
    request = build(session, cast, Situation.PRODUCTION_DRAFT)
    homologation = {
        **complete_data(IMPOT_PARTICULIER.section("homologation")),
        "homologation_date_debut": (date.today() - timedelta(days=30)).isoformat(),
        "homologation_date_fin": (date.today() + timedelta(days=3000)).isoformat(),
    }
    services.save_section(
        session,
        request,
        "homologation",
        homologation,
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    make_submittable(session, request, cast)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR)
    habilitation = services.latest_habilitation(request, Stage.PRODUCTION)
    assert habilitation is not None
    return request, habilitation


def test_expiry_reminders_reach_the_owning_party_and_the_collectivite(session: Session, cast: Cast, post: Post) -> None:
    _request, habilitation = _production_with_certificate_first(session, cast)
    soonest, due_on = services.habilitation_dates(habilitation)[0]
    assert soonest.owner is Actor.HEBERGEUR
    post.start_afresh()

    assert expiry.run(session, due_on - timedelta(days=30)).reminders == 2
    post.deliver()

    for user in (cast.collectivite, cast.hebergeur):
        mail = post.one_to(user.email)
        assert subject(mail) == (
            f"Habilitation {habilitation.number} : {soonest.label.lower()} le {due_on:%d/%m/%Y} (dans 30 jours)"
        )
        body = text(mail)
        assert f"{soonest.label} : {due_on:%d/%m/%Y}, dans 30 jours." in body
        assert "Passé cette date, l'habilitation expirera" in body
        assert "Rappels envoyés 90, 30 et 7 jours avant l'échéance." in body
    post.nothing_to(cast.editeur.email, cast.instructeur.email)


def test_an_expired_habilitation_is_announced_to_the_parties_concerned_and_the_instructors(
    session: Session, cast: Cast, post: Post
) -> None:
    request, habilitation = _production_with_certificate_first(session, cast)
    soonest, due_on = services.habilitation_dates(habilitation)[0]
    post.start_afresh()

    assert expiry.run(session, due_on + timedelta(days=1)).expired == [habilitation.number]
    post.deliver()

    for user in (cast.collectivite, cast.hebergeur, cast.instructeur):
        mail = post.one_to(user.email)
        assert subject(mail) == f"Habilitation {habilitation.number} expirée ({request.organization.name})"
        body = text(mail)
        assert f"L'habilitation de production {habilitation.number} de la demande {request.number}" in body
        assert f"{soonest.label} : échéance du {due_on:%d/%m/%Y} dépassée." in body
        assert "Le téléservice ne doit plus appeler l'API Impôt particulier en production." in body
    assert UNSUBSCRIBE in text(post.one_to(cast.instructeur.email))
    assert UNSUBSCRIBE not in text(post.one_to(cast.hebergeur.email))
    post.nothing_to(cast.editeur.email, cast.rapporteur.email)


# --- API credentials --------------------------------------------------------------------------------


def test_credentials_available_reach_the_collectivite_and_the_editeur_without_the_secret(
    session: Session, cast: Cast, post: Post
) -> None:
    request = build(session, cast, Situation.VALIDATED)
    habilitation = request.habilitations[-1]
    secret = "secret-client-jamais-par-courriel-7f3a"
    fields: dict[str, Any] = {
        "client_id": "client-cantine",
        "client_secret": secret,
        "id_teleservice": "TLS-CANTINE",
        "oauth_scopes": ["RessourceIR"],
        "token_url": "https://gateway.exemple.fr/token",
        "api_base_url": "https://gateway.exemple.fr/impotparticulier/1.0",
        "granted_scopes": ["dgfip_rfr"],
    }
    post.start_afresh()
    record_credentials(session, habilitation, principal=cast.principal(Actor.INSTRUCTEUR), **fields)
    post.deliver()

    for party in (cast.collectivite, cast.editeur):
        mail = post.one_to(party.email)
        assert subject(mail) == f"Accès à l'API de l'habilitation {habilitation.number} disponibles"
        body = text(mail)
        assert "Identifiant client (client_id) : client-cantine" in body and "ID_Teleservice : TLS-CANTINE" in body
        assert "Le secret n'est jamais envoyé par courriel." in body
        assert f"/habilitations/{habilitation.id}/acces" in body
        assert secret not in mail.message.as_string()
    post.nothing_to(cast.hebergeur.email, cast.instructeur.email, cast.rapporteur.email)

    post.start_afresh()
    record_credentials(
        session, habilitation, principal=cast.principal(Actor.INSTRUCTEUR), **{**fields, "client_secret": "autre"}
    )
    post.deliver()
    assert subject(post.one_to(cast.collectivite.email)) == (
        f"Accès à l'API de l'habilitation {habilitation.number} renouvelés"
    )
