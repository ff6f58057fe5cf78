"""The emails of the request's lifecycle (DOMAIN §10), as words: what each one says, to whom it goes is
decided by the services. Pure; one pair of templates (emails/notice.*) lays every one of them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracker.habilitations.models import Habilitation, HabilitationRequest
from tracker.habilitations.workflow import Stage

APPEAL_ROUTES = (
    "Sans décision de la DGFiP dans ce délai, la demande est réputée rejetée (articles L.231-1 et L.231-4 du "
    "code des relations entre le public et l'administration). Vous pourrez alors former un recours gracieux "
    "auprès de la DGFiP ou un recours contentieux devant le tribunal administratif, dans les deux mois."
)


@dataclass(frozen=True)
class Notice:
    subject: str
    heading: str
    paragraphs: tuple[str, ...]
    quote: str | None = None


def approval_contacts(request: HabilitationRequest) -> tuple[str, ...]:
    """The addresses of the responsable de traitement and the DPO named in the request's « contacts »
    section, who are told of the approval (DOMAIN §4, §10) whether or not they have an account."""
    contacts = request.section(Stage.SANDBOX, "contacts")
    if contacts is None:
        return ()
    return tuple(address for key in ("responsable_email", "dpo_email") if (address := contacts.data.get(key)))


def _named(request: HabilitationRequest) -> str:
    return f"{request.number} « {request.intitule} » de {request.organization.name}"


def submission_received(request: HabilitationRequest, deadline: datetime) -> Notice:
    return Notice(
        subject=f"Demande {request.number} : soumission reçue par la DGFiP",
        heading="Votre demande est soumise à la DGFiP",
        paragraphs=(
            f"La demande d'habilitation {_named(request)} ({request.stage.label.lower()}) a bien été soumise.",
            f"La DGFiP doit l'instruire au plus tard le {deadline:%d/%m/%Y}.",
            APPEAL_ROUTES,
        ),
    )


def submission_to_instruct(request: HabilitationRequest, deadline: datetime) -> Notice:
    return Notice(
        subject=f"Demande {request.number} à instruire ({request.organization.name})",
        heading="Une demande est à instruire",
        paragraphs=(
            f"La demande d'habilitation {_named(request)} ({request.stage.label.lower()}"
            + (", mise à jour" if request.is_reopening else "")
            + ") vient d'être soumise.",
            f"Date limite d'instruction : {deadline:%d/%m/%Y}.",
        ),
    )


def approved(request: HabilitationRequest, habilitation: Habilitation, message: str | None) -> Notice:
    return Notice(
        subject=f"Demande {request.number} validée : habilitation {habilitation.number}",
        heading=f"L'habilitation {habilitation.number} est délivrée",
        paragraphs=(
            f"La DGFiP a validé la demande {_named(request)} pour l'étape « {habilitation.stage.label} ».",
            "Les accès à l'API Impôt particulier seront transmis au contact technique désigné dans la demande.",
        ),
        quote=message,
    )


def api_management_notice(request: HabilitationRequest, habilitation: Habilitation) -> Notice:
    environment = "PROD" if habilitation.stage is Stage.PRODUCTION else "BAS"
    return Notice(
        subject=f"[{environment}] Habilitation {habilitation.number} à ouvrir ({request.organization.name})",
        heading=f"Accès {environment} à ouvrir : habilitation {habilitation.number}",
        paragraphs=(
            f"Demande {_named(request)}, SIRET {request.organization.siret}.",
            f"Habilitation {habilitation.number} validée pour l'environnement {environment}.",
        ),
    )


def refused(request: HabilitationRequest, reason: str, *, was_update: bool) -> Notice:
    what = "La mise à jour de la demande" if was_update else "La demande"
    return Notice(
        subject=f"Demande {request.number} : {'mise à jour refusée' if was_update else 'refusée'}",
        heading=f"{what} est refusée",
        paragraphs=(
            f"{what} {_named(request)} est refusée par la DGFiP, pour le motif suivant :",
            "L'habilitation en vigueur reste active." if was_update else APPEAL_ROUTES.split(". ", 1)[1],
        ),
        quote=reason,
    )


def revoked(request: HabilitationRequest, reason: str) -> Notice:
    return Notice(
        subject=f"Demande {request.number} : habilitations révoquées",
        heading="Les habilitations de la demande sont révoquées",
        paragraphs=(
            f"La DGFiP a révoqué toutes les habilitations de la demande {_named(request)}, pour le motif suivant :",
            "Le téléservice ne doit plus appeler l'API Impôt particulier.",
        ),
        quote=reason,
    )
