"""Naming a request's éditeur and hébergeur (DOMAIN §4): by SIRET, inviting a first user when the
organization is new to the tracker. Flushes; the caller commits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import Invitation, Membership, Organization, OrganizationKind
from tracker.accounts.principal import Principal
from tracker.accounts.services import invite, normalize_email
from tracker.accounts.siret import normalize_siret, siret_error
from tracker.db import utcnow
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.services import (
    InvalidInput,
    audit_request,
    flush_checking_version,
    invalidate_attestations_of,
    prefill_section,
    require_collectivite_while_editable,
)
from tracker.habilitations.workflow import Actor
from tracker.products.services import ProductError, find_or_declare


class Hosting(enum.StrEnum):
    """Who hosts the software and the data."""

    SAME_AS_EDITEUR = "editeur"
    COLLECTIVITE = "collectivite"
    THIRD_PARTY = "tiers"

    @property
    def label(self) -> str:
        return {
            Hosting.SAME_AS_EDITEUR: "L'éditeur héberge lui-même le logiciel et les données",
            Hosting.COLLECTIVITE: "La collectivité héberge elle-même (sur site)",
            Hosting.THIRD_PARTY: "Un hébergeur tiers",
        }[self]


@dataclass(frozen=True)
class PartyContact:
    """An organization named by SIRET; ``name`` and ``email`` serve only if it is new to the tracker
    (or has no user yet), to create it and invite its first user."""

    siret: str
    name: str = ""
    email: str = ""


class PartyError(InvalidInput):
    """A refused designation, tied to the form field it concerns (``editeur`` or ``hebergeur``)."""

    def __init__(self, message: str, *, party: str, field: str) -> None:
        super().__init__(message)
        self.party = party
        self.field = field


def hosting_of(request: HabilitationRequest) -> Hosting | None:
    """Derived, not stored: the hosting choice is which organization the hébergeur is."""
    if request.hebergeur_id is None:
        return None
    if request.hebergeur_id == request.organization_id:
        return Hosting.COLLECTIVITE
    if request.hebergeur_id == request.editeur_id:
        return Hosting.SAME_AS_EDITEUR
    return Hosting.THIRD_PARTY


def _has_open_invitation(session: Session, organization: Organization, email: str) -> bool:
    """Saving the form again must not send the same person a second invitation."""
    return (
        session.execute(
            select(Invitation.id).where(
                Invitation.organization_id == organization.id,
                Invitation.email == normalize_email(email),
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
        ).first()
        is not None
    )


def _party(
    session: Session,
    request: HabilitationRequest,
    principal: Principal,
    contact: PartyContact,
    *,
    kind: OrganizationKind,
    party: str,
) -> Organization:
    siret = normalize_siret(contact.siret)
    if error := siret_error(siret):
        raise PartyError(error, party=party, field="siret")
    organization = session.execute(select(Organization).where(Organization.siret == siret)).scalar_one_or_none()
    if organization is None:
        if not contact.name.strip():
            raise PartyError(
                "Cette organisation n'est pas encore connue : indiquez sa raison sociale.", party=party, field="name"
            )
        organization = Organization(kind=kind, name=contact.name.strip(), siret=siret)
        session.add(organization)
        session.flush()
    if organization.kind is not kind:
        raise PartyError(
            f"Le SIRET {siret} est celui d'une organisation enregistrée comme {organization.kind.label.lower()}, "
            f"pas comme {kind.label.lower()}.",
            party=party,
            field="siret",
        )
    has_members = session.execute(
        select(func.count()).select_from(Membership).where(Membership.organization_id == organization.id)
    ).scalar_one()
    if not has_members and not _has_open_invitation(session, organization, contact.email):
        if not contact.email.strip():
            raise PartyError(
                f"{organization.name} n'a pas encore de compte : indiquez l'adresse électronique de la personne "
                "à inviter.",
                party=party,
                field="email",
            )
        invite(
            session,
            organization=organization,
            email=contact.email,
            invited_by=principal.user,
            habilitation_request=request,
        )
    return organization


def designate_parties(
    session: Session,
    request: HabilitationRequest,
    *,
    principal: Principal,
    editeur: PartyContact,
    hosting: Hosting,
    hebergeur: PartyContact | None = None,
    product_name: str = "",
    product_version: str = "",
    expected_version: int | None,
) -> None:
    """The collectivité names (or changes) its éditeur, the éditeur's software and its hébergeur while the
    request is editable. A request « avec éditeur » keeps the éditeur and software it was created for."""
    require_collectivite_while_editable(
        request,
        principal,
        expected_version,
        only="Seule la collectivité désigne son éditeur et son hébergeur.",
        locked="Les parties ne peuvent plus changer : la demande n'est pas modifiable.",
    )
    changes_editeur = request.editeur is None or normalize_siret(editeur.siret) != request.editeur.siret
    if changes_editeur and request.is_direct_production:
        raise PartyError(
            "Cette demande porte sur un logiciel déjà habilité en bac à sable : l'éditeur ne peut pas changer.",
            party="editeur",
            field="siret",
        )
    if changes_editeur and request.is_editeur_sandbox:
        raise PartyError(
            "Cette demande est celle de l'éditeur pour son propre logiciel : l'éditeur ne peut pas changer.",
            party="editeur",
            field="siret",
        )
    previous = {Actor.EDITEUR: request.editeur_id, Actor.HEBERGEUR: request.hebergeur_id}
    chosen_editeur = _party(session, request, principal, editeur, kind=OrganizationKind.EDITEUR, party="editeur")
    if not request.has_fixed_product and (product_name or product_version):
        try:
            request.software_product = find_or_declare(
                session, chosen_editeur, product_name, product_version, declared_by=principal
            )
        except ProductError as error:
            raise PartyError(error.message, party="product", field=error.field) from error
    request.editeur = chosen_editeur
    if request.software_product is not None:
        product = request.software_product
        prefill_section(
            session,
            request,
            "modalites",
            {"logiciel_nom": product.name, "logiciel_version": product.version},
            principal,
        )
    if hosting is Hosting.SAME_AS_EDITEUR:
        request.hebergeur = request.editeur
    elif hosting is Hosting.COLLECTIVITE:
        request.hebergeur = request.organization
    else:
        if hebergeur is None:
            raise PartyError("Indiquez le SIRET de l'hébergeur.", party="hebergeur", field="siret")
        request.hebergeur = _party(
            session, request, principal, hebergeur, kind=OrganizationKind.HEBERGEUR, party="hebergeur"
        )
    now_playing = {Actor.EDITEUR: request.editeur.id, Actor.HEBERGEUR: request.hebergeur.id}
    for party, organization_id in previous.items():
        if organization_id is not None and now_playing[party] != organization_id:
            invalidate_attestations_of(
                session,
                request,
                party,
                principal,
                reason=f"{party.label} remplacé par la collectivité : ses attestations sont à signer par le nouveau.",
            )
    request.last_event_at = utcnow()  # bumps the version: forms read before this are now stale
    flush_checking_version(session)
    audit_request(
        session,
        principal,
        request,
        "request.parties_designated",
        {
            "editeur": request.editeur.siret,
            "hebergeur": request.hebergeur.siret,
            "hosting": hosting.value,
            "product": request.software_product.label if request.software_product else None,
        },
    )
