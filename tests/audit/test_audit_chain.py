"""The hash-chained audit log: appends link, and the verifier names the first bad entry of a tampered chain.

Tampering goes through raw SQL on the test's own session, as an intruder with database access would,
and without expiring the session: the verifier must read the database, not the session's cache.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import JSON, Integer, String, bindparam, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from tracker.audit.chain import GENESIS_HASH, entry_digest
from tracker.audit.cli import audit_group
from tracker.audit.models import AuditChainHead, AuditEntry
from tracker.audit.services import HASHED_FIELDS, record, verify
from tracker.db import UTCDateTime


def record_entries(session: Session, count: int) -> list[AuditEntry]:
    return [
        record(
            session,
            "habilitation_submitted",
            actor_email=f"agent{number}@exemple.fr",
            organization_id=number,
            object_type="habilitation_request",
            object_id=number,
            details={"number": number, "note": f"entrée {number}"},
        )
        for number in range(1, count + 1)
    ]


def tamper(session: Session, sql: str, *types: tuple[str, TypeEngine[Any]], **values: Any) -> None:
    statement = text(sql).bindparams(*(bindparam(name, type_=type_) for name, type_ in types))
    session.execute(statement, values)


def forge_entry(session: Session, seq: int, prev_hash: str, *, well_formed: bool = True) -> None:
    """Insert a row as an intruder who knows the algorithm (``well_formed``) or does not."""
    fields = {
        "seq": seq,
        "created_at": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        "actor_id": None,
        "actor_email": "intrus@exemple.fr",
        "organization_id": None,
        "action": "habilitation_approved",
        "object_type": "habilitation_request",
        "object_id": "42",
        "request_id": None,
        "ip_address": None,
        "details": {},
    }
    digest = entry_digest(prev_hash, fields) if well_formed else "0" * 63 + "1"
    tamper(
        session,
        "INSERT INTO audit_entries (seq, created_at, actor_id, actor_email, organization_id, action, "
        "object_type, object_id, request_id, ip_address, details, prev_hash, hash) VALUES (:seq, "
        ":created_at, NULL, :actor_email, NULL, :action, :object_type, :object_id, NULL, NULL, :details, "
        ":prev_hash, :hash)",
        ("created_at", UTCDateTime()),
        ("details", JSON()),
        **{key: value for key, value in fields.items() if value is not None},
        prev_hash=prev_hash,
        hash=digest,
    )


def test_each_entry_links_to_the_previous_one(session: Session) -> None:
    entries = record_entries(session, 3)

    assert [entry.seq for entry in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert [entry.prev_hash for entry in entries[1:]] == [entry.hash for entry in entries[:-1]]
    assert len({entry.hash for entry in entries}) == 3
    head = session.get(AuditChainHead, 1)
    assert head is not None and (head.last_seq, head.last_hash) == (3, entries[-1].hash)


def test_an_empty_log_is_valid(session: Session) -> None:
    result = verify(session)
    assert (result.is_valid, result.checked, result.first_bad_seq) == (True, 0, None)


def test_an_intact_chain_verifies(session: Session) -> None:
    record_entries(session, 5)
    session.commit()
    session.expire_all()

    result = verify(session)

    assert (result.is_valid, result.checked, result.first_bad_seq, result.problem) == (True, 5, None, None)


@pytest.mark.parametrize(
    ("column", "value", "type_"),
    [
        ("created_at", datetime(2020, 1, 1, tzinfo=UTC), UTCDateTime()),
        ("actor_id", 999, Integer()),
        ("actor_email", "intrus@exemple.fr", String()),
        ("organization_id", 999, Integer()),
        ("action", "habilitation_approved", String()),
        ("object_type", "user", String()),
        ("object_id", "999", String()),
        ("request_id", "0123456789abcdef", String()),
        ("ip_address", "203.0.113.9", String()),
        ("details", {"number": 2, "note": "entrée modifiée"}, JSON()),
        ("prev_hash", "f" * 64, String()),
        ("hash", "e" * 64, String()),
    ],
)
def test_editing_any_field_is_detected(session: Session, column: str, value: Any, type_: TypeEngine[Any]) -> None:
    entries = record_entries(session, 4)  # kept alive: still in the session's identity map

    tamper(session, f"UPDATE audit_entries SET {column} = :value WHERE seq = 2", ("value", type_), value=value)
    result = verify(session)

    assert not result.is_valid
    assert result.first_bad_seq == entries[1].seq == 2
    assert result.checked == 1
    assert "n° 2" in (result.problem or "")


def test_every_hashed_field_is_covered_above() -> None:
    # If a field is added to the hash, add it to the parametrized edit test too.
    assert set(HASHED_FIELDS) - {"seq"} == {
        "created_at",
        "actor_id",
        "actor_email",
        "organization_id",
        "action",
        "object_type",
        "object_id",
        "request_id",
        "ip_address",
        "details",
    }


@pytest.mark.parametrize(("deleted", "first_bad"), [(1, 2), (3, 4)])
def test_deleting_a_row_before_the_last_is_detected(session: Session, deleted: int, first_bad: int) -> None:
    record_entries(session, 5)

    tamper(session, "DELETE FROM audit_entries WHERE seq = :seq", seq=deleted)
    result = verify(session)

    assert not result.is_valid
    assert result.first_bad_seq == first_bad
    assert result.problem == f"entrée n° {deleted} manquante avant la n° {first_bad}"


def test_deleting_the_last_row_is_detected(session: Session) -> None:
    record_entries(session, 5)

    tamper(session, "DELETE FROM audit_entries WHERE seq = 5")
    result = verify(session)

    assert not result.is_valid
    assert (result.checked, result.first_bad_seq) == (4, 5)
    assert "après la n° 4" in (result.problem or "")


def test_deleting_the_chain_head_is_detected(session: Session) -> None:
    record_entries(session, 3)

    tamper(session, "DELETE FROM audit_chain_head")
    result = verify(session)

    assert not result.is_valid
    assert (result.checked, result.first_bad_seq) == (3, 4)
    assert "tête de chaîne absente" in (result.problem or "")


def test_replacing_the_whole_tail_consistently_is_detected_by_the_head(session: Session) -> None:
    entries = record_entries(session, 3)

    # Rewrite the last entry and recompute its hash as an intruder knowing the algorithm would.
    tamper(session, "DELETE FROM audit_entries WHERE seq = 3")
    forge_entry(session, 3, entries[1].hash)
    result = verify(session)

    assert not result.is_valid
    assert result.first_bad_seq == 3
    assert "n° 3 remplacée" in (result.problem or "")


@pytest.mark.parametrize("well_formed", [True, False])
def test_a_row_forged_at_the_end_is_detected(session: Session, well_formed: bool) -> None:
    entries = record_entries(session, 5)

    forge_entry(session, 6, entries[-1].hash, well_formed=well_formed)
    result = verify(session)

    assert not result.is_valid
    assert result.first_bad_seq == 6
    assert "n° 6" in (result.problem or "")
    if well_formed:
        assert result.problem == "entrée n° 6 ajoutée hors du journal"


def test_a_row_forged_in_the_middle_is_detected(session: Session) -> None:
    entries = record_entries(session, 5)

    # Make room at n° 3 (in two steps: the seq column is unique at every row on PostgreSQL).
    tamper(session, "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 3")
    tamper(session, "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1000")
    forge_entry(session, 3, entries[1].hash)
    result = verify(session)

    # The forged row is consistent with its predecessor; the break shows at the next one.
    assert not result.is_valid
    assert result.first_bad_seq == 4
    assert result.problem == "entrée n° 4 : lien vers la précédente rompu"


TRICKY_TEXTS = [
    "guillemets \"doubles\" et 'simples', barre \\ oblique",
    "ligne 1\nligne 2\r\nretour\tchariot",
    "contrôle \x01\x07\x1b[31m rouge \x7f fin",
    "émoji 🔐🇫🇷 et séparateurs \u2028\u2029 et espace\u00a0insécable",
    '","action":"habilitation_approved',  # tries to close the JSON string and add a field
]


def test_tricky_characters_survive_the_round_trip(session: Session) -> None:
    for number, tricky in enumerate(TRICKY_TEXTS):
        record(
            session,
            "login_failed",
            actor_email=f"{tricky[:40]}@exemple.fr",
            object_type="user",
            object_id=tricky[:60],
            details={"saisie": tricky, tricky: [tricky, number, None, True, 1.5], "nul": "a\x00b"},
        )
    session.commit()
    session.expire_all()

    result = verify(session)

    assert (result.is_valid, result.checked) == (True, len(TRICKY_TEXTS))
    stored = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [entry.details["saisie"] for entry in stored] == TRICKY_TEXTS
    assert [entry.details["nul"] for entry in stored] == ["a\x00b"] * len(TRICKY_TEXTS)


def test_digest_cannot_be_forged_by_shifting_a_field_boundary() -> None:
    honest = entry_digest(GENESIS_HASH, {"actor_email": "a", "action": "b"})
    shifted = entry_digest(GENESIS_HASH, {"actor_email": 'a","action":"b', "action": None})
    assert honest != shifted


def test_verify_command_succeeds_on_an_intact_chain(app: Flask, session: Session) -> None:
    record_entries(session, 3)
    session.commit()

    result = app.test_cli_runner().invoke(audit_group, ["verify"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Journal d'audit intègre : 3 entrées vérifiées."


def test_verify_command_fails_and_names_the_entry(app: Flask, session: Session) -> None:
    record_entries(session, 3)
    session.commit()
    tamper(session, "UPDATE audit_entries SET actor_email = 'intrus@exemple.fr' WHERE seq = 2")

    result = app.test_cli_runner().invoke(audit_group, ["verify"])

    assert result.exit_code == 1
    assert "Journal d'audit ALTÉRÉ : entrée n° 2" in result.output
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 3
