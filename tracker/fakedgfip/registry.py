"""The API manager's memory: provisioned clients, their hashed secrets, access tokens and quota windows.

Secrets and access tokens are random 256-bit values, so a plain SHA-256 is enough to store them (nothing
to brute-force); they are compared in constant time. One lock guards everything: the server is
threaded and the work under the lock is a few dictionary operations.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

Clock = Callable[[], datetime]

QUOTA_WINDOW = timedelta(minutes=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass
class StoredSecret:
    digest: bytes
    # None while it is the current secret; once rotated, the end of its overlap period.
    valid_until: datetime | None = None


@dataclass
class Client:
    client_id: str
    id_teleservice: str
    oauth_scopes: frozenset[str]
    datapass_scopes: frozenset[str]
    quota_per_minute: int
    expires_on: date | None
    label: str
    secrets: list[StoredSecret] = field(default_factory=list)
    revoked_at: datetime | None = None
    calls: deque[datetime] = field(default_factory=deque)

    def is_usable(self, now: datetime) -> bool:
        """Neither revoked nor past its expiry date (valid through ``expires_on`` inclusive)."""
        return self.revoked_at is None and (self.expires_on is None or now.date() <= self.expires_on)


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime


class Registry:
    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}
        self._tokens: dict[bytes, AccessToken] = {}

    def provision(
        self,
        *,
        id_teleservice: str,
        oauth_scopes: Collection[str],
        datapass_scopes: Collection[str],
        quota_per_minute: int,
        expires_on: date | None,
        label: str,
    ) -> tuple[Client, str]:
        """A new client and its secret, returned once and kept only as a digest."""
        secret = secrets.token_urlsafe(32)
        client = Client(
            client_id=secrets.token_hex(16),
            id_teleservice=id_teleservice,
            oauth_scopes=frozenset(oauth_scopes),
            datapass_scopes=frozenset(datapass_scopes),
            quota_per_minute=quota_per_minute,
            expires_on=expires_on,
            label=label,
            secrets=[StoredSecret(_digest(secret))],
        )
        with self._lock:
            self._clients[client.client_id] = client
        return client, secret

    def get(self, client_id: str) -> Client | None:
        with self._lock:
            return self._clients.get(client_id)

    def revoke(self, client_id: str) -> bool:
        """Revoke a client; its tokens fail from the next call on. False if unknown."""
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                return False
            if client.revoked_at is None:
                client.revoked_at = self.clock()
            self._tokens = {key: token for key, token in self._tokens.items() if token.client_id != client_id}
            return True

    def rotate_secret(self, client_id: str, *, overlap: timedelta) -> tuple[str, datetime] | None:
        """A new current secret; the previous one keeps working for ``overlap``. None if unknown or revoked."""
        secret = secrets.token_urlsafe(32)
        with self._lock:
            client = self._clients.get(client_id)
            if client is None or client.revoked_at is not None:
                return None
            now = self.clock()
            previous_until = now + overlap
            kept = []
            for stored in client.secrets:
                until = previous_until if stored.valid_until is None else min(stored.valid_until, previous_until)
                if until > now:
                    kept.append(StoredSecret(stored.digest, until))
            client.secrets = [*kept, StoredSecret(_digest(secret))]
            return secret, previous_until

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        """The client if the secret is one of its live secrets and the client is usable, else None."""
        candidate = _digest(secret)
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                return None
            now = self.clock()
            matches = [
                hmac.compare_digest(candidate, stored.digest)
                for stored in client.secrets
                if stored.valid_until is None or now < stored.valid_until
            ]
            return client if any(matches) and client.is_usable(now) else None

    def issue_token(self, client: Client, scopes: Collection[str], *, lifetime: timedelta) -> tuple[str, AccessToken]:
        value = secrets.token_urlsafe(32)
        token = AccessToken(client.client_id, frozenset(scopes), self.clock() + lifetime)
        with self._lock:
            now = self.clock()
            # Expired tokens are dropped here so a long-running stand-in does not grow without bound.
            self._tokens = {key: t for key, t in self._tokens.items() if t.expires_at > now}
            self._tokens[_digest(value)] = token
        return value, token

    def resolve_token(self, value: str) -> tuple[AccessToken, Client] | None:
        """The live token and its client, or None (unknown, expired, or its client revoked or expired)."""
        with self._lock:
            token = self._tokens.get(_digest(value))
            if token is None:
                return None
            now = self.clock()
            client = self._clients[token.client_id]
            if now >= token.expires_at or not client.is_usable(now):
                return None
            return token, client

    def take_quota(self, client: Client) -> int | None:
        """Count one call; None if it fits in the client's calls per minute, else seconds until it would."""
        with self._lock:
            now = self.clock()
            while client.calls and client.calls[0] <= now - QUOTA_WINDOW:
                client.calls.popleft()
            if len(client.calls) >= client.quota_per_minute:
                wait = (client.calls[0] + QUOTA_WINDOW - now).total_seconds()
                return max(1, math.ceil(wait))
            client.calls.append(now)
            return None
