"""Exports of the instruction list (issue « DGFiP instruction »): CSV and XLSX of the current filters,
streamed, formula-like cells neutralised, columns that no row fills left out, DGFiP only."""

from __future__ import annotations

import csv
import io

import pytest
from factories import login
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, make_cast
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.audit.models import AuditEntry
from tracker.habilitations import services
from tracker.habilitations.workflow import Actor, Stage
from tracker.instruction.exports import neutralise

HOSTILE = '=HYPERLINK("http://exemple.invalid";"clic")'


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def listed(session: Session, cast: Cast) -> list:
    first = build(session, cast, Situation.SUBMITTED)
    second = build(session, cast, Situation.CHANGES_REQUESTED)
    # A title that a spreadsheet would run as a formula (the section DGFiP asked to change is open).
    projet = {**second.section(Stage.SANDBOX, "projet").data, "intitule": HOSTILE}  # type: ignore[union-attr]
    services.save_section(
        session, second, "projet", projet, principal=cast.principal(Actor.COLLECTIVITE), expected_version=None
    )
    session.commit()
    return [first, second]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33", "'+33"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Cantine", "Cantine"),
        (12, 12),
    ],
)
def test_formula_like_cells_are_neutralised(value: object, expected: object) -> None:
    assert neutralise(value) == expected


def test_csv_export_follows_the_filters(client: FlaskClient, session: Session, cast: Cast, listed: list) -> None:
    login(client, session, cast.instructeur)
    response = client.get("/instruction/export.csv?etat=changes_requested")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="demandes-')
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    header, *lines = rows
    assert [line[0] for line in lines] == [f"D{listed[1].id}"], "only the filtered state"
    assert lines[0][header.index("Projet")] == "'" + HOSTILE
    # Nobody took these requests in hand and none is being updated: those columns are left out.
    assert "Pris en charge par" not in header and "Mise à jour" not in header
    assert "Département" in header
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "requests.exported")).scalar_one()
    assert entry.details == {"format": "csv", "filters": {"etat": ["changes_requested"]}}


def test_xlsx_export_is_a_real_workbook(client: FlaskClient, session: Session, cast: Cast, listed: list) -> None:
    login(client, session, cast.instructeur)
    response = client.get("/instruction/export.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    rows = list(workbook["Demandes"].iter_rows(values_only=True))
    response.close()
    header, *lines = rows
    assert header[0] == "Numéro" and len(lines) == 2
    titles = {line[header.index("Projet")] for line in lines}
    assert "'" + HOSTILE in titles


@pytest.mark.parametrize("role", ["collectivite", "editeur", "hebergeur"])
def test_exports_are_for_the_dgfip(client: FlaskClient, session: Session, cast: Cast, listed: list, role: str) -> None:
    login(client, session, getattr(cast, role))
    assert client.get("/instruction/export.csv").status_code == 403
    assert client.get("/instruction/export.xlsx").status_code == 403
