"""The households file (bundled and custom) and the ``tracker fake-dgfip`` command."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fakedgfip.conftest import PROVISIONING_TOKEN, http, provision
from tracker.cli import main as tracker_cli
from tracker.fakedgfip import make_households
from tracker.fakedgfip.cli import fake_dgfip
from tracker.fakedgfip.fields import HOUSEHOLD_YEAR_FIELDS
from tracker.fakedgfip.households import (
    DEFAULT_HOUSEHOLDS_PATH,
    HouseholdsFileError,
    load_households,
    parse_households,
)
from tracker.fakedgfip.server import is_loopback, make_stand_in_server


def test_the_bundled_file_is_what_the_generator_writes() -> None:
    assert DEFAULT_HOUSEHOLDS_PATH.read_text(encoding="utf-8") == make_households.render()


def test_the_bundled_households_are_obviously_fictitious_and_cover_every_case() -> None:
    book = load_households()
    households = book.households
    years = [data for household in households for data in household.years.values()]

    assert len(households) == 20
    assert all(spi.startswith("99990") for spi in book.by_spi)
    assert {data["nmUsaDec1"].removesuffix("-BIS") for data in years} <= set(make_households.SURNAMES)
    assert {data["sitFam"] for data in years} == {"M", "O", "C", "D", "V"}
    assert any(data["sitParIso"] for data in years)
    assert any(data["indDeficit"] for data in years)
    assert any(data["indicateurIfiIsf"] for data in years)
    assert any(data["nmUsaDec2"] is None for data in years)
    assert {data["pac"]["nbPac"] for data in years} == {0, 1, 2, 3}
    assert any(len(household.years) < 6 for household in households)


def _valid_document() -> dict:
    return json.loads(DEFAULT_HOUSEHOLDS_PATH.read_text(encoding="utf-8"))


def _broken(change) -> dict:  # type: ignore[no-untyped-def]
    document = copy.deepcopy(_valid_document())
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], '{"households": [...]}'),
        ({"households": []}, "aucun foyer"),
        (_broken(lambda d: d["households"][0].update(spis=["12345"])), "households[0].spis"),
        (_broken(lambda d: d["households"][1].update(spis=d["households"][0]["spis"])), "plusieurs foyers"),
        (_broken(lambda d: d["households"][0]["years"].update({"20x5": {}})), "« 20x5 »"),
        (
            _broken(lambda d: d["households"][2]["years"]["2024"].pop("rfr")),
            "households[2].years.2024 : champs manquants : rfr",
        ),
        (_broken(lambda d: d["households"][0]["years"]["2024"].update(rfrr=1)), "champs inconnus : rfrr"),
        (_broken(lambda d: d["households"][0]["years"]["2024"].update(rfr="12000")), "rfr : un montant entier"),
        (_broken(lambda d: d["households"][0]["years"]["2024"].update(sitFam="X")), "sitFam"),
        (_broken(lambda d: d["households"][0]["years"]["2024"].update(nbPart=True)), "nbPart"),
        (_broken(lambda d: d["households"][0]["years"]["2024"].update(dateNaisDec1="01/02/1980")), "dateNaisDec1"),
        (_broken(lambda d: d["households"][1]["years"]["2024"]["pac"].update(nbPac=5)), "pac : detail"),
        (_broken(lambda d: d["households"][1]["years"]["2024"].update(prnmDec2=None)), "déclarant 2"),
    ],
)
def test_a_bad_households_document_is_refused_with_where_and_what(document: object, message: str) -> None:
    with pytest.raises(HouseholdsFileError) as raised:
        parse_households(document)

    assert message in str(raised.value)


def test_a_custom_households_file_is_served(tmp_path: Path) -> None:
    document = {
        "households": [
            {"spis": ["0000000000001"], "years": {"2024": _valid_document()["households"][0]["years"]["2024"]}}
        ]
    }
    path = tmp_path / "foyers.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    book = load_households(path)

    assert list(book.by_spi) == ["0000000000001"]
    assert set(book.find("0000000000001").years[2024]) == set(HOUSEHOLD_YEAR_FIELDS)


def test_an_unreadable_or_invalid_file_names_itself(tmp_path: Path) -> None:
    not_json = tmp_path / "pas-du-json.json"
    not_json.write_text("{households", encoding="utf-8")

    with pytest.raises(HouseholdsFileError, match="JSON invalide"):
        load_households(not_json)
    with pytest.raises(HouseholdsFileError, match="lecture impossible"):
        load_households(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104 (refused, the point of the test)
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_server_refuses_a_non_loopback_host() -> None:
    from tracker.fakedgfip import create_fake_dgfip_app

    with pytest.raises(ValueError, match="loopback"):
        make_stand_in_server(create_fake_dgfip_app(provisioning_token="x"), host="0.0.0.0")  # noqa: S104


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",  # noqa: S104
        "192.168.1.10",
        "::",
        "example.org",
    ],
)
def test_the_command_refuses_a_non_loopback_host(host: str) -> None:
    result = CliRunner().invoke(tracker_cli, ["fake-dgfip", "--port", "0", "--host", host])

    assert result.exit_code == 2
    assert "n'est pas une adresse de boucle locale" in result.output


def test_the_command_refuses_a_bad_households_file(tmp_path: Path) -> None:
    path = tmp_path / "foyers.json"
    path.write_text(json.dumps({"households": [{"spis": ["1"], "years": {}}]}), encoding="utf-8")

    result = CliRunner().invoke(fake_dgfip, ["--port", "0", "--households", str(path)])

    assert result.exit_code == 1
    assert "Fichier des foyers refusé" in result.output
    assert "households[0].spis : un ou deux SPI de 13 chiffres attendus" in result.output


def test_the_command_serves_on_loopback_until_stopped(tmp_path: Path) -> None:
    """The real console script, in its own process: it prints its address, provisions, and stops cleanly."""
    environment = {**os.environ, "TRACKER_FAKE_DGFIP_PROVISIONING_TOKEN": PROVISIONING_TOKEN}
    command = [str(Path(sys.executable).with_name("tracker")), "fake-dgfip", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path
    ) as process:
        try:
            first_line = process.stdout.readline()  # type: ignore[union-attr]
            assert first_line.startswith("Faux DGFiP à l'écoute sur http://127.0.0.1:")
            base_url = first_line.split()[-1]
            client = provision(base_url)
            unauthorized = http("POST", f"{base_url}/provisioning/clients", json_body={})
        finally:
            process.terminate()
            _, errors = process.communicate(timeout=10)

    assert client["token_url"] == f"{base_url}/token"
    assert unauthorized.status == 401
    assert "POST /provisioning/clients 201" in errors
    assert client["client_secret"] not in errors
    assert PROVISIONING_TOKEN not in errors
