"""The life of one generated request: a walk through the workflow table that ends in a chosen state.

Every step is asked of ``tracker.habilitations.workflow.decide`` with the facts the walk keeps (state,
stage, reopening, habilitations), so a generated timeline can only contain moves the application itself
would accept, taken by the actor the table names, with a reason wherever one is required. Times are
offsets in days from the request's creation; the generator places them on the calendar. Pure.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from tracker.datasets import content
from tracker.habilitations.models import HabilitationState
from tracker.habilitations.workflow import Actor, Effect, Event, RequestFacts, Stage, State, decide

SANDBOX_SECTIONS = tuple(s.key for s in content.API.sections_of(Stage.SANDBOX))
PRODUCTION_SECTIONS = tuple(s.key for s in content.API.sections_of(Stage.PRODUCTION))
# The hébergeur's certificates can be renewed while a production habilitation is updated (they carry
# a date past which it lapses): the services open that sandbox section in the production form then.
RENEWABLE_IN_PRODUCTION = tuple(sorted({expiry.section for expiry in content.API.expiry_dates} - {"homologation"}))


class Ending(enum.StrEnum):
    """The shapes of history the generator draws (``generator.plan_for``); ``walk`` reads the archived
    ones, the others name the plan."""

    FIRST_DRAFT = "first_draft"
    SANDBOX = "sandbox"
    PRODUCTION = "production"
    REOPENING = "reopening"
    ARCHIVED_DRAFT = "archived_draft"
    ARCHIVED_REFUSAL = "archived_refusal"
    ARCHIVED_REVOCATION = "archived_revocation"


@dataclass
class SimHabilitation:
    stage: Stage
    created_at: float
    approved_by: int
    state: HabilitationState = HabilitationState.ACTIVE
    ended_at: float | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class Step:
    event: Event | None
    source: State | None
    target: State
    stage: Stage
    at: float
    actor: Actor | None  # None: the application itself (an expiry notice)
    instructor: int | None = None
    reason: str | None = None
    sections: tuple[str, ...] = ()
    habilitation: int | None = None  # index in ``Walk.habilitations``
    ended: tuple[int, ...] = ()
    # A submission: the first of its stage, or what it answers (the sections named before it).
    first_submission: bool = False
    answers: tuple[str, ...] = ()
    compared_with_habilitation: int | None = None
    notice: str | None = None


@dataclass
class Walk:
    """The facts the workflow needs, kept step after step, and the steps taken."""

    rng: random.Random
    instructor: int
    instructors: int
    state: State | None = None
    stage: Stage = Stage.SANDBOX
    is_reopening: bool = False
    now: float = 0.0
    habilitations: list[SimHabilitation] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    first_submitted_at: float | None = None
    deadline_started_at: float | None = None
    cgu_accepted_at: float | None = None
    submissions: dict[Stage, int] = field(default_factory=lambda: {Stage.SANDBOX: 0, Stage.PRODUCTION: 0})
    last_named: tuple[str, ...] = ()
    changes_requested_sections: tuple[str, ...] = ()

    def facts(self) -> RequestFacts:
        active = {h.stage for h in self.habilitations if h.state is HabilitationState.ACTIVE}
        production = [h for h in self.habilitations if h.stage is Stage.PRODUCTION]
        return RequestFacts(
            state=self.state,
            stage=self.stage,
            is_reopening=self.is_reopening,
            has_active_sandbox_habilitation=Stage.SANDBOX in active,
            has_active_production_habilitation=Stage.PRODUCTION in active,
            has_had_production_habilitation=bool(production),
            has_expired_production_habilitation=bool(production) and production[-1].state is HabilitationState.EXPIRED,
        )

    def _latest(self, stage: Stage) -> int | None:
        indexes = [i for i, h in enumerate(self.habilitations) if h.stage is stage]
        return indexes[-1] if indexes else None

    def _instructor(self) -> int:
        # Mostly the same instructor follows a request; colleagues stand in now and then.
        if self.rng.random() < 0.15:
            return self.rng.randrange(self.instructors)
        return self.instructor

    def take(
        self, event: Event, actor: Actor, days: float, *, reason: str | None = None, sections: tuple[str, ...] = ()
    ) -> Step:
        self.now += max(days, 0.01) + self.rng.random() * 0.3
        outcome = decide(event, self.facts(), actor, reason)
        instructor = self._instructor() if actor is Actor.INSTRUCTEUR else None
        named: tuple[str, ...] = ()
        habilitation = ended = None
        first_submission = False
        answers: tuple[str, ...] = ()
        compared_with = None
        if event is Event.SUBMIT:
            if self.cgu_accepted_at is None:
                self.cgu_accepted_at = self.now - 0.01
            first_submission = self.submissions[self.stage] == 0 and not self.is_reopening
            self.submissions[self.stage] += 1
            answers, self.last_named = self.last_named, ()
            if self.is_reopening:
                compared_with = self._latest(self.stage)
        if Effect.REOPEN_NAMED_SECTIONS in outcome.effects:
            assert sections, "a request for changes names its sections"
            named = self.last_named = sections
        self.state, self.stage, self.is_reopening = outcome.target, outcome.stage, outcome.is_reopening
        if Effect.START_DEADLINE in outcome.effects:
            self.deadline_started_at = self.now
            self.first_submitted_at = self.first_submitted_at if self.first_submitted_at is not None else self.now
        if Effect.STOP_DEADLINE in outcome.effects:
            self.deadline_started_at = None
        if Effect.CREATE_HABILITATION in outcome.effects:
            for previous in self.habilitations:
                if previous.stage is self.stage and previous.state is HabilitationState.ACTIVE:
                    previous.state, previous.ended_at = HabilitationState.OBSOLETE, self.now
            assert instructor is not None
            self.habilitations.append(SimHabilitation(self.stage, self.now, instructor))
            habilitation = len(self.habilitations) - 1
        if Effect.RESTORE_LAST_HABILITATION in outcome.effects:
            habilitation = self._latest(self.stage)
            self.last_named = ()
        if Effect.REVOKE_HABILITATIONS in outcome.effects:
            ended = tuple(i for i, h in enumerate(self.habilitations) if h.state is HabilitationState.ACTIVE)
            for index in ended:
                revoked = self.habilitations[index]
                revoked.state, revoked.ended_at, revoked.end_reason = HabilitationState.REVOKED, self.now, reason
        if Effect.RESET_CGU in outcome.effects:
            self.cgu_accepted_at = None
        self.changes_requested_sections = named if self.state is State.CHANGES_REQUESTED else ()
        step = Step(
            event=event,
            source=outcome.source,
            target=outcome.target,
            stage=outcome.stage,
            at=self.now,
            actor=actor,
            instructor=instructor,
            reason=(reason or "").strip() or None,
            sections=named,
            habilitation=habilitation,
            ended=ended or (),
            first_submission=first_submission,
            answers=answers,
            compared_with_habilitation=compared_with,
        )
        self.steps.append(step)
        return step

    def sections_to_name(self) -> tuple[str, ...]:
        """One section of the current form, sometimes two, as an instructor names them."""
        if self.stage is Stage.SANDBOX:
            keys = SANDBOX_SECTIONS
        elif self.is_reopening:
            keys = PRODUCTION_SECTIONS + RENEWABLE_IN_PRODUCTION
        else:
            keys = PRODUCTION_SECTIONS
        count = 1 if self.rng.random() < 0.75 else 2
        return tuple(sorted(self.rng.sample(keys, count), key=keys.index))

    def expire_production(self, days: float, reason: str) -> None:
        """The expiry job's notice: the production habilitation's homologation has lapsed."""
        self.now += days
        index = self._latest(Stage.PRODUCTION)
        assert index is not None and self.habilitations[index].state is HabilitationState.ACTIVE
        expired = self.habilitations[index]
        expired.state, expired.ended_at, expired.end_reason = HabilitationState.EXPIRED, self.now, reason
        assert self.state is not None
        self.steps.append(
            Step(
                event=None,
                source=self.state,
                target=self.state,
                stage=Stage.PRODUCTION,
                at=self.now,
                actor=None,
                reason=reason,
                habilitation=index,
                notice="habilitation_expired",
            )
        )


# --- the pieces of a history -------------------------------------------------------------------------

COLLECTIVITE, INSTRUCTEUR = Actor.COLLECTIVITE, Actor.INSTRUCTEUR


@dataclass(frozen=True)
class Pace:
    """How long things take, in days, and how often DGFiP asks for changes."""

    first_round: float = 0.62  # the chance that DGFiP asks for changes at all
    rounds_continue: float = 0.5  # after one request for changes, the chance of another

    def rounds(self, rng: random.Random) -> int:
        count = 0
        while rng.random() < (self.first_round if count == 0 else self.rounds_continue):
            count += 1
        return count


def _instruct(walk: Walk, pace: Pace, *, rounds: int | None = None) -> None:
    """Submit, then as many rounds of changes as DGFiP asks; the request ends « submitted »."""
    rng = walk.rng
    walk.take(Event.SUBMIT, COLLECTIVITE, rng.uniform(2, 40))
    for _ in range(pace.rounds(rng) if rounds is None else rounds):
        _request_changes(walk)
        walk.take(Event.SUBMIT, COLLECTIVITE, rng.uniform(2, 30))


def _approve(walk: Walk) -> None:
    rng = walk.rng
    message = rng.choice(content.APPROVAL_MESSAGES) if rng.random() < 0.3 else None
    walk.take(Event.APPROVE, INSTRUCTEUR, rng.uniform(3, 55), reason=message)


def _request_changes(walk: Walk) -> None:
    """The reason speaks of the first section named (the wording an instructor would pick)."""
    named = walk.sections_to_name()
    reason = content.CHANGE_REQUESTS[named[0]][0]
    walk.take(Event.REQUEST_CHANGES, INSTRUCTEUR, walk.rng.uniform(3, 45), reason=reason, sections=named)


def _refuse(walk: Walk) -> None:
    walk.take(Event.REFUSE, INSTRUCTEUR, walk.rng.uniform(5, 60), reason=walk.rng.choice(content.REFUSAL_REASONS))


def _update(walk: Walk, pace: Pace) -> None:
    """A reopening of the current stage's habilitation, and how it ends: approved mostly, sometimes
    cancelled by either side or refused (which restores the habilitation)."""
    rng = walk.rng
    walk.take(Event.REOPEN, COLLECTIVITE, rng.uniform(60, 400))
    draw = rng.random()
    if draw < 0.1:
        walk.take(Event.CANCEL_REOPENING, COLLECTIVITE, rng.uniform(1, 30))
        return
    _instruct(walk, pace)
    if draw < 0.15:
        walk.take(Event.CANCEL_REOPENING, INSTRUCTEUR, rng.uniform(3, 30), reason=content.CANCELLATION_REASON)
    elif draw < 0.3:
        _refuse(walk)
    else:
        _approve(walk)


def _validated_history(walk: Walk, pace: Pace, *, production: bool, updates: int, cancel_production: bool) -> None:
    _instruct(walk, pace)
    _approve(walk)
    sandbox_updates = walk.rng.randint(0, updates) if production else updates
    for _ in range(sandbox_updates):
        _update(walk, pace)
    if cancel_production:
        walk.take(Event.START_PRODUCTION, COLLECTIVITE, walk.rng.uniform(15, 200))
        walk.take(Event.CANCEL_PRODUCTION, COLLECTIVITE, walk.rng.uniform(5, 60))
        return
    if production:
        walk.take(Event.START_PRODUCTION, COLLECTIVITE, walk.rng.uniform(15, 200))
        _instruct(walk, pace)
        _approve(walk)
        for _ in range(updates - sandbox_updates):
            _update(walk, pace)


def walk(
    rng: random.Random,
    final: State,
    *,
    production: bool,
    updates: int,
    instructor: int,
    instructors: int,
    pace: Pace,
    ending: Ending = Ending.SANDBOX,
    expired: bool = False,
    cancel_production: bool = False,
    rounds: int | None = None,
) -> Walk:
    """A history ending in ``final``: ``production`` when the request ends in its production stage,
    ``updates`` reopenings of a validated habilitation (the last one still open when ``final`` is an
    open state), ``ending`` the way to « archived », ``rounds`` forcing the number of requests for
    changes of the last instruction."""
    history = Walk(rng=rng, instructor=instructor, instructors=instructors)
    history.take(Event.CREATE, COLLECTIVITE, 0)
    if final is State.ARCHIVED:
        if ending is Ending.ARCHIVED_REFUSAL:
            _instruct(history, pace)
            _refuse(history)
        elif ending is Ending.ARCHIVED_REVOCATION:
            _validated_history(history, pace, production=production, updates=0, cancel_production=False)
            history.take(
                Event.REVOKE, INSTRUCTEUR, rng.uniform(100, 600), reason=rng.choice(content.REVOCATION_REASONS)
            )
        archiver = COLLECTIVITE if rng.random() < 0.8 else INSTRUCTEUR
        history.take(Event.ARCHIVE, archiver, rng.uniform(5, 120))
        return history
    if final is State.VALIDATED:
        _validated_history(history, pace, production=production, updates=updates, cancel_production=cancel_production)
        if expired:
            history.expire_production(rng.uniform(300, 1100), "Fin de l'homologation de sécurité : échéance dépassée.")
        return history
    if final is State.REFUSED:
        if production:
            _validated_history(history, pace, production=False, updates=updates, cancel_production=False)
            history.take(Event.START_PRODUCTION, COLLECTIVITE, rng.uniform(15, 200))
        _instruct(history, pace)
        _refuse(history)
        return history
    # An open state: the last instruction (first one, production, or an update) is still running.
    if updates or production:
        _validated_history(
            history, pace, production=production and updates > 0, updates=max(updates - 1, 0), cancel_production=False
        )
        if updates:
            history.take(Event.REOPEN, COLLECTIVITE, rng.uniform(60, 400))
        else:
            history.take(Event.START_PRODUCTION, COLLECTIVITE, rng.uniform(15, 200))
    if final is State.DRAFT:
        return history
    if final is State.SUBMITTED:
        _instruct(history, pace, rounds=rounds)
        return history
    assert final is State.CHANGES_REQUESTED
    _instruct(history, pace, rounds=rounds)
    _request_changes(history)
    return history
