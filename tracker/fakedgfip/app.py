"""The stand-in's WSGI application: provisioning (the API manager), ``/token`` and the three assiette
endpoints of the API Impôt particulier (DOMAIN §11).

Shapes (all JSON):

- ``POST /provisioning/clients`` (``Authorization: Bearer <provisioning token>``) with
  ``{"id_teleservice"?, "oauth_scopes", "datapass_scopes", "quota_per_minute"?, "expires_on"?, "label"?}``
  → 201 ``{"client_id", "client_secret", "id_teleservice", "oauth_scopes", "datapass_scopes", "token_url",
  "api_base_url", "quota_per_minute", "expires_on", "label"}``; errors 400/401 ``{"error", "error_description"}``.
- ``DELETE /provisioning/clients/<client_id>`` → 204; 404 if unknown.
- ``POST /provisioning/clients/<client_id>/secret`` with ``{"overlap_seconds"?: int ≥ 0}`` → 200
  ``{"client_id", "client_secret", "previous_secret_valid_until"}``.
- ``POST /token`` (RFC 6749 client credentials) → ``{"access_token", "token_type": "Bearer", "expires_in",
  "scope"}`` or ``{"error", "error_description"}``.
- ``GET /impotparticulier/1.0/spi/…`` → the household's fields for the granted DataPass scopes, plus
  ``spi`` and ``anneeRevenus`` always; errors ``{"erreur": {"code", "message", "horodatage"}}``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote_plus

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from tracker.catalogue.scopes import SCOPES_BY_KEY
from tracker.fakedgfip.fields import HOUSEHOLD_YEAR_FIELDS, IFI_FIELDS, filtered_body
from tracker.fakedgfip.households import SPI_PATTERN, YEAR_PATTERN, HouseholdBook, load_households
from tracker.fakedgfip.registry import Client, Clock, Registry, utc_now

logger = logging.getLogger("tracker.fakedgfip")

API_PREFIX = "/impotparticulier/1.0"

RESOURCE_IR = "RessourceIR"
RESOURCE_IR_LAST_TWO_YEARS = "RessourceIRDerniere2"
RESOURCE_IFI = "RessourceIFI"
OAUTH_SCOPES = frozenset({RESOURCE_IR, RESOURCE_IR_LAST_TWO_YEARS, RESOURCE_IFI})

IR_FIELDS = frozenset(HOUSEHOLD_YEAR_FIELDS) - IFI_FIELDS

DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)
DEFAULT_QUOTA_PER_MINUTE = 60

# The month and day from which last year's incomes are taxed and served (late July in real life).
TAXATION_DAY = (8, 1)


def latest_taxed_year(today: date) -> int:
    """The most recent income year with a tax assessment on ``today``: last year only from 1 August."""
    return today.year - 1 if (today.month, today.day) >= TAXATION_DAY else today.year - 2


@dataclass
class StandIn:
    registry: Registry
    households: HouseholdBook
    provisioning_token: str
    token_lifetime: timedelta

    @property
    def clock(self) -> Clock:
        return self.registry.clock


class ApiError(Exception):
    """An error of the data endpoints, answered as ``{"erreur": {...}}``."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class OAuthError(Exception):
    """An error of ``/token`` or of provisioning, answered as ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.headers = status, error, description, headers or {}


def create_fake_dgfip_app(
    *,
    provisioning_token: str,
    households: HouseholdBook | None = None,
    clock: Clock = utc_now,
    token_lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
) -> Flask:
    """The stand-in as a WSGI app. ``clock`` (an aware UTC datetime) drives token and client expiry, the
    quota windows and the year rule, so tests can move time; ``households`` defaults to the bundled file."""
    if not provisioning_token:
        raise ValueError("the provisioning token must not be empty")
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    stand_in = StandIn(
        registry=Registry(clock),
        households=households if households is not None else load_households(),
        provisioning_token=provisioning_token,
        token_lifetime=token_lifetime,
    )
    app.extensions["fake_dgfip"] = stand_in

    @app.before_request
    def _remember_context() -> None:
        g.client_id = None

    @app.after_request
    def _log(response: Response) -> Response:
        # Path, status and identifiers only: headers and bodies carry secrets and tokens.
        logger.info(
            "%s %s %s client=%s correlation=%s",
            request.method,
            request.path,
            response.status_code,
            g.get("client_id") or "-",
            _printable(request.headers.get("X-Correlation-ID")),
        )
        return response

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
        body = {
            "erreur": {
                "code": error.code,
                "message": error.message,
                "horodatage": stand_in.clock().isoformat(timespec="seconds"),
            }
        }
        return jsonify(body), error.status, error.headers

    @app.errorhandler(OAuthError)
    def _oauth_error(error: OAuthError) -> tuple[Response, int, dict[str, str]]:
        body = {"error": error.error, "error_description": error.description}
        return jsonify(body), error.status, {"Cache-Control": "no-store", **error.headers}

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
        # Unknown paths and wrong methods answer JSON too; a connector never has HTML to parse.
        status = error.code or 500
        body = {
            "erreur": {
                "code": status * 10,
                "message": error.description or error.name,
                "horodatage": stand_in.clock().isoformat(timespec="seconds"),
            }
        }
        headers = dict(error.get_response().headers)
        allowed = {"Allow": headers["Allow"]} if "Allow" in headers else {}
        return jsonify(body), status, allowed

    _register_provisioning(app, stand_in)
    _register_token(app, stand_in)
    _register_data(app, stand_in)
    return app


def _printable(value: str | None) -> str:
    """A header value safe for one log line: only a UUID is written as such."""
    if not value:
        return "-"
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return "(invalide)"


# ---------------------------------------------------------------------------------------------- provisioning


def _register_provisioning(app: Flask, stand_in: StandIn) -> None:
    def authorize() -> None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), stand_in.provisioning_token.encode()
        ):
            raise OAuthError(
                401, "invalid_token", "Jeton de provisionnement absent ou invalide.", {"WWW-Authenticate": "Bearer"}
            )

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise OAuthError(400, "invalid_request", "Corps JSON (objet) attendu.")
        return data

    @app.post("/provisioning/clients")
    def provision_client() -> tuple[Response, int]:
        authorize()
        data = body()
        request_fields = _provisioning_fields(data)
        client, secret = stand_in.registry.provision(**request_fields)
        g.client_id = client.client_id
        root = request.url_root.rstrip("/")
        return jsonify(
            {
                "client_id": client.client_id,
                "client_secret": secret,
                "id_teleservice": client.id_teleservice,
                "oauth_scopes": sorted(client.oauth_scopes),
                "datapass_scopes": sorted(client.datapass_scopes),
                "token_url": f"{root}/token",
                "api_base_url": f"{root}{API_PREFIX}",
                "quota_per_minute": client.quota_per_minute,
                "expires_on": client.expires_on.isoformat() if client.expires_on else None,
                "label": client.label,
            }
        ), 201

    @app.delete("/provisioning/clients/<client_id>")
    def revoke_client(client_id: str) -> tuple[str, int]:
        authorize()
        g.client_id = client_id
        if not stand_in.registry.revoke(client_id):
            raise OAuthError(404, "not_found", "Client inconnu.")
        return "", 204

    @app.post("/provisioning/clients/<client_id>/secret")
    def rotate_secret(client_id: str) -> Response:
        authorize()
        g.client_id = client_id
        data = request.get_json(silent=True) if request.data else {}
        if not isinstance(data, dict):
            raise OAuthError(400, "invalid_request", "Corps JSON (objet) attendu.")
        overlap = data.get("overlap_seconds", 0)
        if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
            raise OAuthError(400, "invalid_request", "overlap_seconds doit être un entier positif ou nul.")
        rotated = stand_in.registry.rotate_secret(client_id, overlap=timedelta(seconds=overlap))
        if rotated is None:
            raise OAuthError(404, "not_found", "Client inconnu ou révoqué.")
        secret, previous_until = rotated
        return jsonify(
            {
                "client_id": client_id,
                "client_secret": secret,
                "previous_secret_valid_until": previous_until.isoformat(timespec="seconds"),
            }
        )


def _string_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise OAuthError(400, "invalid_request", f"{key} doit être une liste non vide de textes.")
    return value


def _provisioning_fields(data: dict[str, Any]) -> dict[str, Any]:
    oauth_scopes = _string_list(data, "oauth_scopes")
    if unknown := sorted(set(oauth_scopes) - OAUTH_SCOPES):
        raise OAuthError(400, "invalid_scope", f"Scopes OAuth inconnus : {', '.join(unknown)}.")
    datapass_scopes = _string_list(data, "datapass_scopes")
    if unknown := sorted(set(datapass_scopes) - SCOPES_BY_KEY.keys()):
        raise OAuthError(400, "invalid_scope", f"Scopes DataPass inconnus : {', '.join(unknown)}.")
    id_teleservice = data.get("id_teleservice") or f"TLS-{uuid.uuid4().hex[:12].upper()}"
    if not isinstance(id_teleservice, str) or len(id_teleservice) > 100:
        raise OAuthError(400, "invalid_request", "id_teleservice doit être un texte d'au plus 100 caractères.")
    quota = data.get("quota_per_minute", DEFAULT_QUOTA_PER_MINUTE)
    if not isinstance(quota, int) or isinstance(quota, bool) or quota < 1:
        raise OAuthError(400, "invalid_request", "quota_per_minute doit être un entier strictement positif.")
    expires_on = data.get("expires_on")
    if expires_on is not None:
        try:
            expires_on = date.fromisoformat(expires_on)
        except (TypeError, ValueError):
            raise OAuthError(400, "invalid_request", "expires_on doit être une date AAAA-MM-JJ.") from None
    label = data.get("label") or ""
    if not isinstance(label, str):
        raise OAuthError(400, "invalid_request", "label doit être un texte.")
    return {
        "id_teleservice": id_teleservice,
        "oauth_scopes": oauth_scopes,
        "datapass_scopes": datapass_scopes,
        "quota_per_minute": quota,
        "expires_on": expires_on,
        "label": label,
    }


# ---------------------------------------------------------------------------------------------- token


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """``client_id:client_secret`` from a Basic header, each form-urlencoded first (RFC 6749 §2.3.1)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def _register_token(app: Flask, stand_in: StandIn) -> None:
    invalid_client_headers = {"WWW-Authenticate": 'Basic realm="fake-dgfip"'}

    @app.post("/token")
    def token() -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "Corps application/x-www-form-urlencoded attendu.")
        form = request.form
        header = request.headers.get("Authorization")
        in_body = "client_id" in form or "client_secret" in form
        if header and in_body:
            raise OAuthError(400, "invalid_request", "Une seule méthode d'authentification du client est permise.")
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "Paramètre grant_type manquant.")
        if grant_type != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "Seul grant_type=client_credentials est accepté.")

        credentials = _basic_credentials(header) if header else (form.get("client_id"), form.get("client_secret"))
        client_id, secret = credentials or (None, None)
        client = stand_in.registry.authenticate(client_id, secret) if client_id and secret else None
        if client is None:
            raise OAuthError(401, "invalid_client", "Authentification du client refusée.", invalid_client_headers)
        g.client_id = client.client_id

        requested = set(form.get("scope", "").split())
        if not requested:
            requested = set(client.oauth_scopes)
        elif refused := sorted(requested - client.oauth_scopes):
            raise OAuthError(400, "invalid_scope", f"Scopes non accordés à ce client : {' '.join(refused)}.")
        value, issued = stand_in.registry.issue_token(client, requested, lifetime=stand_in.token_lifetime)
        response = jsonify(
            {
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": int(stand_in.token_lifetime.total_seconds()),
                "scope": " ".join(sorted(issued.scopes)),
            }
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response


# ---------------------------------------------------------------------------------------------- data


def _register_data(app: Flask, stand_in: StandIn) -> None:
    def authorized_client(resource: str) -> Client:
        """Header checks in the gateway's order: token, correlation id, téléservice, quota, resource."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        resolved = stand_in.registry.resolve_token(value.strip()) if scheme.lower() == "bearer" and value else None
        if resolved is None:
            raise ApiError(
                401,
                4010,
                "Jeton d'accès absent, invalide, expiré ou révoqué.",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        token, client = resolved
        g.client_id = client.client_id
        try:
            uuid.UUID(request.headers.get("X-Correlation-ID", ""))
        except ValueError:
            raise ApiError(400, 4000, "L'en-tête X-Correlation-ID est obligatoire et doit être un UUID.") from None
        if request.headers.get("ID_Teleservice") != client.id_teleservice:
            raise ApiError(403, 4031, "L'en-tête ID_Teleservice ne correspond pas à ce client.")
        if (retry_after := stand_in.registry.take_quota(client)) is not None:
            raise ApiError(
                429,
                4291,
                f"Quota de {client.quota_per_minute} appels par minute dépassé.",
                {"Retry-After": str(retry_after)},
            )
        if resource not in token.scopes:
            raise ApiError(403, 4031, f"Accès non autorisé à la ressource {resource}.")
        return client

    def checked_spi(spi: str) -> str:
        if not SPI_PATTERN.fullmatch(spi):
            raise ApiError(400, 4001, "Le SPI doit comporter 13 chiffres.")
        return spi

    def checked_year(annrev: str) -> int:
        if not YEAR_PATTERN.fullmatch(annrev) or int(annrev) >= stand_in.clock().year or int(annrev) < 1900:
            raise ApiError(400, 4002, "L'année de revenus doit être une année passée sur 4 chiffres.")
        return int(annrev)

    def year_data(spi: str, year: int) -> dict[str, Any]:
        household = stand_in.households.find(spi)
        if household is None:
            raise ApiError(410, 4102, "SPI inconnu.")
        if year > latest_taxed_year(stand_in.clock().date()) or year not in household.years:
            raise ApiError(410, 4101, f"Aucune donnée pour ce SPI et l'année de revenus {year}.")
        return dict(household.years[year])

    def answer(client: Client, spi: str, year: int, data: dict[str, Any], resource_fields: frozenset[str]) -> Response:
        response = jsonify(
            filtered_body(
                spi=spi,
                income_year=year,
                year_data=data,
                datapass_scopes=client.datapass_scopes,
                resource_fields=resource_fields,
            )
        )
        response.headers["X-Correlation-ID"] = request.headers["X-Correlation-ID"]
        return response

    @app.get(f"{API_PREFIX}/spi/<spi>/situations/ir/assiettes/annrev/<annrev>")
    def ir_assiette(spi: str, annrev: str) -> Response:
        client = authorized_client(RESOURCE_IR)
        spi, year = checked_spi(spi), checked_year(annrev)
        return answer(client, spi, year, year_data(spi, year), IR_FIELDS)

    @app.get(f"{API_PREFIX}/spi/<spi>/dernieresituation/ir/assiettes/deuxans")
    def ir_last_two_years(spi: str) -> Response:
        client = authorized_client(RESOURCE_IR_LAST_TWO_YEARS)
        spi = checked_spi(spi)
        household = stand_in.households.find(spi)
        if household is None:
            raise ApiError(410, 4102, "SPI inconnu.")
        latest = latest_taxed_year(stand_in.clock().date())
        for year in (latest, latest - 1):
            if year in household.years:
                return answer(client, spi, year, dict(household.years[year]), IR_FIELDS)
        raise ApiError(410, 4101, "Aucune donnée pour ce SPI sur les deux dernières années imposées.")

    @app.get(f"{API_PREFIX}/spi/<spi>/situations/ifiisf/assiettes/annrev/<annrev>")
    def ifi_assiette(spi: str, annrev: str) -> Response:
        client = authorized_client(RESOURCE_IFI)
        spi, year = checked_spi(spi), checked_year(annrev)
        return answer(client, spi, year, year_data(spi, year), IFI_FIELDS)
