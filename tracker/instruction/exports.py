"""Exports of the instruction list and of the adhesion board (CSV and XLSX), streamed with flat memory.

Every text cell that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) is neutralised with a leading apostrophe (SECURITY §E 24), and optional
columns that no row fills are left out.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from openpyxl import Workbook

from tracker.instruction.territories import REGION_OF_DEPARTEMENT, REGIONS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Any], Any]
    optional: bool = False


def request_columns(use_cases: dict[str, str]) -> tuple[Column, ...]:
    """Of the instruction list (rows: InstructionRow)."""
    return (
        Column("Numéro", lambda r: r.number),
        Column("Collectivité", lambda r: r.organization_name),
        Column("SIRET", lambda r: r.organization_siret),
        Column("Département", lambda r: r.departement_code, optional=True),
        Column("Projet", lambda r: r.intitule),
        Column("Cas d'usage", lambda r: use_cases.get(r.use_case or "", r.use_case), optional=True),
        Column("État", lambda r: r.state.label),
        Column("Étape", lambda r: r.stage.label),
        Column("Mise à jour", lambda r: "Oui" if r.is_reopening else None, optional=True),
        Column("Dernier mouvement", lambda r: r.last_event_at),
        Column("Date limite d'instruction", lambda r: r.deadline_at, optional=True),
        Column("Pris en charge par", lambda r: r.assigned_to, optional=True),
    )


def adhesion_columns() -> tuple[Column, ...]:
    """Of the adhesion board (rows: (CollectiviteRow, Adhesion, is stalled))."""
    return (
        Column("Collectivité", lambda r: r[0].name),
        Column("SIRET", lambda r: r[0].siret),
        Column("Département", lambda r: r[0].departement_code, optional=True),
        Column(
            "Région", lambda r: REGIONS.get(REGION_OF_DEPARTEMENT.get(r[0].departement_code or "", "")), optional=True
        ),
        Column("Adhésion", lambda r: r[1].label),
        Column("Dernier mouvement", lambda r: r[0].facts.last_move_at, optional=True),
        Column("Dossier bloqué", lambda r: "Oui" if r[2] else None, optional=True),
    )


def _region_name(departement: str | None) -> str | None:
    return REGIONS.get(REGION_OF_DEPARTEMENT.get(departement or "", ""))


def filled(all_columns: tuple[Column, ...], rows: Iterable[Any]) -> tuple[Column, ...]:
    """Keep an optional column only if some row fills it. One pass over ``rows`` (a first pass over the
    streamed query, so memory stays flat), which stops as soon as every optional column is seen filled."""
    pending = {c.title: c for c in all_columns if c.optional}
    for row in rows:
        for title, column in list(pending.items()):
            if column.value(row) not in (None, ""):
                del pending[title]
        if not pending:
            break
    return tuple(c for c in all_columns if c.title not in pending)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # spreadsheets have no time zones; the values are UTC
    return neutralise(value)


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    return str(neutralise(value))


def csv_lines(chosen: tuple[Column, ...], rows: Iterable[Any]) -> Iterator[str]:
    """UTF-8 with a BOM and « ; » separators: what French spreadsheet software opens as is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([c.title for c in chosen])
    yield "\ufeff" + flush()
    for row in rows:
        writer.writerow([_csv_text(c.value(row)) for c in chosen])
        yield flush()


def xlsx_file(chosen: tuple[Column, ...], rows: Iterable[Any], sheet_name: str) -> IO[bytes]:
    """A workbook written row by row (openpyxl's write-only mode) into a temporary file, which is gone
    once closed."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_name)
    sheet.append([c.title for c in chosen])
    for row in rows:
        sheet.append([_cell(c.value(row)) for c in chosen])
    output = tempfile.TemporaryFile()  # noqa: SIM115 (the caller streams it, then closes it)
    workbook.save(output)
    output.seek(0)
    return output
