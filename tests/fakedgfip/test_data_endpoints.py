"""The three assiette endpoints over real HTTP: header checks, error codes, quota, the year rule and the
field filtering by the client's DataPass scopes."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from flask import Flask

from tests.fakedgfip.conftest import (
    COUPLE_SECOND_SPI,
    COUPLE_SPI,
    IFI_SPI,
    SPI_FROM_2023,
    SPI_WITHOUT_2023,
    TELESERVICE,
    FakeClock,
    access_token,
    api_headers,
    http,
    ifi_url,
    ir_url,
    provision,
    two_years_url,
)
from tracker.catalogue.scopes import SCOPES
from tracker.fakedgfip.app import latest_taxed_year
from tracker.fakedgfip.fields import RESPONSE_FIELDS_BY_SCOPE
from tracker.fakedgfip.households import DEFAULT_HOUSEHOLDS_PATH

BUNDLED = json.loads(DEFAULT_HOUSEHOLDS_PATH.read_text(encoding="utf-8"))["households"]
COUPLE_2024 = BUNDLED[1]["years"]["2024"]
ALL_DATAPASS_SCOPES = [scope.key for scope in SCOPES]


def _client_token(base_url: str, **overrides: object) -> str:
    return access_token(base_url, provision(base_url, **overrides))


def _assert_error(reply: object, status: int, code: int) -> None:
    assert reply.status == status, reply.body  # type: ignore[attr-defined]
    error = reply.body["erreur"]  # type: ignore[attr-defined]
    assert error["code"] == code
    assert error["message"]
    assert datetime.fromisoformat(error["horodatage"]) == datetime(2026, 9, 15, 10, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------- headers


@pytest.mark.parametrize("authorization", [None, "Bearer inconnu", "Basic abc", "Bearer"])
def test_a_call_without_a_valid_bearer_token_is_401(base_url: str, authorization: str | None) -> None:
    headers = {"X-Correlation-ID": str(uuid.uuid4()), "ID_Teleservice": TELESERVICE}
    if authorization:
        headers["Authorization"] = authorization

    for url in (
        ir_url(base_url, COUPLE_SPI, 2024),
        two_years_url(base_url, COUPLE_SPI),
        ifi_url(base_url, IFI_SPI, 2024),
    ):
        reply = http("GET", url, headers=headers)
        _assert_error(reply, 401, 4010)
        assert reply.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("correlation_id", [None, "", "pas-un-uuid", "1234"])
def test_the_correlation_id_is_a_required_uuid(base_url: str, correlation_id: str | None) -> None:
    headers = api_headers(_client_token(base_url))
    del headers["X-Correlation-ID"]
    if correlation_id is not None:
        headers["X-Correlation-ID"] = correlation_id

    for url in (
        ir_url(base_url, COUPLE_SPI, 2024),
        two_years_url(base_url, COUPLE_SPI),
        ifi_url(base_url, IFI_SPI, 2024),
    ):
        _assert_error(http("GET", url, headers=headers), 400, 4000)


def test_the_correlation_id_is_echoed(base_url: str) -> None:
    headers = api_headers(_client_token(base_url))

    reply = http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=headers)

    assert reply.status == 200
    assert reply.headers["X-Correlation-ID"] == headers["X-Correlation-ID"]


@pytest.mark.parametrize("teleservice", [None, "TLS-AUTRE", TELESERVICE.lower()])
def test_the_teleservice_must_be_the_clients(base_url: str, teleservice: str | None) -> None:
    headers = api_headers(_client_token(base_url))
    del headers["ID_Teleservice"]
    if teleservice is not None:
        headers["ID_Teleservice"] = teleservice

    for url in (
        ir_url(base_url, COUPLE_SPI, 2024),
        two_years_url(base_url, COUPLE_SPI),
        ifi_url(base_url, IFI_SPI, 2024),
    ):
        _assert_error(http("GET", url, headers=headers), 403, 4031)


@pytest.mark.parametrize(
    ("granted", "allowed_url", "refused_urls"),
    [
        ("RessourceIR", ir_url, (two_years_url, ifi_url)),
        ("RessourceIRDerniere2", two_years_url, (ir_url, ifi_url)),
        ("RessourceIFI", ifi_url, (ir_url, two_years_url)),
    ],
)
def test_each_endpoint_needs_its_resource_scope(base_url: str, granted: str, allowed_url, refused_urls) -> None:
    def url(builder, base: str) -> str:
        return builder(base, IFI_SPI) if builder is two_years_url else builder(base, IFI_SPI, 2024)

    headers = api_headers(_client_token(base_url, oauth_scopes=[granted]))

    assert http("GET", url(allowed_url, base_url), headers=headers).status == 200
    for builder in refused_urls:
        _assert_error(http("GET", url(builder, base_url), headers=headers), 403, 4031)


def test_a_token_asked_for_fewer_resources_opens_only_those(base_url: str) -> None:
    client = provision(base_url)
    headers = api_headers(access_token(base_url, client, scope="RessourceIR"))

    assert http("GET", ir_url(base_url, IFI_SPI, 2024), headers=headers).status == 200
    _assert_error(http("GET", ifi_url(base_url, IFI_SPI, 2024), headers=headers), 403, 4031)


# ------------------------------------------------------------------------------------------- SPI and year


@pytest.mark.parametrize("spi", ["999900000021", "99990000002100", "99990000002a0", "-999000000210"])
def test_a_malformed_spi_is_4001(base_url: str, spi: str) -> None:
    headers = api_headers(_client_token(base_url))

    for url in (ir_url(base_url, spi, 2024), two_years_url(base_url, spi), ifi_url(base_url, spi, 2024)):
        _assert_error(http("GET", url, headers=headers), 400, 4001)


@pytest.mark.parametrize("year", ["24", "20244", "2O24", "2026", "2031", "1899"])
def test_a_malformed_or_untaxable_year_is_4002(base_url: str, year: str) -> None:
    headers = api_headers(_client_token(base_url))

    for url in (ir_url(base_url, COUPLE_SPI, year), ifi_url(base_url, COUPLE_SPI, year)):
        _assert_error(http("GET", url, headers=headers), 400, 4002)


def test_an_unknown_spi_is_4102(base_url: str) -> None:
    headers = api_headers(_client_token(base_url))
    unknown = "1234567890123"

    for url in (ir_url(base_url, unknown, 2024), two_years_url(base_url, unknown), ifi_url(base_url, unknown, 2024)):
        _assert_error(http("GET", url, headers=headers), 410, 4102)


def test_a_year_without_a_return_is_4101(base_url: str) -> None:
    headers = api_headers(_client_token(base_url))

    _assert_error(http("GET", ir_url(base_url, SPI_WITHOUT_2023, 2023), headers=headers), 410, 4101)
    _assert_error(http("GET", ir_url(base_url, SPI_FROM_2023, 2022), headers=headers), 410, 4101)
    _assert_error(http("GET", ifi_url(base_url, SPI_FROM_2023, 2021), headers=headers), 410, 4101)
    assert http("GET", ir_url(base_url, SPI_WITHOUT_2023, 2024), headers=headers).status == 200


@pytest.mark.parametrize(
    ("today", "latest"),
    [((2026, 7, 31), 2024), ((2026, 8, 1), 2025), ((2026, 12, 31), 2025), ((2027, 1, 1), 2025), ((2027, 8, 1), 2026)],
)
def test_latest_taxed_year(today: tuple[int, int, int], latest: int) -> None:
    assert latest_taxed_year(date(*today)) == latest


def test_last_year_is_served_only_from_the_first_of_august(base_url: str, clock: FakeClock) -> None:
    clock.now = datetime(2026, 7, 31, 23, 59, tzinfo=UTC)
    headers = api_headers(_client_token(base_url))

    before = http("GET", ir_url(base_url, COUPLE_SPI, 2025), headers=headers)
    previous = http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=headers)
    two_years_before = http("GET", two_years_url(base_url, COUPLE_SPI), headers=headers)
    clock.advance(minutes=1)
    after = http("GET", ir_url(base_url, COUPLE_SPI, 2025), headers=headers)
    two_years_after = http("GET", two_years_url(base_url, COUPLE_SPI), headers=headers)

    assert before.status == 410
    assert before.body["erreur"]["code"] == 4101
    assert previous.status == 200
    assert two_years_before.body["anneeRevenus"] == 2024
    assert after.status == 200
    assert after.body["anneeRevenus"] == 2025
    assert two_years_after.body["anneeRevenus"] == 2025


def test_two_years_falls_back_to_the_year_before_and_then_gives_up(base_url: str, clock: FakeClock) -> None:
    clock.now = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)  # latest taxed year 2023
    headers = api_headers(_client_token(base_url))

    fallback = http("GET", two_years_url(base_url, SPI_WITHOUT_2023), headers=headers)
    assert fallback.status == 200
    assert fallback.body["anneeRevenus"] == 2022

    clock.now = datetime(2023, 9, 1, 8, 0, tzinfo=UTC)  # latest taxed year 2022, household 3 starts in 2023
    nothing = http("GET", two_years_url(base_url, SPI_FROM_2023), headers=headers)
    assert nothing.status == 410
    assert nothing.body["erreur"]["code"] == 4101


# ------------------------------------------------------------------------------------------- quota


def test_the_quota_per_minute_answers_429_with_retry_after(base_url: str, clock: FakeClock) -> None:
    token = _client_token(base_url, quota_per_minute=3)
    url = ir_url(base_url, COUPLE_SPI, 2024)

    assert [http("GET", url, headers=api_headers(token)).status for _ in range(3)] == [200, 200, 200]
    clock.advance(seconds=20)
    refused = http("GET", url, headers=api_headers(token))

    assert refused.status == 429
    assert refused.body["erreur"]["code"] == 4291
    assert refused.headers["Retry-After"] == "40"
    clock.advance(seconds=40)
    assert http("GET", url, headers=api_headers(token)).status == 200


def test_the_quota_is_per_client(base_url: str) -> None:
    first = _client_token(base_url, quota_per_minute=1)
    second = _client_token(base_url, quota_per_minute=1)
    url = ir_url(base_url, COUPLE_SPI, 2024)

    assert http("GET", url, headers=api_headers(first)).status == 200
    assert http("GET", url, headers=api_headers(first)).status == 429
    assert http("GET", url, headers=api_headers(second)).status == 200


def test_parallel_calls_never_exceed_the_quota(base_url: str) -> None:
    token = _client_token(base_url, quota_per_minute=5)
    url = ir_url(base_url, COUPLE_SPI, 2024)

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(lambda _: http("GET", url, headers=api_headers(token)).status, range(10)))

    assert statuses == [200] * 5 + [429] * 5


# ------------------------------------------------------------------------------------------- fields


def test_the_scope_to_field_table_is_the_one_of_domain_section_6() -> None:
    civil_status = {
        f"dgfip_{f}{n}": (f"{f}{n}",) for n in (1, 2) for f in ("nmUsaDec", "nmNaiDec", "prnmDec", "dateNaisDec")
    }

    assert {
        "dgfip_rfr": ("rfr",),
        "dgfip_nbpart": ("nbPart",),
        "dgfip_sitfam": ("sitFam",),
        "dgfip_pac_nbPac": ("pac.nbPac",),
        "dgfip_pac": ("pac",),
        "dgfip_pariso": ("sitParIso",),
        "dgfip_aft": ("aft", "aftDetail"),
        "dgfip_rbg": ("revenuBrutGlobal",),
        "dgfip_mntRevbareme": ("mntRevbareme",),
        "dgfip_inddeficit": ("indDeficit",),
        "dgfip_indiIFI": ("indicateurIfiIsf",),
        **civil_status,
    } == RESPONSE_FIELDS_BY_SCOPE


def test_a_client_with_rfr_and_nbpart_gets_exactly_those_fields(base_url: str) -> None:
    headers = api_headers(
        _client_token(base_url, datapass_scopes=["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"])
    )

    reply = http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=headers)

    assert reply.status == 200
    assert reply.body == {
        "spi": COUPLE_SPI,
        "anneeRevenus": 2024,
        "nbPart": COUPLE_2024["nbPart"],
        "rfr": COUPLE_2024["rfr"],
    }


def test_the_second_declarant_reaches_the_same_return(base_url: str) -> None:
    headers = api_headers(_client_token(base_url, datapass_scopes=["dgfip_rfr"]))

    reply = http("GET", ir_url(base_url, COUPLE_SECOND_SPI, 2024), headers=headers)

    assert reply.body == {"spi": COUPLE_SECOND_SPI, "anneeRevenus": 2024, "rfr": COUPLE_2024["rfr"]}


def test_the_number_of_dependants_does_not_reveal_who_they_are(base_url: str) -> None:
    count_only = api_headers(_client_token(base_url, datapass_scopes=["dgfip_pac_nbPac"]))
    detail = api_headers(_client_token(base_url, datapass_scopes=["dgfip_pac"]))
    both = api_headers(_client_token(base_url, datapass_scopes=["dgfip_pac", "dgfip_pac_nbPac"]))

    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=count_only).body["pac"] == {"nbPac": 2}
    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=detail).body["pac"] == COUPLE_2024["pac"]
    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=both).body["pac"] == COUPLE_2024["pac"]
    assert len(COUPLE_2024["pac"]["detail"]) == 2


def test_civil_status_and_address_scopes(base_url: str) -> None:
    headers = api_headers(_client_token(base_url, datapass_scopes=["dgfip_nmUsaDec1", "dgfip_prnmDec2", "dgfip_aft"]))

    body = http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=headers).body

    assert body == {
        "spi": COUPLE_SPI,
        "anneeRevenus": 2024,
        "nmUsaDec1": COUPLE_2024["nmUsaDec1"],
        "prnmDec2": COUPLE_2024["prnmDec2"],
        "aft": COUPLE_2024["aft"],
        "aftDetail": COUPLE_2024["aftDetail"],
    }


def test_every_scope_opens_every_income_tax_field_and_the_ifi_indicator_stays_on_its_resource(base_url: str) -> None:
    headers = api_headers(_client_token(base_url, datapass_scopes=ALL_DATAPASS_SCOPES))

    income_tax = http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=headers).body
    ifi = http("GET", ifi_url(base_url, IFI_SPI, 2024), headers=headers).body

    expected = {key: value for key, value in COUPLE_2024.items() if key != "indicateurIfiIsf"}
    assert income_tax == {"spi": COUPLE_SPI, "anneeRevenus": 2024, **expected}
    assert ifi == {"spi": IFI_SPI, "anneeRevenus": 2024, "indicateurIfiIsf": True}


def test_the_ifi_resource_without_the_ifi_scope_shows_only_identification(base_url: str) -> None:
    headers = api_headers(_client_token(base_url, datapass_scopes=["dgfip_rfr"]))

    assert http("GET", ifi_url(base_url, IFI_SPI, 2024), headers=headers).body == {"spi": IFI_SPI, "anneeRevenus": 2024}


def test_unknown_paths_and_methods_answer_json(stand_in_app: Flask) -> None:
    client = stand_in_app.test_client()

    missing = client.get("/impotparticulier/1.0/inconnu")
    wrong_method = client.post(f"/impotparticulier/1.0/spi/{COUPLE_SPI}/dernieresituation/ir/assiettes/deuxans")

    assert missing.status_code == 404
    assert missing.json["erreur"]["code"] == 4040
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"]
    assert wrong_method.json["erreur"]["code"] == 4050


def test_the_teleservice_header_also_works_through_the_test_client(stand_in_app: Flask) -> None:
    client = stand_in_app.test_client()
    token_header = {"Authorization": "Bearer jeton-de-provisionnement-de-test"}
    created = client.post(
        "/provisioning/clients",
        headers=token_header,
        json={"id_teleservice": "TLS-X", "oauth_scopes": ["RessourceIR"], "datapass_scopes": ["dgfip_rfr"]},
    ).json
    token = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    ).json["access_token"]

    reply = client.get(ir_url("", COUPLE_SPI, 2024), headers=api_headers(token, "TLS-X"))

    assert reply.status_code == 200
    assert reply.json == {"spi": COUPLE_SPI, "anneeRevenus": 2024, "rfr": COUPLE_2024["rfr"]}
