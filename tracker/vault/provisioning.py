"""A client of DGFiP's API manager (APIM) provisioning endpoint: create an OAuth2 client for a habilitation,
give it a new secret, revoke it. The local stand-in (``tracker fake-dgfip``) serves the same contract.

What to ask for follows from the habilitation as DGFiP approved it (its snapshot, never the live request):
the DataPass scopes granted in the « donnees » section, the OAuth resources those scopes need
(``OAUTH_RESOURCES_BY_SCOPE``), the quota of the « volumétrie » section (production) or a sandbox default,
and the habilitation's expiry date.

Plain HTTP with urllib, with a timeout, HTTPS only (plain HTTP on the loopback only, for the stand-in), no
redirects followed. Every failure is a ``ProvisioningError`` with a French message that never quotes a
secret or the provisioning token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from flask import current_app

from tracker.catalogue import scopes as catalogue_scopes
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Stage
from tracker.vault.models import ApiCredential

logger = logging.getLogger(__name__)

RESOURCE_IR = "RessourceIR"
RESOURCE_IR_LAST_TWO_YEARS = "RessourceIRDerniere2"
RESOURCE_IFI = "RessourceIFI"

# The APIM resources (OAuth scopes) each DataPass scope needs: the year scopes open the endpoint that
# serves those years (``/situations/ir/assiettes/annrev/{annrev}``, or ``/dernieresituation/…/deuxans``
# for « N-2 if N-1 is not available yet »), the IFI indicator opens the IFI endpoint. Data items that are
# not years only say which fields those endpoints answer with: they add no resource.
OAUTH_RESOURCES_BY_SCOPE: Mapping[str, tuple[str, ...]] = {
    catalogue_scopes.N_MOINS_1: (RESOURCE_IR,),
    catalogue_scopes.N_MOINS_2: (RESOURCE_IR,),
    catalogue_scopes.N_MOINS_3: (RESOURCE_IR,),
    catalogue_scopes.DECES_31_12: (RESOURCE_IR,),
    catalogue_scopes.N_MOINS_2_SI_INDISPO: (RESOURCE_IR_LAST_TWO_YEARS,),
    catalogue_scopes.IFI: (RESOURCE_IFI,),
}
RESOURCE_ORDER = (RESOURCE_IR, RESOURCE_IR_LAST_TWO_YEARS, RESOURCE_IFI)

DONNEES_SECTION = "sandbox/donnees"
VOLUMETRIE_SECTION = "production/volumetrie"
MAX_RESPONSE_BYTES = 1_000_000


class ProvisioningError(Exception):
    """The API manager could not do what was asked; ``message`` says why in French."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ProvisioningNotConfigured(ProvisioningError):
    pass


@dataclass(frozen=True)
class ProvisioningOrder:
    """What the tracker asks the API manager for, derived from one habilitation."""

    oauth_scopes: list[str]
    datapass_scopes: list[str]
    quota_per_minute: int
    expires_on: date | None
    label: str

    def as_json(self) -> dict[str, Any]:
        return {
            "oauth_scopes": self.oauth_scopes,
            "datapass_scopes": self.datapass_scopes,
            "quota_per_minute": self.quota_per_minute,
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "label": self.label,
        }


@dataclass(frozen=True)
class IssuedClient:
    """A client the API manager created. ``client_secret`` is a plaintext: hand it to the vault, nowhere else."""

    client_id: str
    client_secret: str
    id_teleservice: str
    oauth_scopes: list[str]
    datapass_scopes: list[str]
    token_url: str
    api_base_url: str
    quota_per_minute: int | None
    expires_on: date | None

    def __repr__(self) -> str:  # never let a secret reach a log line or a traceback through repr
        return f"IssuedClient(client_id={self.client_id!r}, client_secret=<masqué>)"


@dataclass(frozen=True)
class RotatedSecret:
    client_secret: str
    previous_secret_valid_until: datetime | None

    def __repr__(self) -> str:
        return (
            f"RotatedSecret(client_secret=<masqué>, previous_secret_valid_until={self.previous_secret_valid_until!r})"
        )


# --- what to ask for ------------------------------------------------------------------------------------


def oauth_resources_for(datapass_scopes: list[str]) -> list[str]:
    """The APIM resources the granted DataPass scopes need, in a stable order."""
    needed = {resource for scope in datapass_scopes for resource in OAUTH_RESOURCES_BY_SCOPE.get(scope, ())}
    return [resource for resource in RESOURCE_ORDER if resource in needed]


