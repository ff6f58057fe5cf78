"""Read side of software products: an éditeur's catalogue, and the products a collectivité may take
« avec éditeur » (their sandbox habilitation is active)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import Organization
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState
from tracker.habilitations.workflow import Stage
from tracker.products.models import SoftwareProduct


def _latest_sandbox_habilitations():  # type: ignore[no-untyped-def]
    """Per product, the latest sandbox habilitation of the éditeur's own request for it."""
    return (
        select(
            HabilitationRequest.software_product_id.label("product_id"),
            func.max(Habilitation.id).label("habilitation_id"),
        )
        .join(Habilitation, Habilitation.request_id == HabilitationRequest.id)
        .join(SoftwareProduct, SoftwareProduct.id == HabilitationRequest.software_product_id)
        .where(
            HabilitationRequest.organization_id == SoftwareProduct.editeur_id,
            Habilitation.stage == Stage.SANDBOX,
        )
        .group_by(HabilitationRequest.software_product_id)
        .subquery()
    )


@dataclass(frozen=True)
class ProductRow:
    product: SoftwareProduct
    sandbox_habilitation: Habilitation | None


def products_of(session: Session, editeur_id: int) -> list[ProductRow]:
    """An éditeur's products with their latest sandbox habilitation, in one statement."""
    latest = _latest_sandbox_habilitations()
    rows = session.execute(
        select(SoftwareProduct, Habilitation)
        .outerjoin(latest, latest.c.product_id == SoftwareProduct.id)
        .outerjoin(Habilitation, Habilitation.id == latest.c.habilitation_id)
        .where(SoftwareProduct.editeur_id == editeur_id)
        .order_by(SoftwareProduct.name, SoftwareProduct.version)
    ).all()
    return [ProductRow(product, habilitation) for product, habilitation in rows]


def products_ready_for_production(session: Session) -> list[tuple[SoftwareProduct, Organization, Habilitation]]:
    """Products whose latest sandbox habilitation is active, with their éditeur, by éditeur and name."""
    latest = _latest_sandbox_habilitations()
    rows = session.execute(
        select(SoftwareProduct, Organization, Habilitation)
        .join(latest, latest.c.product_id == SoftwareProduct.id)
        .join(Habilitation, Habilitation.id == latest.c.habilitation_id)
        .join(Organization, Organization.id == SoftwareProduct.editeur_id)
        .where(Habilitation.state == HabilitationState.ACTIVE)
        .order_by(Organization.name, SoftwareProduct.name, SoftwareProduct.version)
    ).all()
    return [(product, editeur, habilitation) for product, editeur, habilitation in rows]


def sandbox_habilitation_of(session: Session, product: SoftwareProduct) -> Habilitation | None:
    """The latest sandbox habilitation of the éditeur's own request for ``product``, whatever its state."""
    latest = _latest_sandbox_habilitations()
    return session.execute(
        select(Habilitation)
        .join(latest, latest.c.habilitation_id == Habilitation.id)
        .where(latest.c.product_id == product.id)
    ).scalar_one_or_none()
