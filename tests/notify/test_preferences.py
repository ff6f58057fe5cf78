"""Each user chooses the notifications they receive (« Mes notifications »); the recipient queries honour
those choices in one statement per recipient set, while a decision of the DGFiP still reaches every party
organization; DGFiP emails carry a signed unsubscribe link with the RFC 8058 one-click headers. Emails are
checked where they arrive: a real SMTP server on loopback, fed by the real outbox worker."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, complete_data, make_cast, make_submittable, new_request, take
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from smtp import ReceivedMail, SmtpSink
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from statements import count_statements

from tracker.accounts.models import DgfipFunction, OrganizationKind, User
from tracker.accounts.queries import dgfip_instructors, member_emails
from tracker.audit.models import AuditEntry
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.habilitations import services
from tracker.habilitations.workflow import Actor, Event
from tracker.notify.kinds import PREFERENCE_KINDS, NotificationKind
from tracker.notify.models import NotificationPreference, OutboxMessage, OutboxStatus
from tracker.notify.services import _new_preference_row, choose_notifications
from tracker.notify.unsubscribe import SALT, unsubscribe_token, unsubscribe_url
from tracker.notify.worker import OutboxSettings, build_email, deliver_due

UNSUBSCRIBE = "Ne plus recevoir ce type de notification"
K = NotificationKind


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def csrf_on(app: Flask) -> Iterator[None]:
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def mute(session: Session, user: User, *kinds: NotificationKind) -> None:
    choose_notifications(session, user, dict.fromkeys(kinds, False), organization_id=None, via="test")


def deliver(session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings) -> list[ReceivedMail]:
    session.commit()
    report = deliver_due(session, outbox_settings, worker_id="preferences", batch_size=500)
    assert report.failed == report.retried == 0, report
    return smtp_server.received()


def start_afresh(session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings) -> None:
    deliver(session, smtp_server, outbox_settings)
    smtp_server.clear()


def recipients(smtp_server: SmtpSink) -> set[str]:
    return {address for mail in smtp_server.received() for address in mail.rcpt_tos}


def stored(session: Session, user: User) -> dict[NotificationKind, bool]:
    session.expire_all()
    rows = session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    return {row.kind: row.is_enabled for row in rows}


def audit_entries(session: Session, user: User) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "notification_preferences_changed", AuditEntry.actor_id == user.id)
            .order_by(AuditEntry.id)
        )
    )


def checked_boxes(body: str) -> set[str]:
    return set(re.findall(r'<input checked[^>]*name="([a-z_]+)"', body)) | set(
        re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*checked', body)
    )


# --- the kinds --------------------------------------------------------------------------------------


def test_only_notifications_to_account_holders_are_preferences() -> None:
    assert {kind for kind in NotificationKind if not kind.is_preference} == {K.INVITATION, K.API_MANAGEMENT}
    for kind in PREFERENCE_KINDS:
        assert kind.recipients, kind
        assert kind.label and kind.description.endswith("."), kind


# --- « Mes notifications » ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "offered", "not_offered"),
    [
        (
            Actor.COLLECTIVITE,
            ["Accusé de réception d'une soumission", "Demande validée", "Demande refusée", "Rappels d'échéance"],
            ["Nouvelle demande à instruire", "Invitation"],
        ),
        (
            Actor.EDITEUR,
            ["Modifications demandées", "Attestation à signer de nouveau", "Habilitation expirée"],
            ["Accusé de réception d'une soumission", "Demande validée", "Nouvelle demande à instruire"],
        ),
        (
            Actor.INSTRUCTEUR,
            ["Nouvelle demande à instruire", "Habilitation expirée"],
            ["Demande refusée", "Rappels d'échéance", "tous les membres de votre organisation"],
        ),
    ],
)
def test_each_user_is_offered_the_notifications_of_their_party(
    client: FlaskClient, session: Session, cast: Cast, actor: Actor, offered: list[str], not_offered: list[str]
) -> None:
    login(client, session, cast.user(actor))

    response = client.get("/compte/notifications")

    assert response.status_code == 200
    body = html.unescape(response.get_data(as_text=True))
    assert "<h1>Mes notifications</h1>" in body
    for label in offered:
        assert label in body, label
    for label in not_offered:
        assert label not in body, label


def test_the_page_groups_the_notifications_and_explains_what_still_reaches_the_organization(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    login(client, session, cast.collectivite)

    body = html.unescape(client.get("/compte/notifications").get_data(as_text=True))

    groups = re.findall(r'<legend class="fr-fieldset__legend"[^>]*>([^<]+)</legend>', body)
    assert groups == [
        "Instruction des demandes",
        "Sections et attestations",
        "Échéances des habilitations",
        "Accès à l'API",
    ]
    assert "La DGFiP refuse la demande ou sa mise à jour, avec son motif." in body
    assert "Si tous les membres de votre organisation la désactivent, elle leur reste envoyée" in body
    assert checked_boxes(body) == {kind.value for kind in PREFERENCE_KINDS if Actor.COLLECTIVITE in kind.recipients}


def test_a_rapporteur_has_nothing_to_choose(client: FlaskClient, session: Session, cast: Cast) -> None:
    login(client, session, cast.rapporteur)

    body = html.unescape(client.get("/compte/notifications").get_data(as_text=True))

    assert "Aucune notification ne vous est adressée dans votre fonction actuelle" in body
    assert "<fieldset" not in body


def test_the_page_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/compte/notifications")
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]


def test_the_account_page_links_to_it(client: FlaskClient, session: Session, cast: Cast) -> None:
    login(client, session, cast.editeur)
    assert 'href="/compte/notifications"' in client.get("/organisation").get_data(as_text=True)


def test_saving_choices_flashes_stores_audits_and_shows_them_next_time(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    user = cast.collectivite
    login(client, session, user)
    offered = [kind for kind in PREFERENCE_KINDS if Actor.COLLECTIVITE in kind.recipients]
    kept = [kind for kind in offered if kind not in (K.EXPIRY_REMINDER, K.ATTESTATION_INVALIDATED)]

    response = client.post("/compte/notifications", data=dict.fromkeys((kind.value for kind in kept), "y"))

    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    body = html.unescape(page.get_data(as_text=True))
    assert "Vos choix de notifications sont enregistrés." in body
    assert checked_boxes(body) == {kind.value for kind in kept}
    assert stored(session, user) == {K.EXPIRY_REMINDER: False, K.ATTESTATION_INVALIDATED: False}
    [entry] = audit_entries(session, user)
    assert entry.object_type == "user" and entry.object_id == str(user.id)
    assert entry.organization_id == user.memberships[0].organization_id
    assert entry.details == {
        "turned_off": ["attestation_invalidated", "expiry_reminder"],
        "turned_on": [],
        "via": "preferences",
    }

    # Every box unticked: with CSRF off (tests) the body is empty, and still means « nothing ».
    assert client.post("/compte/notifications", data={}).status_code == 302
    assert stored(session, user) == dict.fromkeys(offered, False)
    # Saving the same choices again changes nothing and writes nothing to the audit log.
    assert client.post("/compte/notifications", data={}).status_code == 302
    assert len(audit_entries(session, user)) == 2

    assert client.post("/compte/notifications", data={"approved": "y"}).status_code == 302
    assert audit_entries(session, user)[-1].details["turned_on"] == ["approved"]


def test_a_posted_kind_the_user_is_not_offered_is_ignored(client: FlaskClient, session: Session, cast: Cast) -> None:
    login(client, session, cast.editeur)

    client.post("/compte/notifications", data={"submission_to_instruct": "", "invitation": ""})

    assert K.SUBMISSION_TO_INSTRUCT not in stored(session, cast.editeur)
    assert K.INVITATION not in stored(session, cast.editeur)


def test_the_page_keeps_its_csrf_check(client: FlaskClient, session: Session, cast: Cast, csrf_on: None) -> None:
    login(client, session, cast.collectivite)
    assert 'id="csrf_token" name="csrf_token" type="hidden"' in client.get("/compte/notifications").get_data(True)

    response = client.post("/compte/notifications", data={})

    assert response.status_code == 400
    assert stored(session, cast.collectivite) == {}


# --- who receives what --------------------------------------------------------------------------------


def test_a_member_who_muted_a_notification_does_not_get_it_the_others_do(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    collectivite = cast.collectivite.memberships[0].organization
    colleague = make_user(session, collectivite, email="colleague@commune.fr")
    request = build(session, cast, Situation.FRESH_DRAFT)
    mute(session, cast.collectivite, K.ATTESTATION_INVALIDATED)
    start_afresh(session, smtp_server, outbox_settings)

    services.save_section(
        session,
        request,
        "projet",
        complete_data(IMPOT_PARTICULIER.section("projet"), variant="(v2)"),
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    deliver(session, smtp_server, outbox_settings)

    assert recipients(smtp_server) == {colleague.email}
    assert smtp_server.to(colleague.email)[0].message["Subject"].endswith("est à signer de nouveau")


def test_a_decision_still_reaches_an_organization_whose_every_member_muted_it(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    collectivite = cast.collectivite.memberships[0].organization
    editeur = cast.editeur.memberships[0].organization
    colleague = make_user(session, collectivite, email="colleague@commune.fr")
    vendor_colleague = make_user(session, editeur, email="second@editeur.fr")
    request = build(session, cast, Situation.SUBMITTED)
    mute(session, cast.collectivite, K.REFUSED)  # a colleague still receives it: the choice holds
    mute(session, cast.editeur, K.REFUSED)  # the whole éditeur muted it: it reaches them all the same
    mute(session, vendor_colleague, K.REFUSED)
    start_afresh(session, smtp_server, outbox_settings)

    take(session, request, cast, Event.REFUSE, Actor.INSTRUCTEUR, reason="Hors du cadre juridique.")
    deliver(session, smtp_server, outbox_settings)

    told = {colleague.email, cast.editeur.email, vendor_colleague.email, cast.hebergeur.email}
    assert recipients(smtp_server) == told


def test_a_deactivated_colleague_does_not_count_as_someone_who_still_receives_it(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    collectivite = cast.collectivite.memberships[0].organization
    make_user(session, collectivite, email="parti@commune.fr").is_active = False
    request = build(session, cast, Situation.VALIDATED)
    mute(session, cast.collectivite, K.REVOKED)
    start_afresh(session, smtp_server, outbox_settings)

    take(session, request, cast, Event.REVOKE, Actor.INSTRUCTEUR, reason="Usage hors finalité.")
    deliver(session, smtp_server, outbox_settings)

    assert cast.collectivite.email in recipients(smtp_server)
    assert "parti@commune.fr" not in recipients(smtp_server)


def test_instructors_choices_are_always_honoured(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    dgfip = cast.instructeur.memberships[0].organization
    second = make_user(session, dgfip, email="second.instructeur@dgfip.fr", dgfip_function=DgfipFunction.INSTRUCTEUR)
    first_request = build(session, cast, Situation.FRESH_DRAFT)
    second_request = build(session, cast, Situation.FRESH_DRAFT)
    mute(session, cast.instructeur, K.SUBMISSION_TO_INSTRUCT)
    start_afresh(session, smtp_server, outbox_settings)

    take(session, first_request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    deliver(session, smtp_server, outbox_settings)
    assert recipients(smtp_server) == {cast.collectivite.email, second.email}

    smtp_server.clear()
    mute(session, second, K.SUBMISSION_TO_INSTRUCT)
    take(session, second_request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    deliver(session, smtp_server, outbox_settings)
    # The instruction list shows the request with its deadline: no instructor is forced to get the email.
    assert recipients(smtp_server) == {cast.collectivite.email}


def test_named_contacts_without_an_account_always_get_the_approval_users_follow_their_choice(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    collectivite = cast.collectivite.memberships[0].organization
    dpo = make_user(session, collectivite, email="dpo@commune.fr")
    request = new_request(session, cast)
    contacts = {
        **complete_data(IMPOT_PARTICULIER.section("contacts")),
        "responsable_email": "Maire@Commune.fr",  # as typed in the form; no account
        "dpo_email": "DPO@commune.fr",  # the DPO's account, whatever the case typed
    }
    services.save_section(
        session, request, "contacts", contacts, principal=cast.principal(Actor.COLLECTIVITE), expected_version=None
    )
    make_submittable(session, request, cast)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    mute(session, dpo, K.APPROVED)
    start_afresh(session, smtp_server, outbox_settings)

    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR)
    deliver(session, smtp_server, outbox_settings)

    approvals = {mail.rcpt_tos[0] for mail in smtp_server.received() if "validée" in mail.message["Subject"]}
    assert approvals == {cast.collectivite.email, "Maire@Commune.fr"}


# --- one statement per recipient set ----------------------------------------------------------------------


@pytest.mark.parametrize("members", [1, 7])
def test_each_recipient_set_is_one_statement_whatever_its_size(
    connection: Connection, session: Session, members: int
) -> None:
    organization = make_organization(session, OrganizationKind.COLLECTIVITE)
    users = [make_user(session, organization) for _ in range(members)]
    for user in users[1:]:
        mute(session, user, K.ATTESTATION_INVALIDATED, K.REFUSED)
    dgfip = make_organization(session, OrganizationKind.DGFIP)
    instructors = [make_user(session, dgfip, dgfip_function=DgfipFunction.INSTRUCTEUR) for _ in range(members)]
    for instructor in instructors[1:]:
        mute(session, instructor, K.SUBMISSION_TO_INSTRUCT)
    session.flush()

    with count_statements(connection) as optional:
        optional_recipients = member_emails(session, {organization.id}, kind=K.ATTESTATION_INVALIDATED)
    with count_statements(connection) as decision:
        decision_recipients = member_emails(
            session, {organization.id}, kind=K.REFUSED, also_to=["rt@commune.fr", users[-1].email]
        )
    with count_statements(connection) as agents:
        agent_recipients = dgfip_instructors(session, receiving=K.SUBMISSION_TO_INSTRUCT)

    assert (len(optional), len(decision), len(agents)) == (1, 1, 1)
    assert optional_recipients == [users[0].email]
    assert decision_recipients == sorted([users[0].email, "rt@commune.fr"])
    assert [user.email for user in agent_recipients] == [instructors[0].email]


def test_a_submission_reads_its_recipients_in_two_statements_however_many_there_are(
    connection: Connection, session: Session
) -> None:
    def preference_lookups(colleagues: int) -> int:
        cast = make_cast(session)
        collectivite = cast.collectivite.memberships[0].organization
        dgfip = cast.instructeur.memberships[0].organization
        for _ in range(colleagues):
            make_user(session, collectivite)
            make_user(session, dgfip, dgfip_function=DgfipFunction.INSTRUCTEUR)
        request = build(session, cast, Situation.FRESH_DRAFT)
        with count_statements(connection) as statements:
            take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
        return len([statement for statement in statements if "notification_preferences" in statement])

    assert preference_lookups(0) == preference_lookups(6) == 2


# --- the unsubscribe link of DGFiP emails -------------------------------------------------------------------


def _submitted_mail_to_instructor(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> ReceivedMail:
    request = build(session, cast, Situation.FRESH_DRAFT)
    start_afresh(session, smtp_server, outbox_settings)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    deliver(session, smtp_server, outbox_settings)
    [mail] = smtp_server.to(cast.instructeur.email)
    return mail


def _path(url: str) -> str:
    return url.removeprefix("http://tracker.test")


def test_dgfip_emails_carry_the_link_and_the_one_click_headers_others_do_not(
    session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    mail = _submitted_mail_to_instructor(session, cast, smtp_server, outbox_settings)

    url = unsubscribe_url(cast.instructeur.id, K.SUBMISSION_TO_INSTRUCT)
    assert url.startswith("http://tracker.test/notifications/desinscription/")
    assert mail.message["List-Unsubscribe"] == f"<{url}>"
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{UNSUBSCRIBE} : {url}" in mail.text
    assert f'<a href="{url}" style="color:#000091;">{UNSUBSCRIBE}</a>' in mail.html
    [to_collectivite] = smtp_server.to(cast.collectivite.email)
    assert to_collectivite.message["List-Unsubscribe"] is None
    assert to_collectivite.message["List-Unsubscribe-Post"] is None
    assert UNSUBSCRIBE not in to_collectivite.text and UNSUBSCRIBE not in to_collectivite.html


def test_the_header_holds_the_url_itself_not_encoded_words(session: Session, cast: Cast) -> None:
    """Folded by the default policy, a long URL becomes « =?utf-8?q?…?= » pieces that no mail client
    reads as a URL: the header is written on one line, as RFC 2369 shows it."""
    request = build(session, cast, Situation.FRESH_DRAFT)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    message = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient == cast.instructeur.email, OutboxMessage.habilitation_request_id == request.id
        )
    ).one()

    raw = build_email(message, "Habilitations <ne-pas-repondre@exemple.fr>", now=datetime.now(UTC)).as_bytes()

    url = unsubscribe_url(cast.instructeur.id, K.SUBMISSION_TO_INSTRUCT)
    assert f"\nList-Unsubscribe: <{url}>\n".encode() in raw
    assert b"\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n" in raw


def test_the_link_shows_a_confirmation_and_only_the_post_unsubscribes(
    client: FlaskClient, session: Session, cast: Cast, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    mail = _submitted_mail_to_instructor(session, cast, smtp_server, outbox_settings)
    url = _path(re.search(r"<([^>]+)>", mail.message["List-Unsubscribe"]).group(1))

    page = client.get(url)

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    body = html.unescape(page.get_data(as_text=True))
    assert "Ne plus recevoir « Nouvelle demande à instruire »" in body
    assert cast.instructeur.email in body
    assert f'<button class="fr-btn" type="submit">{UNSUBSCRIBE}</button>' in body
    assert stored(session, cast.instructeur) == {}, "fetching the link (a link scanner) changes nothing"

    done = client.post(url)

    assert done.status_code == 200
    body = html.unescape(done.get_data(as_text=True))
    assert "Désinscription enregistrée" in body
    assert "Vous ne recevrez plus les courriels « Nouvelle demande à instruire »" in body
    assert 'href="/compte/notifications"' in body
    assert stored(session, cast.instructeur) == {K.SUBMISSION_TO_INSTRUCT: False}
    [entry] = audit_entries(session, cast.instructeur)
    assert entry.details == {"turned_off": ["submission_to_instruct"], "turned_on": [], "via": "unsubscribe_link"}
    again = html.unescape(client.get(url).get_data(as_text=True))
    assert "Vous ne recevez déjà plus ces courriels" in again

    # The next submission reaches the collectivité, not this instructor.
    smtp_server.clear()
    request = build(session, cast, Situation.FRESH_DRAFT)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    deliver(session, smtp_server, outbox_settings)
    assert cast.instructeur.email not in recipients(smtp_server)


def test_a_mail_clients_one_click_post_needs_no_csrf_token(
    client: FlaskClient, session: Session, cast: Cast, csrf_on: None
) -> None:
    url = _path(unsubscribe_url(cast.instructeur.id, K.HABILITATION_EXPIRED))

    response = client.post(url, data={"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert stored(session, cast.instructeur) == {K.HABILITATION_EXPIRED: False}
    [entry] = audit_entries(session, cast.instructeur)
    assert entry.details["via"] == "one_click"
    # The exemption is this route's only: the preferences page still wants its token.
    login(client, session, cast.instructeur)
    assert client.post("/compte/notifications", data={}).status_code == 400


class _SignedLastYear(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 366 * 24 * 3600


def _bad_tokens(app: Flask, cast: Cast) -> dict[str, str]:
    good = unsubscribe_token(cast.instructeur.id, K.SUBMISSION_TO_INSTRUCT)
    someone_else = unsubscribe_token(cast.collectivite.id, K.SUBMISSION_TO_INSTRUCT)
    secret = app.config["SECRET_KEY"]
    return {
        "garbage": "pas-un-jeton",
        "truncated": good[:-6],
        # The payload of another user's token under this one's signature: naming someone else fails.
        "tampered": someone_else.split(".")[0] + "." + good.split(".", 1)[1],
        "expired": URLSafeTimedSerializer(secret, salt=SALT, signer=_SignedLastYear).dumps(
            {"user": cast.instructeur.id, "kind": "submission_to_instruct"}
        ),
        "other purpose": URLSafeTimedSerializer(secret, salt="autre-usage").dumps(
            {"user": cast.instructeur.id, "kind": "submission_to_instruct"}
        ),
        "not a preference": URLSafeTimedSerializer(secret, salt=SALT).dumps(
            {"user": cast.instructeur.id, "kind": "invitation"}
        ),
        "unknown kind": URLSafeTimedSerializer(secret, salt=SALT).dumps({"user": cast.instructeur.id, "kind": "x"}),
        "unknown user": URLSafeTimedSerializer(secret, salt=SALT).dumps(
            {"user": 987654321, "kind": "submission_to_instruct"}
        ),
        "not an object": URLSafeTimedSerializer(secret, salt=SALT).dumps([cast.instructeur.id]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "truncated",
        "tampered",
        "expired",
        "other purpose",
        "not a preference",
        "unknown kind",
        "unknown user",
        "not an object",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_link_gets_a_clear_french_answer_and_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, cast: Cast, case: str, method: str
) -> None:
    token = _bad_tokens(app, cast)[case]

    response = client.open(f"/notifications/desinscription/{token}", method=method)

    assert response.status_code == 400
    body = html.unescape(response.get_data(as_text=True))
    assert "Ce lien de désinscription n'est pas valable" in body
    assert "Il est incomplet, il a été modifié, ou il a expiré" in body
    assert stored(session, cast.instructeur) == {}


def test_the_worker_refuses_a_header_a_message_may_not_set(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    message = OutboxMessage(
        kind="email",
        template="notice",
        recipient="agent@dgfip.fr",
        subject="Objet",
        body_text="Corps.",
        body_html=None,
        status=OutboxStatus.PENDING,
        details={"headers": {"Bcc": "espion@exemple.fr"}},
    )
    session.add(message)
    session.commit()

    report = deliver_due(session, outbox_settings, worker_id="headers")

    assert (report.sent, report.failed) == (0, 1)
    session.refresh(message)
    assert message.status is OutboxStatus.FAILED
    assert "Bcc" in message.last_error
    assert smtp_server.received() == []


def test_a_choice_saved_meanwhile_by_another_transaction_is_updated_not_duplicated(
    session: Session, cast: Cast
) -> None:
    """The one-click POST of a mail client and the person's own click may insert the same row at once;
    the second insert meets the unique constraint and updates the row the first one wrote."""
    session.add(NotificationPreference(user_id=cast.instructeur.id, kind=K.HABILITATION_EXPIRED, is_enabled=False))
    session.flush()

    row = _new_preference_row(session, cast.instructeur.id, K.HABILITATION_EXPIRED)

    assert row.is_enabled is False
    assert stored(session, cast.instructeur) == {K.HABILITATION_EXPIRED: False}
