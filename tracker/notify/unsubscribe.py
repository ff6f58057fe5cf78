"""Signed unsubscribe tokens: « this user no longer wants this kind of notification », without a login.

The token is the only proof the link's holder got the email, so it is signed with the app's secret key
under its own salt (a token signed for another purpose of the app can never pass for one of these) and
names both the user and the kind. It stays valid for a year: a notification may be read, or its link
followed, long after it was sent, and what it allows (turning one notification off, undone from « Mes
notifications ») is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from tracker.notify.kinds import NotificationKind

SALT = "tracker.notify.unsubscribe"
VALIDITY = timedelta(days=365)


class InvalidUnsubscribeToken(Exception):
    pass


@dataclass(frozen=True)
class Unsubscription:
    user_id: int
    kind: NotificationKind


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def unsubscribe_token(user_id: int, kind: NotificationKind) -> str:
    if not kind.is_preference:
        raise ValueError(f"{kind} is not a notification a user can turn off")
    return _serializer().dumps({"user": user_id, "kind": kind.value})


def unsubscribe_url(user_id: int, kind: NotificationKind) -> str:
    """Absolute, from BASE_URL: it is written in emails, outside any request."""
    base_url = current_app.config["BASE_URL"].rstrip("/")
    return f"{base_url}/notifications/desinscription/{unsubscribe_token(user_id, kind)}"


def read_unsubscribe_token(token: str) -> Unsubscription:
    """The user and kind a token names; ``InvalidUnsubscribeToken`` if it is forged, altered, expired or
    names something that is not (or no longer) a notification one can turn off."""
    try:
        payload = _serializer().loads(token, max_age=int(VALIDITY.total_seconds()))
    except BadData as error:  # bad signature, expired, truncated, not base64, not JSON…
        raise InvalidUnsubscribeToken(str(error)) from error
    if not isinstance(payload, dict):
        raise InvalidUnsubscribeToken("payload is not an object")
    user_id, kind = payload.get("user"), payload.get("kind")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(kind, str):
        raise InvalidUnsubscribeToken("payload does not name a user and a kind")
    try:
        notification = NotificationKind(kind)
    except ValueError as error:
        raise InvalidUnsubscribeToken(f"unknown kind {kind!r}") from error
    if not notification.is_preference:
        raise InvalidUnsubscribeToken(f"{kind!r} cannot be turned off")
    return Unsubscription(user_id, notification)
