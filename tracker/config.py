"""Configuration: safe defaults, overridden by ``TRACKER_*`` environment variables.

Production mode (``TRACKER_ENV=production``) refuses to start with settings that would be unsafe there,
rather than running with them and hoping someone notices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "instance" / "tracker.sqlite3"
DEFAULT_DOCUMENTS_DIRECTORY = PROJECT_ROOT / "instance" / "documents"
DEFAULT_DOSSIERS_DIRECTORY = PROJECT_ROOT / "instance" / "dossiers"
# Where ``tracker dossier init-signing-key`` writes, and where development looks, for the dossier signing pair.
DEFAULT_SIGNING_DIRECTORY = PROJECT_ROOT / "instance" / "signing"
SIGNING_KEY_FILE_NAME = "dossier-signing-key.pem"
SIGNING_CERT_FILE_NAME = "dossier-signing-cert.pem"
# The credentials vault's master key, generated there on first use in development only (never elsewhere).
DEFAULT_VAULT_KEY_FILE = PROJECT_ROOT / "instance" / "vault" / "master.key"

# Well-known placeholder values that must never protect a production deployment.
UNSAFE_SECRET_KEYS = frozenset({"", "dev", "changeme", "change-me", "secret", "development-only-secret-key"})
DEVELOPMENT_SECRET_KEY = "development-only-secret-key"
DEFAULT_DEMO_PASSWORD = "Démo-Habilitations-2026"
KNOWN_ENVIRONMENTS = frozenset({"development", "production"})


class UnsafeConfigurationError(RuntimeError):
    """Raised at start-up when production settings are unsafe."""


@dataclass(frozen=True)
class Argon2Parameters:
    time_cost: int
    memory_cost_kib: int
    parallelism: int


# OWASP's argon2id recommendation (m=46 MiB, t=1) is the floor; we stay above it in production.
PRODUCTION_ARGON2 = Argon2Parameters(time_cost=3, memory_cost_kib=65536, parallelism=4)
# Tests hash many passwords; their accounts protect nothing.
TEST_ARGON2 = Argon2Parameters(time_cost=1, memory_cost_kib=1024, parallelism=1)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"TRACKER_{name}", default)


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return default if value is None else int(value)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config from defaults, the environment, then explicit overrides (tests)."""
    environment = _env("ENV", "development")
    is_production = environment == "production"
    config: dict[str, Any] = {
        "ENV_NAME": environment,
        "DEBUG": _env_bool("DEBUG", False),
        "TESTING": False,
        "SECRET_KEY": _env("SECRET_KEY", "" if is_production else DEVELOPMENT_SECRET_KEY),
        "DATABASE_URL": _env("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}"),
        "DATABASE_ECHO": _env_bool("DATABASE_ECHO", False),
        "BASE_URL": _env("BASE_URL", "http://127.0.0.1:5000"),
        # Sessions: the cookie only carries an opaque id; the server row enforces both timeouts.
        "SESSION_COOKIE_NAME": "tracker_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", is_production),
        "SESSION_IDLE_TIMEOUT": timedelta(minutes=_env_int("SESSION_IDLE_MINUTES", 30)),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_env_int("SESSION_ABSOLUTE_HOURS", 12)),
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        # A whole form: several documents of 10 MB each (the per-file limit is checked on its own).
        "MAX_CONTENT_LENGTH": _env_int("MAX_UPLOAD_BYTES", 64 * 1024 * 1024),
        "DOCUMENTS_DIRECTORY": _env("DOCUMENTS_DIR", str(DEFAULT_DOCUMENTS_DIRECTORY)),
        # Generated dossiers live apart from the uploads: the sweep of orphan uploads never sees them.
        "DOSSIERS_DIRECTORY": _env("DOSSIERS_DIR", str(DEFAULT_DOSSIERS_DIRECTORY)),
        # The web process renders queued dossiers itself (a background thread) unless a worker does:
        # on by default outside production, so that `make run` needs no second process.
        "DOSSIERS_IN_PROCESS": _env_bool("DOSSIERS_IN_PROCESS", not is_production),
        "DOSSIER_RENDER_TIMEOUT_SECONDS": _env_int("DOSSIER_RENDER_TIMEOUT_SECONDS", 60),
        # Files without a row younger than this may belong to an upload still in its transaction.
        "ORPHAN_GRACE": timedelta(hours=_env_int("ORPHAN_GRACE_HOURS", 1)),
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "ARGON2": PRODUCTION_ARGON2,
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_FAILURES_PER_ACCOUNT": _env("LOGIN_FAILURES_PER_ACCOUNT", "5 per 15 minutes"),
        "LOGIN_FAILURES_PER_ADDRESS": _env("LOGIN_FAILURES_PER_ADDRESS", "30 per 15 minutes"),
        # Wrong passwords before a user may ask to reveal a secret again, and the connector API's rate per token.
        "VAULT_REVEAL_FAILURES_PER_USER": _env("VAULT_REVEAL_FAILURES_PER_USER", "5 per 15 minutes"),
        "CONNECTOR_CALLS_PER_MINUTE": _env("CONNECTOR_CALLS_PER_MINUTE", "60 per minute"),
        "INVITATION_LIFETIME": timedelta(days=_env_int("INVITATION_DAYS", 7)),
        "INSTRUCTION_DEADLINE_MONTHS": 2,
        # The adhesion board flags a file without any move for this many days (changeable on the page).
        "STALLED_DAYS": _env_int("STALLED_DAYS", 60),
        "SMTP_HOST": _env("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": _env_int("SMTP_PORT", 1025),
        "SMTP_USERNAME": _env("SMTP_USERNAME"),
        "SMTP_PASSWORD": _env("SMTP_PASSWORD"),
        "SMTP_STARTTLS": _env_bool("SMTP_STARTTLS", False),
        "SMTP_TIMEOUT_SECONDS": _env_int("SMTP_TIMEOUT_SECONDS", 10),
        # The DGFiP's API-management team, told of each approval so that it opens the accesses (DOMAIN §10).
        "API_MANAGEMENT_EMAIL": _env("API_MANAGEMENT_EMAIL", "gestion-api@dgfip.exemple.fr"),
        "MAIL_FROM": _env("MAIL_FROM", "Habilitations DGFiP <ne-pas-repondre@habilitations.exemple.fr>"),
        "OUTBOX_MAX_ATTEMPTS": _env_int("OUTBOX_MAX_ATTEMPTS", 8),
        "OUTBOX_BACKOFF_SECONDS": _env_int("OUTBOX_BACKOFF_SECONDS", 30),
        "OUTBOX_LEASE_SECONDS": _env_int("OUTBOX_LEASE_SECONDS", 300),
        "DEMO_PASSWORD": _env("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD),
        **_dossier_signing_settings(is_production),
        **_vault_settings(is_production),
    }
    if overrides:
        config.update(overrides)
    check_production_safety(config)
    return config


def _dossier_signing_settings(is_production: bool) -> dict[str, Any]:
    """Paths to the PEM key and certificate that sign the PDF dossiers.

    Development falls back to a pair under ``instance/signing``, created on first use; production has no
    default, so a missing key makes the dossier features say that signing is not configured instead of
    signing with a key nobody chose.
    """
    key_path = _env("DOSSIER_SIGNING_KEY")
    cert_path = _env("DOSSIER_SIGNING_CERT")
    development_defaults = not is_production and key_path is None and cert_path is None
    if development_defaults:
        key_path = str(DEFAULT_SIGNING_DIRECTORY / SIGNING_KEY_FILE_NAME)
        cert_path = str(DEFAULT_SIGNING_DIRECTORY / SIGNING_CERT_FILE_NAME)
    previous = _env("DOSSIER_SIGNING_PREVIOUS_CERTS", "") or ""
    return {
        "DOSSIER_SIGNING_KEY": key_path,
        "DOSSIER_SIGNING_CERT": cert_path,
        "DOSSIER_SIGNING_KEY_PASSWORD": _env("DOSSIER_SIGNING_KEY_PASSWORD"),
        # Certificates of keys used before a rotation: dossiers they signed must keep verifying.
        "DOSSIER_SIGNING_PREVIOUS_CERTS": tuple(path.strip() for path in previous.split(os.pathsep) if path.strip()),
        # Only the development default location is ever filled in automatically; a path someone chose is not.
        "DOSSIER_SIGNING_GENERATE_MISSING": development_defaults,
    }


def _vault_settings(is_production: bool) -> dict[str, Any]:
    """The credentials vault's master keys: ``id:base64url(32 bytes)``, comma-separated, the first one encrypting.

    Without keys the vault stays sealed; only development, and only when no key is configured, falls back to
    a key file under ``instance/vault`` that the vault creates on first use.
    """
    keys = _env("VAULT_KEYS")
    development_fallback = not is_production and keys is None
    return {
        "VAULT_KEYS": keys,
        "VAULT_DEVELOPMENT_KEY_FILE": str(DEFAULT_VAULT_KEY_FILE) if development_fallback else None,
        # The API manager's provisioning endpoint (the local stand-in in development, `tracker fake-dgfip`)
        # and its bearer token. Unset, instructors record by hand the credentials DGFiP issued.
        "VAULT_PROVISIONING_URL": _env("VAULT_PROVISIONING_URL"),
        "VAULT_PROVISIONING_TOKEN": _env("VAULT_PROVISIONING_TOKEN"),
        "VAULT_PROVISIONING_TIMEOUT_SECONDS": _env_int("VAULT_PROVISIONING_TIMEOUT_SECONDS", 10),
        # How long a renewed secret's predecessor keeps working, so that connectors have time to switch.
        "VAULT_ROTATION_OVERLAP_HOURS": _env_int("VAULT_ROTATION_OVERLAP_HOURS", 24),
        # The quota asked for a sandbox client, whose request has no « volumétrie » section.
        "VAULT_SANDBOX_QUOTA_PER_MINUTE": _env_int("VAULT_SANDBOX_QUOTA_PER_MINUTE", 50),
    }


def check_production_safety(config: dict[str, Any]) -> None:
    if config["ENV_NAME"] not in KNOWN_ENVIRONMENTS:
        # A typo (« prod », « Production ») must not silently start with the development defaults.
        raise UnsafeConfigurationError(
            f"Démarrage refusé : TRACKER_ENV vaut « {config['ENV_NAME']} » ; valeurs possibles : "
            + ", ".join(sorted(KNOWN_ENVIRONMENTS))
            + "."
        )
    if config["ENV_NAME"] != "production":
        return
    problems = []
    if (config.get("SECRET_KEY") or "") in UNSAFE_SECRET_KEYS or len(config["SECRET_KEY"]) < 32:
        problems.append("TRACKER_SECRET_KEY est absente, trop courte ou égale à une valeur par défaut")
    if config.get("DEBUG"):
        problems.append("le mode debug est activé (TRACKER_DEBUG)")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("les cookies de session doivent être Secure en production")
    if problems:
        raise UnsafeConfigurationError("Démarrage refusé en production : " + " ; ".join(problems) + ".")
