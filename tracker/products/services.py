"""Declaring software products. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import Organization
from tracker.accounts.principal import Principal
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.habilitations.workflow import Actor, ActorNotAllowed, WorkflowError
from tracker.products.models import SoftwareProduct


class ProductError(WorkflowError):
    """A refused declaration, tied to the form field it concerns."""

    http_status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _normalized(name: str, version: str) -> tuple[str, str]:
    name, version = " ".join(name.split()), " ".join(version.split())
    if not name:
        raise ProductError("Indiquez le nom du logiciel.", field="name")
    if not version:
        raise ProductError("Indiquez la version du logiciel.", field="version")
    return name, version


def _find(session: Session, editeur: Organization, name: str, version: str) -> SoftwareProduct | None:
    """The same product, case aside."""
    return session.execute(
        select(SoftwareProduct).where(
            SoftwareProduct.editeur_id == editeur.id,
            func.lower(SoftwareProduct.name) == name.lower(),
            func.lower(SoftwareProduct.version) == version.lower(),
        )
    ).scalar_one_or_none()


def _create(
    session: Session, editeur: Organization, name: str, version: str, *, declared_by: Principal
) -> SoftwareProduct:
    product = SoftwareProduct(
        editeur_id=editeur.id, name=name, version=version, created_by_id=declared_by.user.id, created_at=utcnow()
    )
    session.add(product)
    session.flush()
    audit.record(
        session,
        "product.declared",
        actor=declared_by.user,
        organization_id=declared_by.organization.id,
        object_type="software_product",
        object_id=product.id,
        details={"editeur": editeur.siret, "name": name, "version": version},
    )
    return product


def find_or_declare(
    session: Session, editeur: Organization, name: str, version: str, *, declared_by: Principal
) -> SoftwareProduct:
    """The éditeur's product of that name and version, created if new: a collectivité naming its
    éditeur's software declares it on the éditeur's behalf."""
    name, version = _normalized(name, version)
    return _find(session, editeur, name, version) or _create(session, editeur, name, version, declared_by=declared_by)


def declare_product(session: Session, *, principal: Principal, name: str, version: str) -> SoftwareProduct:
    """An éditeur adds one of its products; declaring the same one twice is refused."""
    if principal.actor is not Actor.EDITEUR:
        raise ActorNotAllowed("Seul un éditeur déclare ses logiciels.")
    name, version = _normalized(name, version)
    if existing := _find(session, principal.organization, name, version):
        raise ProductError(f"Le logiciel {existing.label} est déjà déclaré.", field="name")
    return _create(session, principal.organization, name, version, declared_by=principal)
