"""Fixtures of the dossier tests: requests built through the real services, whose document fields hold real
uploaded PDFs (the builders' placeholder references name no stored file), with fixed names so that the
layout of a dossier, hence its page count, does not depend on the order the tests run in."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from factories import make_organization, make_user
from flask import Flask
from habilitations.builders import PATHS, Cast, Situation, make_submittable, new_request, sign_ready_attestations
from pypdf import PdfWriter
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, OrganizationKind
from tracker.documents.services import Upload, save_section_with_documents
from tracker.documents.storage import LocalStorage
from tracker.dossiers.content import DossierContent, build_content
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, Stage

GENERATED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
VERIFICATION_URL = "http://tracker.test/dossiers/verifier"


def pdf_bytes(pages: int, marker: str) -> bytes:
    """A small valid PDF; ``marker`` (in its metadata) makes each file's bytes, hence its SHA-256, unique."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": marker})
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


# What each document field receives: (file name, pages). Fields left out lose the builders' placeholders.
SANDBOX_FILES = {
    "cadre_juridique": {"cadre_juridique_documents": [("Délibération 2026-12.pdf", 2)]},
    "hebergement": {"hds_certificat": [("Certificat HDS.pdf", 1)]},
}
PRODUCTION_FILES = {
    "recette_fonctionnelle": {"recette_rapport": [("Procès-verbal de recette.pdf", 3)]},
    "homologation": {"homologation_decision": [("Décision d'homologation.pdf", 1)]},
}


@dataclass
class Uploaded:
    """The bytes of every file uploaded for a request, by uploaded name."""

    files: dict[str, bytes]


@pytest.fixture
def storage(app: Flask) -> LocalStorage:
    return app.extensions["tracker_storage"]


@pytest.fixture
def cast(session: Session) -> Cast:
    collectivite = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Saint-Médard-en-Jalles")
    editeur = make_organization(session, OrganizationKind.EDITEUR, name="Logiciels d'Aquitaine SAS")
    hebergeur = make_organization(session, OrganizationKind.HEBERGEUR, name="Garonne Hébergement SAS")
    dgfip = make_organization(session, OrganizationKind.DGFIP, name="DGFiP – Bureau de l'accès aux données")
    return Cast(
        collectivite=make_user(session, collectivite, full_name="Claire Martin"),
        editeur=make_user(session, editeur, full_name="Julien Bernard"),
        hebergeur=make_user(session, hebergeur, full_name="Sophie Petit"),
        instructeur=make_user(session, dgfip, full_name="Marc Durand", dgfip_function=DgfipFunction.INSTRUCTEUR),
        rapporteur=make_user(session, dgfip, full_name="Nadia Lefèvre", dgfip_function=DgfipFunction.RAPPORTEUR),
    )


def use_real_documents(
    session: Session,
    storage: LocalStorage,
    request: HabilitationRequest,
    cast: Cast,
    files: dict[str, dict[str, list[tuple[str, int]]]],
    uploaded: Uploaded,
) -> None:
    """Every open section of the current stage with document fields gets real uploads (or none), by its
    owner through the section service, and is attested again."""
    for definition in services.definitions_in_form(request):
        if not definition.document_fields or not services.section_is_editable(request, definition):
            continue
        row = request.section(definition.stage, definition.key)
        data = dict(row.data if row else {})
        removed, uploads = {}, {}
        for field in definition.document_fields:
            removed[field.key] = [str(reference["id"]) for reference in data.pop(field.key, [])]
            uploads[field.key] = []
            for name, pages in files.get(definition.key, {}).get(field.key, []):
                content = pdf_bytes(pages, f"{request.id}/{name}")
                uploaded.files[name] = content
                uploads[field.key].append(Upload(name, io.BytesIO(content)))
        principal = cast.owner_of(definition)
        _, refused = save_section_with_documents(
            session,
            storage,
            request,
            definition.key,
            data,
            uploads=uploads,
            removed=removed,
            principal=principal,
            expected_version=None,
        )
        assert not refused, refused
        sign_ready_attestations(session, request, [principal])


@dataclass
class Built:
    request: HabilitationRequest
    uploaded: Uploaded


def build_with_documents(
    session: Session, storage: LocalStorage, cast: Cast, situation: Situation, *, intitule: str | None = None
) -> Built:
    """``habilitations.builders.build``, with real documents uploaded before each submission."""
    request = new_request(session, cast)
    uploaded = Uploaded({})
    make_submittable(session, request, cast)
    if intitule is not None:
        set_project(session, request, cast, intitule=intitule)
    use_real_documents(session, storage, request, cast, SANDBOX_FILES, uploaded)
    for step in PATHS[situation]:
        step(session, request, cast)
        if step is make_submittable and request.stage is Stage.PRODUCTION:
            use_real_documents(session, storage, request, cast, PRODUCTION_FILES, uploaded)
    session.flush()
    return Built(request, uploaded)


def set_project(session: Session, request: HabilitationRequest, cast: Cast, **changes: str) -> None:
    """Change fields of « Mon projet » (and attest it again)."""
    row = request.section(Stage.SANDBOX, "projet")
    assert row is not None
    services.save_section(
        session,
        request,
        "projet",
        {**row.data, **changes},
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    sign_ready_attestations(session, request, [cast.principal(Actor.COLLECTIVITE)])


@pytest.fixture
def build(session: Session, storage: LocalStorage, cast: Cast) -> Callable[..., Built]:
    def _build(situation: Situation, **options: str) -> Built:
        return build_with_documents(session, storage, cast, situation, **options)

    return _build


@pytest.fixture
def content_of(session: Session) -> Callable[..., DossierContent]:
    def _content(request: HabilitationRequest, kind: str = "current") -> DossierContent:
        return build_content(session, request, kind=kind, generated_at=GENERATED_AT, verification_url=VERIFICATION_URL)

    return _content
