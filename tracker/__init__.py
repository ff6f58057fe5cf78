"""Habilitations DGFiP: the contractualisation workflow for the API Impôt particulier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from tracker.config import PROJECT_ROOT, load_config

TEMPLATES_DIRECTORY = PROJECT_ROOT / "templates"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Config → database → extensions → blueprints → errors → CLI."""
    app = Flask(
        __name__,
        template_folder=str(TEMPLATES_DIRECTORY),
        static_folder=str(Path(__file__).parent / "static"),
    )
    app.config.update(load_config(config))

    from tracker.accounts.passwords import PasswordHashing
    from tracker.db import db
    from tracker.documents.storage import LocalStorage
    from tracker.extensions import csrf, limiter

    db.init_app(app)
    app.extensions["tracker_passwords"] = PasswordHashing(app.config["ARGON2"])
    app.extensions["tracker_storage"] = LocalStorage(Path(app.config["DOCUMENTS_DIRECTORY"]))
    csrf.init_app(app)
    limiter.init_app(app)

    from tracker.accounts.auth import init_auth

    init_auth(app)

    from tracker.web import register_web

    register_web(app)

    from tracker.accounts.views import blueprint as accounts_blueprint
    from tracker.attestations.views import blueprint as attestations_blueprint
    from tracker.documents.views import blueprint as documents_blueprint
    from tracker.dossiers.views import blueprint as dossiers_blueprint
    from tracker.habilitations.views import blueprint as habilitations_blueprint
    from tracker.instruction.message_views import blueprint as messages_blueprint
    from tracker.instruction.statistics_views import blueprint as statistics_blueprint
    from tracker.instruction.views import blueprint as instruction_blueprint
    from tracker.main.views import blueprint as main_blueprint
    from tracker.notify.views import blueprint as notify_blueprint
    from tracker.products.views import blueprint as products_blueprint
    from tracker.vault.connector_views import register_handover
    from tracker.vault.issuing_views import blueprint as vault_issuing_blueprint
    from tracker.vault.views import blueprint as vault_blueprint

    app.register_blueprint(main_blueprint)
    app.register_blueprint(accounts_blueprint)
    app.register_blueprint(habilitations_blueprint)
    app.register_blueprint(documents_blueprint)
    app.register_blueprint(dossiers_blueprint)
    app.register_blueprint(attestations_blueprint)
    app.register_blueprint(instruction_blueprint)
    app.register_blueprint(statistics_blueprint)
    app.register_blueprint(messages_blueprint)
    app.register_blueprint(products_blueprint)
    app.register_blueprint(notify_blueprint)
    app.register_blueprint(vault_blueprint)
    app.register_blueprint(vault_issuing_blueprint)
    register_handover(app)

    from tracker.templating import register_templating

    register_templating(app)
    return app
