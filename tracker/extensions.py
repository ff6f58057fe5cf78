"""Flask extensions, created once and bound in ``create_app``."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf import CSRFProtect


def _client_address() -> str:
    return request.remote_addr or "inconnu"


csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=_client_address, default_limits=[])
