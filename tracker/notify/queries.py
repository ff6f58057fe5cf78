"""Read side of notification preferences: what a user receives, and as whom."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracker.accounts.models import Membership
from tracker.habilitations.workflow import Actor
from tracker.notify.kinds import PREFERENCE_KINDS, NotificationKind
from tracker.notify.models import NotificationPreference


def received_kinds(session: Session, user_id: int) -> dict[NotificationKind, bool]:
    """Every notification a user may turn off, and whether they receive it (no row: they do)."""
    chosen = dict(
        session.execute(
            select(NotificationPreference.kind, NotificationPreference.is_enabled).where(
                NotificationPreference.user_id == user_id
            )
        ).all()
    )
    return {kind: chosen.get(kind, True) for kind in PREFERENCE_KINDS}


def actors_of(session: Session, user_id: int) -> set[Actor]:
    """Every capacity a user acts in, across their organizations (someone may belong to several)."""
    memberships = session.execute(
        select(Membership).options(joinedload(Membership.organization)).where(Membership.user_id == user_id)
    ).scalars()
    return {membership.actor for membership in memberships}
