"""Read side of accounts: who to write to."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, Membership, Organization, OrganizationKind, User


def member_emails(session: Session, organization_ids: Iterable[int | None]) -> list[str]:
    """The addresses of the active members of these organizations, each once, sorted."""
    wanted = {organization_id for organization_id in organization_ids if organization_id is not None}
    return list(
        session.execute(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id.in_(wanted), User.is_active.is_(True))
            .distinct()
            .order_by(User.email)
        ).scalars()
    )


def dgfip_instructors(session: Session) -> list[User]:
    """Active DGFiP users holding the instructeur function, by name."""
    return list(
        session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(
                Organization.kind == OrganizationKind.DGFIP,
                Membership.dgfip_function == DgfipFunction.INSTRUCTEUR,
                User.is_active.is_(True),
            )
            .distinct()
            .order_by(User.full_name)
        ).scalars()
    )