def granted_scopes_of(habilitation: Habilitation) -> list[str]:
    """The DataPass scopes of the « donnees » section as DGFiP approved it (the habilitation's snapshot)."""
    section = habilitation.snapshot.get("sections", {}).get(DONNEES_SECTION) or {}
    scopes = (section.get("data") or {}).get("scopes") or []
    return [scope for scope in scopes if isinstance(scope, str)]


def quota_of(habilitation: Habilitation, sandbox_default: int) -> int:
    """Production: the calls per minute of the approved « volumétrie » section; sandbox: the default."""
    if habilitation.stage is Stage.PRODUCTION:
        section = habilitation.snapshot.get("sections", {}).get(VOLUMETRIE_SECTION) or {}
        chosen = str((section.get("data") or {}).get("volumetrie_appels_par_minute") or "")
        if chosen.isdigit() and int(chosen) > 0:
            return int(chosen)
    return sandbox_default


def order_for(habilitation: Habilitation, *, sandbox_quota: int) -> ProvisioningOrder:
    datapass_scopes = granted_scopes_of(habilitation)
    oauth_scopes = oauth_resources_for(datapass_scopes)
    if not oauth_scopes:
        raise ProvisioningError(
            f"L'habilitation {habilitation.number} n'accorde aucune année de revenus ni l'indicateur IFI : "
            "aucune ressource de l'API ne peut lui être ouverte."
        )
    request = habilitation.request
    return ProvisioningOrder(
        oauth_scopes=oauth_scopes,
        datapass_scopes=datapass_scopes,
        quota_per_minute=quota_of(habilitation, sandbox_quota),
        expires_on=habilitation.expires_on,
        label=f"{request.number} {habilitation.number} – {habilitation.stage.label}"[:200],
    )


# --- HTTP -----------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def checked_url(url: str, what: str) -> str:
    """HTTPS, or plain HTTP on the loopback only: a secret never crosses a network in clear."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and is_loopback(host):
        return url
    raise ProvisioningError(f"L'adresse {what} doit être en https:// (http:// seulement en local).")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would send the credentials or the token somewhere nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except (ValueError, UnicodeDecodeError):
            return None


def exchange(
    method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeout: float, what: str
) -> HttpReply:
    """One HTTP exchange; an HTTP error status is returned, a network failure raises ``ProvisioningError``."""
    url = checked_url(url, what)
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if is_loopback(urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))  # the loopback never goes through a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310 (checked)
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpReply(response.status, response.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as error:
        with error:
            return HttpReply(error.code, error.read(MAX_RESPONSE_BYTES))
    except TimeoutError:
        raise ProvisioningError(f"{what[0].upper()}{what[1:]} n'a pas répondu dans les {timeout:g} secondes.") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ProvisioningError(f"{what[0].upper()}{what[1:]} est injoignable ({_network_reason(reason)}).") from None


def _network_reason(reason: object) -> str:
    """The cause in French for the usual cases, else as the system put it."""
    if isinstance(reason, ConnectionRefusedError):
        return "connexion refusée"
    if isinstance(reason, socket.gaierror):
        return "nom d'hôte inconnu"
    if isinstance(reason, TimeoutError):
        return "délai dépassé"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "certificat TLS non reconnu"
    if isinstance(reason, ssl.SSLError):
        return "échec de la négociation TLS"
    return str(reason)


def _error_text(reply: HttpReply) -> str:
    """The API manager's own explanation, if it gave one (``error_description`` or ``erreur.message``)."""
    data = reply.json()
    if isinstance(data, dict):
        if isinstance(data.get("error_description"), str):
            return data["error_description"][:300]
        if isinstance(data.get("erreur"), dict) and isinstance(data["erreur"].get("message"), str):
            return data["erreur"]["message"][:300]
    return ""


