"""Who is acting in this request: the user, the membership they logged in with, its organization."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, g
from flask_login import current_user

from tracker.accounts.models import Membership, Organization, OrganizationKind, User
from tracker.habilitations.workflow import Actor


@dataclass(frozen=True)
class Principal:
    user: User
    membership: Membership

    @property
    def organization(self) -> Organization:
        return self.membership.organization

    @property
    def actor(self) -> Actor:
        return self.membership.actor

    @property
    def is_dgfip(self) -> bool:
        return self.organization.kind is OrganizationKind.DGFIP


def current_principal() -> Principal:
    """The acting principal; views behind ``login_required`` can rely on it."""
    principal = g.get("principal")
    if principal is None or not current_user.is_authenticated:
        abort(401)
    return principal


def current_dgfip_principal() -> Principal:
    """The acting principal of a DGFiP page (instructeur or rapporteur); anyone else is answered 403."""
    principal = current_principal()
    if not principal.is_dgfip:
        abort(403)
    return principal
