"""The notifications of DOMAIN §10 that the tracker sends, who receives each, and which ones a user may
turn off. Pure: no Flask, no database.

Who may mute what, and why:

- **Invitations** go to an address that may have no account yet, and the **API-management notice** goes
  to a team mailbox: neither has a user behind it to hold a preference, so neither is a preference.
- **DGFiP agents** may turn off every notification they receive (new submission to instruct, expired
  habilitation). Their work queue is the instruction list and the expiry page, which show every request
  with its deadline; the emails only point at it. Their muting is therefore always honoured, and their
  emails carry a one-click « Ne plus recevoir ce type de notification » link.
- **Collectivités, éditeurs and hébergeurs** may mute any notification, but the ones that carry a decision
  of the DGFiP or a legal effect (submission acknowledgement with the implicit-rejection date and the
  appeal routes, changes requested, approval, refusal, revocation, expiry reminders, expiry, credentials
  available) must still reach the organization: a member's muting holds only while at least one other
  active member of the same organization still receives it. When every member muted it, every member
  gets it again, since nobody can be picked in their place. In short: a member may stop receiving
  copies, an organization may not stop hearing a decision about its request. An attestation to sign
  again is a consequence of the parties' own edits, shown on the request and blocking its submission, so
  muting it is always honoured.
- Named contacts of the request (responsable de traitement, DPO) who have no account always receive the
  approval: they have nowhere to choose otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tracker.habilitations.workflow import Actor

PARTIES = frozenset({Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR})


class NotificationGroup(enum.StrEnum):
    INSTRUCTION = "instruction"
    ATTESTATIONS = "attestations"
    EXPIRY = "expiry"
    ACCESS = "access"

    @property
    def label(self) -> str:
        return {
            NotificationGroup.INSTRUCTION: "Instruction des demandes",
            NotificationGroup.ATTESTATIONS: "Sections et attestations",
            NotificationGroup.EXPIRY: "Échéances des habilitations",
            NotificationGroup.ACCESS: "Accès à l'API",
        }[self]


@dataclass(frozen=True)
class KindInfo:
    label: str
    description: str
    group: NotificationGroup
    # Who receives it, as workflow actors (a party, or a DGFiP function); empty for mailboxes and
    # addresses that are not users.
    recipients: frozenset[Actor]
    is_preference: bool = True
    must_reach_each_organization: bool = False


class NotificationKind(enum.StrEnum):
    SUBMISSION_RECEIVED = "submission_received"
    SUBMISSION_TO_INSTRUCT = "submission_to_instruct"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"
    API_MANAGEMENT = "api_management"
    INVITATION = "invitation"
    ATTESTATION_INVALIDATED = "attestation_invalidated"
    EXPIRY_REMINDER = "expiry_reminder"
    HABILITATION_EXPIRED = "habilitation_expired"
    CREDENTIALS_AVAILABLE = "credentials_available"

    @property
    def info(self) -> KindInfo:
        return KINDS[self]

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def group(self) -> NotificationGroup:
        return self.info.group

    @property
    def recipients(self) -> frozenset[Actor]:
        return self.info.recipients

    @property
    def is_preference(self) -> bool:
        return self.info.is_preference

    @property
    def must_reach_each_organization(self) -> bool:
        return self.info.must_reach_each_organization


KINDS: dict[NotificationKind, KindInfo] = {
    NotificationKind.SUBMISSION_RECEIVED: KindInfo(
        "Accusé de réception d'une soumission",
        "La demande est soumise à la DGFiP : date limite d'instruction et voies de recours.",
        NotificationGroup.INSTRUCTION,
        frozenset({Actor.COLLECTIVITE}),
        must_reach_each_organization=True,
    ),
    NotificationKind.SUBMISSION_TO_INSTRUCT: KindInfo(
        "Nouvelle demande à instruire",
        "Une demande vient d'être soumise à la DGFiP, avec sa date limite d'instruction.",
        NotificationGroup.INSTRUCTION,
        frozenset({Actor.INSTRUCTEUR}),
    ),
    NotificationKind.CHANGES_REQUESTED: KindInfo(
        "Modifications demandées",
        "La DGFiP demande des modifications sur des sections de la demande, avec son motif.",
        NotificationGroup.INSTRUCTION,
        PARTIES,
        must_reach_each_organization=True,
    ),
    NotificationKind.APPROVED: KindInfo(
        "Demande validée",
        "La DGFiP valide une étape de la demande et délivre l'habilitation.",
        NotificationGroup.INSTRUCTION,
        frozenset({Actor.COLLECTIVITE}),
        must_reach_each_organization=True,
    ),
    NotificationKind.REFUSED: KindInfo(
        "Demande refusée",
        "La DGFiP refuse la demande ou sa mise à jour, avec son motif.",
        NotificationGroup.INSTRUCTION,
        PARTIES,
        must_reach_each_organization=True,
    ),
    NotificationKind.REVOKED: KindInfo(
        "Habilitations révoquées",
        "La DGFiP retire les habilitations de la demande, avec son motif.",
        NotificationGroup.INSTRUCTION,
        PARTIES,
        must_reach_each_organization=True,
    ),
    NotificationKind.API_MANAGEMENT: KindInfo(
        "Habilitation à ouvrir (gestion des accès à l'API)",
        "Envoyée à la boîte de l'équipe de gestion des accès, bac à sable (BAS) ou production (PROD).",
        NotificationGroup.INSTRUCTION,
        frozenset(),
        is_preference=False,
    ),
    NotificationKind.INVITATION: KindInfo(
        "Invitation à rejoindre une organisation",
        "Envoyée à une adresse qui n'a pas forcément de compte.",
        NotificationGroup.INSTRUCTION,
        frozenset(),
        is_preference=False,
    ),
    NotificationKind.ATTESTATION_INVALIDATED: KindInfo(
        "Attestation à signer de nouveau",
        "Une section attestée a changé, ou une partie a été remplacée : l'attestation qui la couvre est à "
        "signer de nouveau.",
        NotificationGroup.ATTESTATIONS,
        PARTIES,
    ),
    NotificationKind.EXPIRY_REMINDER: KindInfo(
        "Rappels d'échéance",
        "90, 30 et 7 jours avant la fin de l'homologation de sécurité ou d'une certification de l'hébergeur.",
        NotificationGroup.EXPIRY,
        PARTIES,
        must_reach_each_organization=True,
    ),
    NotificationKind.HABILITATION_EXPIRED: KindInfo(
        "Habilitation expirée",
        "Une habilitation de production a expiré : une date d'homologation ou de certification est passée.",
        NotificationGroup.EXPIRY,
        PARTIES | {Actor.INSTRUCTEUR},
        must_reach_each_organization=True,
    ),
    NotificationKind.CREDENTIALS_AVAILABLE: KindInfo(
        "Accès à l'API disponibles",
        "La DGFiP a délivré (ou renouvelé) les identifiants d'accès à l'API d'une habilitation : le secret se "
        "récupère dans le service, jamais par courriel.",
        NotificationGroup.ACCESS,
        frozenset({Actor.COLLECTIVITE, Actor.EDITEUR}),
        must_reach_each_organization=True,
    ),
}

PREFERENCE_KINDS = tuple(kind for kind in NotificationKind if kind.is_preference)


def kinds_received_by(actors: set[Actor] | frozenset[Actor]) -> list[NotificationKind]:
    """The notifications a user acting as any of ``actors`` may receive and choose, in display order."""
    return [kind for kind in PREFERENCE_KINDS if kind.recipients & actors]


def grouped(kinds: list[NotificationKind]) -> list[tuple[NotificationGroup, list[NotificationKind]]]:
    """``kinds`` by group, groups in their declared order, empty groups left out."""
    return [
        (group, members) for group in NotificationGroup if (members := [kind for kind in kinds if kind.group is group])
    ]