def _refusal(reply: HttpReply, action: str) -> ProvisioningError:
    detail = _error_text(reply)
    suffix = f" : {detail}" if detail else "."
    if reply.status in (401, 403):
        return ProvisioningError(
            f"Le gestionnaire d'API refuse {action} (HTTP {reply.status}) : vérifiez le jeton de provisionnement"
            f"{' (' + detail + ')' if detail else ''}.",
            status=reply.status,
        )
    if 400 <= reply.status < 500:
        return ProvisioningError(
            f"Le gestionnaire d'API refuse {action} (HTTP {reply.status}){suffix}", status=reply.status
        )
    return ProvisioningError(
        f"Le gestionnaire d'API est en erreur (HTTP {reply.status}) : réessayez plus tard.", status=reply.status
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ProvisioningError(f"Réponse du gestionnaire d'API illisible : « {key} » manquant.")
    return value


def _optional_date(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ProvisioningError("Réponse du gestionnaire d'API illisible : date d'expiration invalide.") from None


def _string_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProvisioningError(f"Réponse du gestionnaire d'API illisible : « {key} » n'est pas une liste.")
    return value


@dataclass(frozen=True)
class ProvisioningClient:
    base_url: str
    token: str = ""
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProvisioningClient | None:
        """None when the tracker has no provisioning endpoint (credentials are then recorded by hand)."""
        url = (config.get("VAULT_PROVISIONING_URL") or "").strip()
        if not url:
            return None
        return cls(
            base_url=url.rstrip("/"),
            token=config.get("VAULT_PROVISIONING_TOKEN") or "",
            timeout=float(config.get("VAULT_PROVISIONING_TIMEOUT_SECONDS") or 10),
        )

    def __repr__(self) -> str:
        return f"ProvisioningClient(base_url={self.base_url!r}, token=<masqué>)"

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> HttpReply:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        return exchange(
            method,
            f"{self.base_url}{path}",
            headers=headers,
            body=body,
            timeout=self.timeout,
            what="le gestionnaire d'API",
        )

    def create_client(self, order: ProvisioningOrder) -> IssuedClient:
        reply = self._call("POST", "/provisioning/clients", order.as_json())
        if reply.status != 201:
            raise _refusal(reply, "de créer les accès")
        data = reply.json()
        if not isinstance(data, dict):
            raise ProvisioningError("Réponse du gestionnaire d'API illisible : un objet JSON était attendu.")
        quota = data.get("quota_per_minute")
        return IssuedClient(
            client_id=_text(data, "client_id"),
            client_secret=_text(data, "client_secret"),
            id_teleservice=_text(data, "id_teleservice"),
            oauth_scopes=_string_list(data, "oauth_scopes"),
            datapass_scopes=_string_list(data, "datapass_scopes"),
            token_url=checked_url(_text(data, "token_url"), "du jeton"),
            api_base_url=checked_url(_text(data, "api_base_url"), "de l'API"),
            quota_per_minute=quota if isinstance(quota, int) and not isinstance(quota, bool) else None,
            expires_on=_optional_date(data.get("expires_on")),
        )

    def rotate_secret(self, client_id: str, overlap: timedelta) -> RotatedSecret:
        seconds = max(0, int(overlap.total_seconds()))
        reply = self._call(
            "POST", f"/provisioning/clients/{quote(client_id, safe='')}/secret", {"overlap_seconds": seconds}
        )
        if reply.status != 200:
            raise _refusal(reply, "de renouveler le secret")
        data = reply.json()
        if not isinstance(data, dict):
            raise ProvisioningError("Réponse du gestionnaire d'API illisible : un objet JSON était attendu.")
        until = data.get("previous_secret_valid_until")
        try:
            previous_until = datetime.fromisoformat(until) if isinstance(until, str) else None
        except ValueError:
            previous_until = None
        return RotatedSecret(_text(data, "client_secret"), previous_until)

    def revoke_client(self, client_id: str) -> None:
        """Revoke the client; one the API manager no longer knows (404) is as good as revoked."""
        reply = self._call("DELETE", f"/provisioning/clients/{quote(client_id, safe='')}", None)
        if reply.status not in (200, 204, 404):
            raise _refusal(reply, "de révoquer le client")


# --- the operations, with this application's configuration ---------------------------------------------


def configured_client() -> ProvisioningClient | None:
    return ProvisioningClient.from_config(current_app.config)


def is_configured() -> bool:
    return configured_client() is not None


def _required_client() -> ProvisioningClient:
    client = configured_client()
    if client is None:
        raise ProvisioningNotConfigured(
            "Aucun gestionnaire d'API n'est configuré (TRACKER_VAULT_PROVISIONING_URL) : enregistrez les accès "
            "délivrés par la DGFiP à la main."
        )
    return client


def provision(habilitation: Habilitation) -> IssuedClient:
    """Ask the API manager for a client for ``habilitation``; the caller records it in the vault."""
    client = _required_client()
    order = order_for(habilitation, sandbox_quota=int(current_app.config["VAULT_SANDBOX_QUOTA_PER_MINUTE"]))
    issued = client.create_client(order)
    logger.info("provisioned API client %s for habilitation %s", issued.client_id, habilitation.number)
    return issued


def rotate_secret(credential: ApiCredential, overlap: timedelta) -> RotatedSecret:
    return _required_client().rotate_secret(credential.client_id, overlap)


def revoke_client(credential: ApiCredential) -> None:
    _required_client().revoke_client(credential.client_id)
