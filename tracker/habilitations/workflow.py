"""The request lifecycle as one table (DOMAIN §3.2), and the one function that applies it.

Pure: no Flask, no database. The services gather the facts about a request (its state, stage, active
habilitations, what the catalogue says is missing) into a ``RequestFacts`` and ask ``decide`` what the
event leads to; the help page draws its diagram from the same ``RULES``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field


class State(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    VALIDATED = "validated"
    REFUSED = "refused"
    ARCHIVED = "archived"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]

    @property
    def badge(self) -> str:
        return STATE_BADGES[self]


STATE_LABELS = {
    State.DRAFT: "Brouillon",
    State.SUBMITTED: "En cours d'instruction",
    State.CHANGES_REQUESTED: "À modifier",
    State.VALIDATED: "Validée",
    State.REFUSED: "Refusée",
    State.ARCHIVED: "Supprimée",
    State.REVOKED: "Révoquée",
}

# DSFR badge modifiers: info, success, error, warning, new (or none for neutral grey).
STATE_BADGES = {
    State.DRAFT: "",
    State.SUBMITTED: "new",
    State.CHANGES_REQUESTED: "warning",
    State.VALIDATED: "success",
    State.REFUSED: "error",
    State.ARCHIVED: "",
    State.REVOKED: "error",
}


class Stage(enum.StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"

    @property
    def label(self) -> str:
        return "Bac à sable" if self is Stage.SANDBOX else "Production"

    @property
    def badge(self) -> str:
        return "info" if self is Stage.SANDBOX else "success"


class SectionStatus(enum.StrEnum):
    EMPTY = "empty"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    ATTESTED = "attested"

    @property
    def label(self) -> str:
        return {
            SectionStatus.EMPTY: "Non commencée",
            SectionStatus.IN_PROGRESS: "En cours",
            SectionStatus.COMPLETE: "Complète",
            SectionStatus.ATTESTED: "Attestée",
        }[self]

    @property
    def badge(self) -> str:
        return {
            SectionStatus.EMPTY: "",
            SectionStatus.IN_PROGRESS: "info",
            SectionStatus.COMPLETE: "new",
            SectionStatus.ATTESTED: "success",
        }[self]


class Actor(enum.StrEnum):
    """Who acts, as far as the workflow cares: the party, and for DGFiP the function."""

    COLLECTIVITE = "collectivite"
    EDITEUR = "editeur"
    HEBERGEUR = "hebergeur"
    INSTRUCTEUR = "instructeur"
    RAPPORTEUR = "rapporteur"

    @property
    def label(self) -> str:
        return ACTOR_LABELS[self]


ACTOR_LABELS = {
    Actor.COLLECTIVITE: "Collectivité",
    Actor.EDITEUR: "Éditeur",
    Actor.HEBERGEUR: "Hébergeur",
    Actor.INSTRUCTEUR: "DGFiP (instructeur)",
    Actor.RAPPORTEUR: "DGFiP (rapporteur)",
}


class Event(enum.StrEnum):
    CREATE = "create"
    SUBMIT = "submit"
    REQUEST_CHANGES = "request_changes"
    APPROVE = "approve"
    REFUSE = "refuse"
    ARCHIVE = "archive"
    REOPEN = "reopen"
    CANCEL_REOPENING = "cancel_reopening"
    START_PRODUCTION = "start_production"
    CANCEL_PRODUCTION = "cancel_production"
    REVOKE = "revoke"

    @property
    def rule(self) -> EventRule:
        return RULES[self]


class Effect(enum.StrEnum):
    """Side effects the service must carry out when a transition is taken."""

    START_DEADLINE = "start_deadline"
    STOP_DEADLINE = "stop_deadline"
    REOPEN_NAMED_SECTIONS = "reopen_named_sections"
    CREATE_HABILITATION = "create_habilitation"
    RESTORE_LAST_HABILITATION = "restore_last_habilitation"
    REVOKE_HABILITATIONS = "revoke_habilitations"
    RESET_CGU = "reset_cgu"


@dataclass(frozen=True)
class RequestFacts:
    """What the workflow needs to know about a request; ``state`` is None before creation."""

    state: State | None
    stage: Stage = Stage.SANDBOX
    is_reopening: bool = False
    has_active_sandbox_habilitation: bool = False
    has_active_production_habilitation: bool = False
    has_had_production_habilitation: bool = False
    # The latest production habilitation lapsed (homologation or certification past): renewable by update.
    has_expired_production_habilitation: bool = False
    organization_is_active: bool = True
    submission_blockers: tuple[str, ...] = ()
    has_changes_since_habilitation: bool = True
    # « Avec éditeur »: a production request built on the éditeur's sandbox habilitation for its software
    # product instead of a sandbox stage of its own.
    is_direct_production: bool = False
    has_active_editeur_sandbox_habilitation: bool = False
    # An éditeur's sandbox request for its own software: it opens « avec éditeur » to collectivités and
    # never goes to production itself (an éditeur processes no citizen's data on its own account).
    is_editeur_sandbox: bool = False

    @property
    def has_active_habilitation(self) -> bool:
        return self.has_active_sandbox_habilitation or self.has_active_production_habilitation

    @property
    def has_usable_sandbox_habilitation(self) -> bool:
        """The sandbox habilitation production stands on: the request's own, or the éditeur's."""
        if self.is_direct_production:
            return self.has_active_editeur_sandbox_habilitation
        return self.has_active_sandbox_habilitation

    @property
    def has_active_habilitation_of_stage(self) -> bool:
        if self.stage is Stage.SANDBOX:
            return self.has_active_sandbox_habilitation
        return self.has_active_production_habilitation


@dataclass(frozen=True)
class Condition:
    """A named predicate; the label is shown on the help page next to the arrow it qualifies."""

    label: str
    holds: Callable[[RequestFacts], bool]


@dataclass(frozen=True)
class Guard:
    """A precondition whose failure is explained to the user (HTTP 409, nothing changed)."""

    label: str
    problems: Callable[[RequestFacts], tuple[str, ...]]


@dataclass(frozen=True)
class Branch:
    """One arrow of the diagram: from these states, when the condition holds, to that state."""

    sources: frozenset[State | None]
    target: State
    when: Condition | None = None
    stage: Stage | None = None  # the stage after the move; None keeps it
    is_reopening: bool | None = None  # the reopening flag after the move; None keeps it
    effects: frozenset[Effect] = frozenset()

    def applies_to(self, facts: RequestFacts) -> bool:
        return facts.state in self.sources and (self.when is None or self.when.holds(facts))


@dataclass(frozen=True)
class EventRule:
    event: Event
    label: str
    actors: frozenset[Actor]
    branches: tuple[Branch, ...]
    guards: tuple[Guard, ...] = ()
    reason_required_for: frozenset[Actor] = frozenset()
    # States from which one of the allowed actors may not take the event (« pas une fois soumise »).
    forbidden_states_for: Mapping[Actor, frozenset[State]] = field(default_factory=dict)

    def sources_for(self, actor: Actor) -> frozenset[State | None]:
        sources = frozenset().union(*(branch.sources for branch in self.branches))
        return sources - self.forbidden_states_for.get(actor, frozenset())


@dataclass(frozen=True)
class Outcome:
    event: Event
    source: State | None
    target: State
    stage: Stage
    is_reopening: bool
    effects: frozenset[Effect]


class WorkflowError(Exception):
    """A refused event; ``http_status`` says how a web client should hear it."""

    http_status = 409

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


class ActorNotAllowed(WorkflowError):
    http_status = 403


class TransitionNotAllowed(WorkflowError):
    http_status = 409


class GuardFailed(WorkflowError):
    http_status = 409


class ReasonRequired(WorkflowError):
    http_status = 422


# --- conditions and guards ----------------------------------------------------------------------------

REOPENING = Condition("mise à jour en cours", lambda f: f.is_reopening)
NOT_REOPENING = Condition("hors mise à jour", lambda f: not f.is_reopening)
SANDBOX_STAGE_OF_A_COLLECTIVITE = Condition(
    "bac à sable d'une collectivité", lambda f: f.stage is Stage.SANDBOX and not f.is_editeur_sandbox
)
FIRST_PRODUCTION_ATTEMPT = Condition(
    "production, sans habilitation de production",
    lambda f: f.stage is Stage.PRODUCTION and not f.has_had_production_habilitation,
)
FIRST_PRODUCTION_AFTER_OWN_SANDBOX = Condition(
    "production après le bac à sable de la demande, sans habilitation de production",
    lambda f: FIRST_PRODUCTION_ATTEMPT.holds(f) and not f.is_direct_production,
)
DIRECT_PRODUCTION = Condition("avec éditeur : production directe", lambda f: f.is_direct_production)
OWN_SANDBOX = Condition("bac à sable", lambda f: not f.is_direct_production)


def _submission_problems(facts: RequestFacts) -> tuple[str, ...]:
    problems = list(facts.submission_blockers)
    if facts.is_reopening and not facts.has_changes_since_habilitation:
        problems.append("Aucune modification n'a été apportée depuis la dernière habilitation.")
    return tuple(problems)


SUBMISSION_COMPLETE = Guard(
    "sections requises complètes et attestées, CGU acceptées ; en mise à jour, au moins un changement",
    _submission_problems,
)
ORGANIZATION_ACTIVE = Guard(
    "organisation active",
    lambda f: () if f.organization_is_active else ("Votre organisation est désactivée.",),
)
NO_ACTIVE_HABILITATION = Guard(
    "aucune habilitation active",
    lambda f: ("La demande a encore une habilitation active.",) if f.has_active_habilitation else (),
)
ACTIVE_HABILITATION_OF_STAGE = Guard(
    "habilitation active de l'étape en cours, ou expirée pour la renouveler",
    lambda f: (
        ()
        if f.has_active_habilitation_of_stage or (f.stage is Stage.PRODUCTION and f.has_expired_production_habilitation)
        else ("Aucune habilitation active à mettre à jour.",)
    ),
)
ACTIVE_SANDBOX_HABILITATION = Guard(
    "habilitation bac à sable active (avec éditeur : celle de l'éditeur pour le logiciel)",
    lambda f: () if f.has_usable_sandbox_habilitation else ("L'habilitation bac à sable n'est pas active.",),
)
EDITEUR_SANDBOX_FOR_DIRECT_PRODUCTION = Guard(
    "avec éditeur : habilitation bac à sable du logiciel active",
    lambda f: (
        ("L'habilitation bac à sable de l'éditeur pour ce logiciel n'est pas active.",)
        if f.is_direct_production and not f.has_active_editeur_sandbox_habilitation
        else ()
    ),
)

COLLECTIVITE = frozenset({Actor.COLLECTIVITE})
INSTRUCTEUR = frozenset({Actor.INSTRUCTEUR})
EDITABLE = frozenset({State.DRAFT, State.CHANGES_REQUESTED})
NOT_ONCE_SUBMITTED = {Actor.COLLECTIVITE: frozenset({State.SUBMITTED})}

RULES: dict[Event, EventRule] = {
    rule.event: rule
    for rule in (
        EventRule(
            Event.CREATE,
            "Créer la demande",
            COLLECTIVITE,
            (
                Branch(frozenset({None}), State.DRAFT, when=OWN_SANDBOX, is_reopening=False),
                Branch(
                    frozenset({None}), State.DRAFT, when=DIRECT_PRODUCTION, stage=Stage.PRODUCTION, is_reopening=False
                ),
            ),
            guards=(ORGANIZATION_ACTIVE, EDITEUR_SANDBOX_FOR_DIRECT_PRODUCTION),
        ),
        EventRule(
            Event.SUBMIT,
            "Soumettre la demande",
            COLLECTIVITE,
            (Branch(EDITABLE, State.SUBMITTED, effects=frozenset({Effect.START_DEADLINE})),),
            guards=(SUBMISSION_COMPLETE, EDITEUR_SANDBOX_FOR_DIRECT_PRODUCTION),
        ),
        EventRule(
            Event.REQUEST_CHANGES,
            "Demander des modifications",
            INSTRUCTEUR,
            (
                Branch(
                    frozenset({State.SUBMITTED}),
                    State.CHANGES_REQUESTED,
                    effects=frozenset({Effect.STOP_DEADLINE, Effect.REOPEN_NAMED_SECTIONS}),
                ),
            ),
            reason_required_for=INSTRUCTEUR,
        ),
        EventRule(
            Event.APPROVE,
            "Valider la demande",
            INSTRUCTEUR,
            (
                Branch(
                    frozenset({State.SUBMITTED}),
                    State.VALIDATED,
                    is_reopening=False,
                    effects=frozenset({Effect.STOP_DEADLINE, Effect.CREATE_HABILITATION}),
                ),
            ),
            guards=(EDITEUR_SANDBOX_FOR_DIRECT_PRODUCTION,),
        ),
        EventRule(
            Event.REFUSE,
            "Refuser la demande",
            INSTRUCTEUR,
            (
                Branch(
                    frozenset({State.SUBMITTED}),
                    State.VALIDATED,
                    when=REOPENING,
                    is_reopening=False,
                    effects=frozenset({Effect.STOP_DEADLINE, Effect.RESTORE_LAST_HABILITATION}),
                ),
                Branch(
                    frozenset({State.SUBMITTED}),
                    State.REFUSED,
                    when=NOT_REOPENING,
                    effects=frozenset({Effect.STOP_DEADLINE}),
                ),
            ),
            reason_required_for=INSTRUCTEUR,
        ),
        EventRule(
            Event.ARCHIVE,
            "Supprimer la demande",
            COLLECTIVITE | INSTRUCTEUR,
            (Branch(frozenset({State.DRAFT, State.REFUSED, State.REVOKED}), State.ARCHIVED),),
            guards=(NO_ACTIVE_HABILITATION,),
        ),
        EventRule(
            Event.REOPEN,
            "Mettre à jour l'habilitation",
            COLLECTIVITE,
            (Branch(frozenset({State.VALIDATED}), State.DRAFT, is_reopening=True),),
            guards=(ACTIVE_HABILITATION_OF_STAGE,),
        ),
        EventRule(
            Event.CANCEL_REOPENING,
            "Annuler la mise à jour",
            COLLECTIVITE | INSTRUCTEUR,
            (
                Branch(
                    EDITABLE | {State.SUBMITTED},
                    State.VALIDATED,
                    when=REOPENING,
                    is_reopening=False,
                    effects=frozenset({Effect.STOP_DEADLINE, Effect.RESTORE_LAST_HABILITATION}),
                ),
            ),
            reason_required_for=INSTRUCTEUR,
            forbidden_states_for=NOT_ONCE_SUBMITTED,
        ),
        EventRule(
            Event.START_PRODUCTION,
            "Démarrer la production",
            COLLECTIVITE,
            (
                Branch(
                    frozenset({State.VALIDATED}),
                    State.DRAFT,
                    when=SANDBOX_STAGE_OF_A_COLLECTIVITE,
                    stage=Stage.PRODUCTION,
                    effects=frozenset({Effect.RESET_CGU}),
                ),
                Branch(
                    frozenset({State.REFUSED}),
                    State.DRAFT,
                    when=FIRST_PRODUCTION_ATTEMPT,
                    effects=frozenset({Effect.RESET_CGU}),
                ),
            ),
            guards=(ACTIVE_SANDBOX_HABILITATION,),
        ),
        EventRule(
            Event.CANCEL_PRODUCTION,
            "Annuler l'étape de production",
            COLLECTIVITE | INSTRUCTEUR,
            (
                Branch(
                    EDITABLE | {State.SUBMITTED},
                    State.VALIDATED,
                    when=FIRST_PRODUCTION_AFTER_OWN_SANDBOX,
                    stage=Stage.SANDBOX,
                    effects=frozenset({Effect.STOP_DEADLINE, Effect.RESET_CGU}),
                ),
            ),
            forbidden_states_for=NOT_ONCE_SUBMITTED,
        ),
        EventRule(
            Event.REVOKE,
            "Révoquer l'habilitation",
            INSTRUCTEUR,
            (
                Branch(
                    frozenset({State.VALIDATED}),
                    State.REVOKED,
                    effects=frozenset({Effect.REVOKE_HABILITATIONS}),
                ),
            ),
            reason_required_for=INSTRUCTEUR,
        ),
    )
}

assert set(RULES) == set(Event), "every event needs a rule"

# What taking an event does, said in its confirmation dialog before anyone takes it.
CONSEQUENCES: dict[Event, str] = {
    Event.SUBMIT: "La demande part à la DGFiP, qui a deux mois pour l'instruire ; elle n'est plus modifiable "
    "pendant l'instruction.",
    Event.REQUEST_CHANGES: "La demande revient aux parties : seules les sections cochées rouvrent et leurs "
    "attestations sont à signer de nouveau. Le délai d'instruction s'arrête jusqu'à la prochaine soumission.",
    Event.APPROVE: "Une habilitation est délivrée pour l'étape en cours ; la collectivité, ses contacts et l'équipe "
    "de gestion des API sont prévenus.",
    Event.REFUSE: "La demande est refusée (pour une mise à jour, l'habilitation en vigueur reste active) ; le motif "
    "est envoyé à toutes les parties.",
    Event.ARCHIVE: "La demande quitte les listes ; elle reste conservée avec son historique.",
    Event.REOPEN: "L'habilitation en vigueur reste active pendant la préparation et l'instruction de la mise à jour.",
    Event.CANCEL_REOPENING: "La mise à jour est abandonnée : la demande revient au contenu de l'habilitation en "
    "vigueur.",
    Event.START_PRODUCTION: "La demande passe à l'étape de production : de nouvelles sections sont à remplir et les "
    "conditions générales à accepter de nouveau.",
    Event.CANCEL_PRODUCTION: "L'étape de production est abandonnée : la demande revient à l'habilitation bac à sable "
    "en vigueur.",
    Event.REVOKE: "Toutes les habilitations de la demande sont révoquées : le téléservice ne doit plus appeler "
    "l'API. Le motif est envoyé à toutes les parties.",
}
assert set(CONSEQUENCES) == set(Event) - {Event.CREATE}, "every event taken from a request page is explained"


def _describe(facts: RequestFacts) -> str:
    if facts.state is None:
        return "inexistante"
    text = f"« {facts.state.label} » ({facts.stage.label.lower()}"
    return text + (", mise à jour)" if facts.is_reopening else ")")


def decide(event: Event, facts: RequestFacts, actor: Actor, reason: str | None = None) -> Outcome:
    """Return where ``event`` taken by ``actor`` leads, or raise the ``WorkflowError`` that says why not.

    Checks run from the least to the most specific: who may act at all (403), whether the request is in
    a state the event starts from (409), the guards (409, every problem listed), then the reason (422).
    """
    rule = RULES[event]
    if actor not in rule.actors:
        raise ActorNotAllowed(f"« {rule.label} » n'est pas permis à : {actor.label}.")
    branch = next((b for b in rule.branches if facts.state in rule.sources_for(actor) and b.applies_to(facts)), None)
    if branch is None:
        raise TransitionNotAllowed(f"« {rule.label} » est impossible : la demande est {_describe(facts)}.")
    problems = tuple(problem for guard in rule.guards for problem in guard.problems(facts))
    if problems:
        raise GuardFailed(f"« {rule.label} » est impossible pour l'instant.", problems)
    if actor in rule.reason_required_for and not (reason or "").strip():
        raise ReasonRequired("Un motif est obligatoire.")
    return Outcome(
        event=event,
        source=facts.state,
        target=branch.target,
        stage=branch.stage or facts.stage,
        is_reopening=facts.is_reopening if branch.is_reopening is None else branch.is_reopening,
        effects=branch.effects,
    )


def available_events(facts: RequestFacts, actor: Actor) -> list[Event]:
    """Events this actor could take now, state-wise (guards may still refuse and explain why)."""
    return [
        event
        for event, rule in RULES.items()
        if event is not Event.CREATE
        and actor in rule.actors
        and facts.state in rule.sources_for(actor)
        and any(branch.applies_to(facts) for branch in rule.branches)
    ]


@dataclass(frozen=True)
class Arrow:
    source: State | None
    target: State
    event: Event
    condition: str | None
    stage_change: Stage | None


def arrows() -> Iterator[Arrow]:
    """Every arrow of the lifecycle diagram, straight from ``RULES``."""
    for event, rule in RULES.items():
        for branch in rule.branches:
            for source in sorted(branch.sources, key=lambda s: "" if s is None else s.value):
                yield Arrow(source, branch.target, event, branch.when.label if branch.when else None, branch.stage)
