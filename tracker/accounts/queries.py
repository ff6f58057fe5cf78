"""Read side of accounts: who to write to.

Each recipient set is one statement, whatever its size: who turned a notification off is decided inside
that statement (``NOT EXISTS`` on ``notification_preferences``), never user by user. The rules of who may
turn what off are in ``tracker.notify.kinds``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from tracker.accounts.models import DgfipFunction, Membership, Organization, OrganizationKind, User
from tracker.notify.kinds import NotificationKind
from tracker.notify.models import NotificationPreference


def _receives(user_id: ColumnElement[int], kind: NotificationKind) -> ColumnElement[bool]:
    """The user has not turned ``kind`` off (no row, or a row saying « received »)."""
    return ~exists().where(
        NotificationPreference.user_id == user_id,
        NotificationPreference.kind == kind,
        NotificationPreference.is_enabled.is_(False),
    )


def _nobody_else_receives(membership: type[Membership], kind: NotificationKind) -> ColumnElement[bool]:
    """No active member of ``membership``'s organization receives ``kind``: a decision would reach nobody
    there, so every member gets it whatever they chose (``NotificationKind.must_reach_each_organization``)."""
    colleague, colleague_membership = aliased(User), aliased(Membership)
    return ~exists().where(
        colleague_membership.organization_id == membership.organization_id,
        colleague.id == colleague_membership.user_id,
        colleague.is_active.is_(True),
        _receives(colleague.id, kind),
    )


def member_emails(
    session: Session,
    organization_ids: Iterable[int | None],
    *,
    kind: NotificationKind,
    also_to: Iterable[str | None] = (),
) -> list[str]:
    """The addresses that receive ``kind`` among the active members of these organizations, plus the
    addresses ``also_to`` (contacts named in a request) unless they belong to a user who turned ``kind``
    off; each once, sorted. One statement."""
    wanted = {organization_id for organization_id in organization_ids if organization_id is not None}
    named = {address.strip().lower(): address.strip() for address in also_to if address and address.strip()}
    membership = aliased(Membership)
    is_wanted_member = exists().where(membership.user_id == User.id, membership.organization_id.in_(wanted))
    receives = _receives(User.id, kind)
    if kind.must_reach_each_organization:
        receives = or_(
            receives,
            exists().where(
                membership.user_id == User.id,
                membership.organization_id.in_(wanted),
                _nobody_else_receives(membership, kind),
            ),
        )
    candidates = [and_(User.is_active.is_(True), is_wanted_member)]
    if named:
        candidates.append(User.email.in_(named))  # stored lowercased (accounts.services.normalize_email)
    rows = session.execute(select(User.email, receives.label("receives")).where(or_(*candidates))).all()
    users = {email for email, _receives_it in rows}
    recipients = {email for email, receives_it in rows if receives_it}
    # Named contacts with no account have nowhere to choose: they always get it.
    recipients.update(address for key, address in named.items() if key not in users)
    return sorted(recipients)


def dgfip_instructors(session: Session, *, receiving: NotificationKind | None = None) -> list[User]:
    """Active DGFiP users holding the instructeur function, by name; with ``receiving``, only those who
    have not turned that notification off (DGFiP agents' choices are always honoured, see
    ``tracker.notify.kinds``)."""
    query = (
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
    )
    if receiving is not None:
        query = query.where(_receives(User.id, receiving))
    return list(session.execute(query).scalars())
