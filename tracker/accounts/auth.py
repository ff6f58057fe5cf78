"""Flask-Login wiring: the cookie names a server-side session, checked at every request."""

from __future__ import annotations

from flask import Flask, g, session
from flask_login import UserMixin

from tracker.accounts.models import User
from tracker.accounts.principal import Principal
from tracker.accounts.services import load_auth_session
from tracker.db import db
from tracker.extensions import login_manager

SESSION_TOKEN_KEY = "sid"


class LoggedInUser(UserMixin):
    """What Flask-Login holds: a thin wrapper, so the ORM object keeps its own ``is_active`` column."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.id = user.id

    def __getattr__(self, name: str) -> object:
        return getattr(self.user, name)


@login_manager.user_loader
def _load_user(user_id: str) -> LoggedInUser | None:
    token = session.get(SESSION_TOKEN_KEY)
    if not token:
        return None
    auth_session = load_auth_session(db.session, token)
    if auth_session is None or str(auth_session.user_id) != user_id:
        session.clear()
        return None
    g.principal = Principal(auth_session.user, auth_session.membership)
    g.auth_session_touched = bool(db.session.dirty)
    return LoggedInUser(auth_session.user)


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.after_request
    def _persist_session_touch(response):  # type: ignore[no-untyped-def]
        # The idle-timeout clock is written at most once a minute, after the view's own commit.
        if g.pop("auth_session_touched", False):
            db.session.commit()
        return response
