"""Whether the vault is open in this application, and with which keys.

The key ring is read from the configuration once per application, on first use (so that commands which
never touch the vault never create the development key file). The database then adds one more way to be
sealed: rows encrypted under a key id the ring does not hold, as after configuring the wrong keys.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.vault.keys import KeyRing, VaultSealed, load_key_ring
from tracker.vault.models import ApiCredential

logger = logging.getLogger(__name__)

EXTENSION_NAME = "tracker_vault"
_loading = threading.Lock()


@dataclass(frozen=True)
class VaultState:
    """The key ring, or why there is none."""

    ring: KeyRing | None
    sealed_reason: str | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VaultState:
        try:
            return cls(load_key_ring(config))
        except VaultSealed as sealed:
            logger.warning("vault sealed: %s", sealed.message)
            return cls(None, sealed.message)

    @property
    def is_sealed(self) -> bool:
        return self.ring is None

    def key_ring(self) -> KeyRing:
        if self.ring is None:
            raise VaultSealed(self.sealed_reason or "Coffre scellé.")
        return self.ring


def vault_state(app: Flask | None = None) -> VaultState:
    """This application's vault, loaded from its configuration on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get(EXTENSION_NAME)
    if state is None:
        with _loading:
            state = app.extensions.get(EXTENSION_NAME)
            if state is None:
                state = VaultState.from_config(app.config)
                app.extensions[EXTENSION_NAME] = state
    return state


def current_key_ring() -> KeyRing:
    """The configured keys, or ``VaultSealed``."""
    return vault_state().key_ring()


def rows_per_key_id(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(ApiCredential.key_id, func.count()).group_by(ApiCredential.key_id).order_by(ApiCredential.key_id)
    ).all()
    return {key_id: count for key_id, count in rows}


def unknown_key_ids(session: Session, ring: KeyRing) -> list[str]:
    """Key ids that rows are encrypted under but the ring does not hold."""
    used = session.execute(select(ApiCredential.key_id).distinct()).scalars()
    return sorted(key_id for key_id in used if ring.get(key_id) is None)


def open_key_ring(session: Session, state: VaultState | None = None) -> KeyRing:
    """The key ring if every stored row can be decrypted with it, else ``VaultSealed`` saying why."""
    ring = (state or vault_state()).key_ring()
    missing = unknown_key_ids(session, ring)
    if missing:
        names = ", ".join(f"« {key_id} »" for key_id in missing)
        raise VaultSealed(
            f"Coffre scellé : des accès sont chiffrés avec la clé {names}, absente de TRACKER_VAULT_KEYS. "
            "Ajoutez-la à la liste (après la clé courante), puis relancez « tracker vault rotate »."
        )
    return ring
