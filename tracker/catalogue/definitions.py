"""The vocabulary in which an API's habilitation form is described: plain frozen data, no behaviour."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from tracker.habilitations.workflow import Actor, Stage


class FieldKind(enum.StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    DATE = "date"
    INTEGER = "integer"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    SIRET = "siret"
    # A ticked box (stored as true), e.g. a commitment.
    CONFIRMATION = "confirmation"
    # Uploaded files, stored as references to exact versions (id, name, SHA-256, size).
    DOCUMENTS = "documents"
    # The data items of the API (DOMAIN §6), and a justification per item beyond the advice.
    SCOPES = "scopes"
    SCOPE_JUSTIFICATIONS = "scope_justifications"


@dataclass(frozen=True)
class FieldDefinition:
    key: str
    label: str
    kind: FieldKind = FieldKind.TEXT
    is_required: bool = False
    help_text: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    min_value: int | None = None
    # DOCUMENTS: the kinds of file accepted (« pdf », « ods », « xlsx », « xls », « csv »).
    accepts: tuple[str, ...] = ()


MAX_DOCUMENTS_PER_FIELD = 6


@dataclass(frozen=True)
class ValidationContext:
    """What some rules need beyond the section's own content: today's date (dates « in the future »), the
    request's creation date (deprecated scopes) and its use case (the minimisation advice)."""

    today: date
    created_on: date
    use_case: str | None = None

    @classmethod
    def on(cls, today: date) -> ValidationContext:
        return cls(today=today, created_on=today)

    def with_use_case(self, use_case: str | None) -> ValidationContext:
        return replace(self, use_case=use_case)


# A rule across fields: given the section's content, the errors by field key (empty when it holds).
CrossFieldCheck = Callable[[Mapping[str, Any], ValidationContext], dict[str, str]]


@dataclass(frozen=True)
class SectionDefinition:
    key: str
    label: str
    owner: Actor
    stage: Stage
    fields: tuple[FieldDefinition, ...]
    description: str = ""
    checks: tuple[CrossFieldCheck, ...] = ()
    # Applied to submitted content before it is stored (e.g. drop what no longer applies).
    normalizers: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = ()

    def field(self, key: str) -> FieldDefinition:
        return next(f for f in self.fields if f.key == key)

    @property
    def document_fields(self) -> tuple[FieldDefinition, ...]:
        return tuple(f for f in self.fields if f.kind is FieldKind.DOCUMENTS)


@dataclass(frozen=True)
class UseCase:
    """A typical project, and the texts it prefills (DOMAIN §7); ``[à compléter …]`` marks what the
    collectivité must still write itself."""

    key: str
    label: str
    intitule: str = ""
    description: str = ""
    destinataires: str = ""
    cadre_juridique_nature: str = ""


@dataclass(frozen=True)
class CguVersion:
    """A version of the terms of use of one stage; the SHA-256 binds an acceptance to the exact text."""

    stage: Stage
    version: str
    path: Path

    # Read once per process: the file of a published version never changes (its hash says so).
    @cached_property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Statement:
    """The text a signer attests, in one version; its SHA-256 binds a signature to these exact words."""

    version: str
    text: str

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AttestationDefinition:
    """A kind of attestation (DOMAIN §8): who signs it, in which stage, over which sections."""

    key: str
    label: str
    owner: Actor
    stage: Stage
    sections: tuple[str, ...]
    statement: Statement


@dataclass(frozen=True)
class ExpiryDate:
    """A date of the approved content past which the production habilitation lapses (DOMAIN §9): the
    owning party and the collectivité are reminded before it."""

    key: str
    label: str
    owner: Actor
    section: str
    field: str
    # When the date only counts if the section says so (a certification actually held).
    applies: Callable[[Mapping[str, Any]], bool] = lambda _data: True


@dataclass(frozen=True)
class ApiDefinition:
    key: str
    label: str
    sections: tuple[SectionDefinition, ...]
    use_cases: tuple[UseCase, ...]
    current_cgu: dict[Stage, CguVersion] = field(default_factory=dict)
    attestations: tuple[AttestationDefinition, ...] = ()
    expiry_dates: tuple[ExpiryDate, ...] = ()

    def section(self, key: str) -> SectionDefinition:
        return next(s for s in self.sections if s.key == key)

    def sections_of(self, stage: Stage) -> tuple[SectionDefinition, ...]:
        return tuple(s for s in self.sections if s.stage is stage)

    def required_sections(self, stage: Stage) -> tuple[SectionDefinition, ...]:
        """Sandbox sections stay required (read-only, still attested) in the production stage."""
        if stage is Stage.SANDBOX:
            return self.sections_of(Stage.SANDBOX)
        return self.sections

    def attestation(self, key: str) -> AttestationDefinition:
        return next(a for a in self.attestations if a.key == key)

    def attestation_covering(self, section_key: str) -> AttestationDefinition:
        """Every section is covered by exactly one attestation (checked when the catalogue loads)."""
        return next(a for a in self.attestations if section_key in a.sections)

    def followed_dates(self, contents: Mapping[str, Mapping[str, Any]]) -> list[tuple[ExpiryDate, date]]:
        """The expiry dates held by approved content (section data keyed by section key), soonest first."""
        found = []
        for expiry in self.expiry_dates:
            data = contents.get(expiry.section) or {}
            try:
                day = date.fromisoformat(data[expiry.field])
            except (KeyError, TypeError, ValueError):
                continue
            if expiry.applies(data):
                found.append((expiry, day))
        return sorted(found, key=lambda item: item[1])

    def use_case(self, key: str | None) -> UseCase | None:
        return next((u for u in self.use_cases if u.key == key), None)
