"""Pure tests of the workflow table (``tracker.habilitations.workflow``): no Flask, no database.

Expectations are written from DOMAIN §3.2, never read back from ``RULES``; the exhaustive per-situation
matrix over HTTP lives in ``test_transitions_http.py``. Here: the table's shape, the order of the checks
in ``decide``, the reasons, and a stateful property test of random event sequences by random actors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tracker.habilitations.workflow import (
    RULES,
    Actor,
    ActorNotAllowed,
    Effect,
    Event,
    GuardFailed,
    ReasonRequired,
    RequestFacts,
    Stage,
    State,
    TransitionNotAllowed,
    WorkflowError,
    arrows,
    available_events,
    decide,
)

C, E, H, INS, R = (Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR, Actor.INSTRUCTEUR, Actor.RAPPORTEUR)
SANDBOX, PRODUCTION = Stage.SANDBOX, Stage.PRODUCTION

# DOMAIN §3.2, column « who ».
WHO: dict[Event, set[Actor]] = {
    Event.CREATE: {C},
    Event.SUBMIT: {C},
    Event.REQUEST_CHANGES: {INS},
    Event.APPROVE: {INS},
    Event.REFUSE: {INS},
    Event.ARCHIVE: {C, INS},
    Event.REOPEN: {C},
    Event.CANCEL_REOPENING: {C, INS},
    Event.START_PRODUCTION: {C},
    Event.CANCEL_PRODUCTION: {C, INS},
    Event.REVOKE: {INS},
}
# DOMAIN §3.2: « reason required » — always by DGFiP, never by the collectivité.
REASON_REQUIRED = {
    (Event.REQUEST_CHANGES, INS),
    (Event.REFUSE, INS),
    (Event.CANCEL_REOPENING, INS),
    (Event.REVOKE, INS),
}

# Facts from which each event is possible (DOMAIN §3.2, « from » and guards all satisfied).
VALIDATED_SANDBOX = RequestFacts(State.VALIDATED, has_active_sandbox_habilitation=True)
OPEN_FACTS: dict[Event, RequestFacts] = {
    Event.CREATE: RequestFacts(None),
    Event.SUBMIT: RequestFacts(State.DRAFT),
    Event.REQUEST_CHANGES: RequestFacts(State.SUBMITTED),
    Event.APPROVE: RequestFacts(State.SUBMITTED),
    Event.REFUSE: RequestFacts(State.SUBMITTED),
    Event.ARCHIVE: RequestFacts(State.REFUSED),
    Event.REOPEN: VALIDATED_SANDBOX,
    Event.CANCEL_REOPENING: RequestFacts(State.DRAFT, is_reopening=True, has_active_sandbox_habilitation=True),
    Event.START_PRODUCTION: VALIDATED_SANDBOX,
    Event.CANCEL_PRODUCTION: RequestFacts(State.DRAFT, PRODUCTION, has_active_sandbox_habilitation=True),
    Event.REVOKE: VALIDATED_SANDBOX,
}


# --- the table's shape --------------------------------------------------------------------------------


def test_every_event_has_its_rule() -> None:
    assert set(RULES) == set(Event)
    assert all(rule.event is event for event, rule in RULES.items())


@pytest.mark.parametrize("event", list(Event), ids=str)
def test_every_rule_has_a_french_label_and_a_branch(event: Event) -> None:
    rule = RULES[event]
    assert rule.label.strip() and rule.label[0].isupper()
    assert rule.branches
    assert all(branch.sources for branch in rule.branches)


@pytest.mark.parametrize("event", list(Event), ids=str)
def test_actors_are_the_ones_domain_names(event: Event) -> None:
    assert set(RULES[event].actors) == WHO[event]


def test_arrows_cover_every_event_and_every_source() -> None:
    drawn = list(arrows())
    assert {arrow.event for arrow in drawn} == set(Event)
    for event, event_rule in RULES.items():
        sources = {source for branch in event_rule.branches for source in branch.sources}
        assert {arrow.source for arrow in drawn if arrow.event is event} == sources


def test_arrows_of_the_domain_are_drawn() -> None:
    drawn = {(arrow.source, arrow.event, arrow.target) for arrow in arrows()}
    expected = {
        (None, Event.CREATE, State.DRAFT),
        (State.DRAFT, Event.SUBMIT, State.SUBMITTED),
        (State.CHANGES_REQUESTED, Event.SUBMIT, State.SUBMITTED),
        (State.SUBMITTED, Event.REQUEST_CHANGES, State.CHANGES_REQUESTED),
        (State.SUBMITTED, Event.APPROVE, State.VALIDATED),
        (State.SUBMITTED, Event.REFUSE, State.REFUSED),
        (State.SUBMITTED, Event.REFUSE, State.VALIDATED),
        (State.DRAFT, Event.ARCHIVE, State.ARCHIVED),
        (State.REFUSED, Event.ARCHIVE, State.ARCHIVED),
        (State.REVOKED, Event.ARCHIVE, State.ARCHIVED),
        (State.VALIDATED, Event.REOPEN, State.DRAFT),
        (State.DRAFT, Event.CANCEL_REOPENING, State.VALIDATED),
        (State.CHANGES_REQUESTED, Event.CANCEL_REOPENING, State.VALIDATED),
        (State.SUBMITTED, Event.CANCEL_REOPENING, State.VALIDATED),
        (State.VALIDATED, Event.START_PRODUCTION, State.DRAFT),
        (State.REFUSED, Event.START_PRODUCTION, State.DRAFT),
        (State.DRAFT, Event.CANCEL_PRODUCTION, State.VALIDATED),
        (State.CHANGES_REQUESTED, Event.CANCEL_PRODUCTION, State.VALIDATED),
        (State.SUBMITTED, Event.CANCEL_PRODUCTION, State.VALIDATED),
        (State.VALIDATED, Event.REVOKE, State.REVOKED),
    }
    assert drawn == expected


def test_error_kinds_map_to_http_statuses() -> None:
    assert (ActorNotAllowed.http_status, TransitionNotAllowed.http_status) == (403, 409)
    assert (GuardFailed.http_status, ReasonRequired.http_status) == (409, 422)


# --- reasons ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "actor"), [(e, a) for e in Event for a in sorted(WHO[e])], ids=str)
@pytest.mark.parametrize("reason", [None, "", "  \n\t "], ids=["none", "empty", "whitespace"])
def test_reason_is_required_exactly_where_domain_says(event: Event, actor: Actor, reason: str | None) -> None:
    facts = OPEN_FACTS[event]
    if event is Event.CANCEL_PRODUCTION and actor is INS:
        facts = replace(facts, state=State.SUBMITTED)  # also allowed to DGFiP once submitted
    if (event, actor) in REASON_REQUIRED:
        with pytest.raises(ReasonRequired) as refused:
            decide(event, facts, actor, reason)
        assert refused.value.message == "Un motif est obligatoire."
    else:
        assert decide(event, facts, actor, reason).event is event
    assert decide(event, facts, actor, "Motif de test").event is event


# --- decide: the order of the checks -------------------------------------------------------------------


@pytest.mark.parametrize("event", list(Event), ids=str)
@pytest.mark.parametrize("actor", [E, H, R], ids=str)
def test_parties_without_a_say_are_refused_whatever_the_state(event: Event, actor: Actor) -> None:
    for state in [None, *State]:
        with pytest.raises(ActorNotAllowed):
            decide(event, replace(OPEN_FACTS[event], state=state), actor, "Motif")


def test_the_actor_is_checked_before_the_state() -> None:
    with pytest.raises(ActorNotAllowed):
        decide(Event.APPROVE, RequestFacts(State.DRAFT), C, "Motif")


def test_the_state_is_checked_before_the_guards() -> None:
    with pytest.raises(TransitionNotAllowed) as refused:
        decide(Event.SUBMIT, RequestFacts(State.VALIDATED, submission_blockers=("manque",)), C)
    assert "Validée" in refused.value.message


def test_the_guards_are_checked_before_the_reason() -> None:
    facts = RequestFacts(State.REFUSED, has_active_sandbox_habilitation=True)
    with pytest.raises(GuardFailed):
        decide(Event.ARCHIVE, facts, INS, None)


def test_submission_guard_lists_every_problem() -> None:
    facts = RequestFacts(
        State.DRAFT,
        is_reopening=True,
        has_active_sandbox_habilitation=True,
        submission_blockers=("La section « Mon projet » n'est pas attestée.", "CGU non acceptées"),
        has_changes_since_habilitation=False,
    )
    with pytest.raises(GuardFailed) as refused:
        decide(Event.SUBMIT, facts, C)
    assert refused.value.problems == (
        "La section « Mon projet » n'est pas attestée.",
        "CGU non acceptées",
        "Aucune modification n'a été apportée depuis la dernière habilitation.",
    )


def test_a_first_draft_has_nothing_to_compare_with() -> None:
    assert decide(Event.SUBMIT, RequestFacts(State.DRAFT, has_changes_since_habilitation=False), C)


def test_create_needs_an_active_organization() -> None:
    assert decide(Event.CREATE, RequestFacts(None), C).target is State.DRAFT
    with pytest.raises(GuardFailed):
        decide(Event.CREATE, RequestFacts(None, organization_is_active=False), C)
    with pytest.raises(TransitionNotAllowed):
        decide(Event.CREATE, RequestFacts(State.DRAFT), C)


@pytest.mark.parametrize("event", [Event.CANCEL_REOPENING, Event.CANCEL_PRODUCTION], ids=str)
def test_collectivite_cannot_cancel_once_submitted_but_dgfip_can(event: Event) -> None:
    facts = replace(OPEN_FACTS[event], state=State.SUBMITTED)
    with pytest.raises(TransitionNotAllowed):
        decide(event, facts, C)
    assert decide(event, facts, INS, "Motif").target is State.VALIDATED
    for state in (State.DRAFT, State.CHANGES_REQUESTED):
        assert decide(event, replace(facts, state=state), C).target is State.VALIDATED


def test_refusing_an_update_goes_back_to_validated_with_the_data_restored() -> None:
    facts = RequestFacts(State.SUBMITTED, is_reopening=True, has_active_sandbox_habilitation=True)
    outcome = decide(Event.REFUSE, facts, INS, "Motif")
    assert (outcome.target, outcome.is_reopening) == (State.VALIDATED, False)
    assert Effect.RESTORE_LAST_HABILITATION in outcome.effects
    plain = decide(Event.REFUSE, replace(facts, is_reopening=False), INS, "Motif")
    assert (plain.target, plain.is_reopening, plain.effects) == (State.REFUSED, False, {Effect.STOP_DEADLINE})


def test_start_production_from_a_refused_first_attempt_only() -> None:
    first = RequestFacts(State.REFUSED, PRODUCTION, has_active_sandbox_habilitation=True)
    outcome = decide(Event.START_PRODUCTION, first, C)
    assert (outcome.target, outcome.stage) == (State.DRAFT, PRODUCTION)
    assert Effect.RESET_CGU in outcome.effects
    with pytest.raises(TransitionNotAllowed):
        decide(Event.START_PRODUCTION, replace(first, has_had_production_habilitation=True), C)
    with pytest.raises(TransitionNotAllowed):
        decide(Event.START_PRODUCTION, replace(first, stage=SANDBOX), C)
    with pytest.raises(GuardFailed):
        decide(Event.START_PRODUCTION, replace(first, has_active_sandbox_habilitation=False), C)


def test_cancel_production_goes_back_to_the_sandbox_stage() -> None:
    outcome = decide(Event.CANCEL_PRODUCTION, OPEN_FACTS[Event.CANCEL_PRODUCTION], C)
    assert (outcome.target, outcome.stage, outcome.is_reopening) == (State.VALIDATED, SANDBOX, False)
    with pytest.raises(TransitionNotAllowed):
        decide(
            Event.CANCEL_PRODUCTION,
            replace(OPEN_FACTS[Event.CANCEL_PRODUCTION], has_had_production_habilitation=True),
            C,
        )


def test_reopen_needs_the_active_habilitation_of_the_current_stage() -> None:
    outcome = decide(Event.REOPEN, VALIDATED_SANDBOX, C)
    assert (outcome.target, outcome.stage, outcome.is_reopening) == (State.DRAFT, SANDBOX, True)
    production = RequestFacts(
        State.VALIDATED, PRODUCTION, has_active_sandbox_habilitation=True, has_had_production_habilitation=True
    )
    with pytest.raises(GuardFailed):
        decide(Event.REOPEN, production, C)
    assert decide(Event.REOPEN, replace(production, has_active_production_habilitation=True), C).stage is PRODUCTION


facts_strategy = st.builds(
    RequestFacts,
    state=st.sampled_from([None, *State]),
    stage=st.sampled_from(list(Stage)),
    is_reopening=st.booleans(),
    has_active_sandbox_habilitation=st.booleans(),
    has_active_production_habilitation=st.booleans(),
    has_had_production_habilitation=st.booleans(),
    organization_is_active=st.booleans(),
    submission_blockers=st.sampled_from([(), ("La section « Mon projet » n'est pas complète.",)]),
    has_changes_since_habilitation=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(facts=facts_strategy, actor=st.sampled_from(list(Actor)))
def test_available_events_are_exactly_those_not_refused_for_actor_or_state(facts: RequestFacts, actor: Actor) -> None:
    offered = available_events(facts, actor)
    assert Event.CREATE not in offered
    for event in Event:
        if event is Event.CREATE:
            continue
        try:
            decide(event, facts, actor, "Motif")
        except (ActorNotAllowed, TransitionNotAllowed):
            assert event not in offered
        except WorkflowError:
            assert event in offered  # offered; the guards refuse it and say why
        else:
            assert event in offered


# --- stateful: random sequences never break the invariants ---------------------------------------------


@dataclass
class Model:
    """The request as the workflow sees it, plus its habilitations: (stage, active?) in creation order."""

    facts: RequestFacts
    habilitations: list[tuple[Stage, str]] = field(default_factory=list)

    def active(self, stage: Stage) -> list[int]:
        return [i for i, (s, state) in enumerate(self.habilitations) if s is stage and state == "active"]

    def refresh(self, **changes: object) -> None:
        self.facts = replace(
            self.facts,
            has_active_sandbox_habilitation=bool(self.active(SANDBOX)),
            has_active_production_habilitation=bool(self.active(PRODUCTION)),
            has_had_production_habilitation=any(s is PRODUCTION for s, _ in self.habilitations),
            **changes,
        )


# Ways out (archive, revoke) are left to the random rule: offered every time, they would end most runs.
ENDINGS = {Event.ARCHIVE, Event.REVOKE}


class RequestLifecycle(RuleBasedStateMachine):
    """Random events by random actors on a model request; the services' effects are mimicked."""

    def __init__(self) -> None:
        super().__init__()
        self.model = Model(RequestFacts(None))
        self.approved_from: list[State | None] = []

    @initialize(organization_is_active=st.booleans())
    def create(self, organization_is_active: bool) -> None:
        facts = RequestFacts(None, organization_is_active=organization_is_active)
        try:
            outcome = decide(Event.CREATE, facts, C)
        except GuardFailed:
            assert not organization_is_active
            outcome = decide(Event.CREATE, replace(facts, organization_is_active=True), C)
        self.model = Model(
            RequestFacts(outcome.target, outcome.stage, submission_blockers=("à remplir",)),
        )

    @precondition(lambda self: self.model.facts.state in (State.DRAFT, State.CHANGES_REQUESTED))
    @rule(complete=st.sampled_from([True, True, False]), changed=st.sampled_from([True, True, False]))
    def edit_sections(self, complete: bool, changed: bool) -> None:
        """The parties fill (or leave incomplete) their sections; a reopening may or may not change."""
        self.model.refresh(
            submission_blockers=() if complete else ("à remplir",),
            has_changes_since_habilitation=changed or self.model.facts.has_changes_since_habilitation,
        )

    @rule(
        event=st.sampled_from([e for e in Event if e is not Event.CREATE]),
        actor=st.sampled_from(list(Actor)),
        reason=st.sampled_from([None, "", "  ", "Motif de test"]),
    )
    def take_any_event(self, event: Event, actor: Actor, reason: str | None) -> None:
        self._take(event, actor, reason)

    @rule(data=st.data())
    def take_an_offered_event(self, data: st.DataObject) -> None:
        """Mostly events the page would offer, so that sequences reach production and updates."""
        offers = {
            actor: [e for e in available_events(self.model.facts, actor) if e not in ENDINGS] for actor in (C, INS)
        }
        actors = [actor for actor, offered in offers.items() if offered]
        if actors:
            actor = data.draw(st.sampled_from(actors))
            event = data.draw(st.sampled_from(offers[actor]))
            if event is Event.SUBMIT and data.draw(st.booleans()):
                self.edit_sections(complete=True, changed=True)
            self._take(event, actor, data.draw(st.sampled_from(["Motif de test", "Motif de test", None])))

    def _take(self, event: Event, actor: Actor, reason: str | None) -> None:
        before = self.model.facts
        try:
            outcome = decide(event, before, actor, reason)
        except ActorNotAllowed:
            assert actor not in WHO[event]
            return
        except ReasonRequired:
            assert (event, actor) in REASON_REQUIRED and not (reason or "").strip()
            return
        except GuardFailed as error:
            assert error.problems
            return
        except TransitionNotAllowed:
            assert actor in WHO[event]
            return
        assert actor in WHO[event]
        assert (event, actor) not in REASON_REQUIRED or (reason or "").strip()
        if event is Event.SUBMIT:
            assert not before.submission_blockers
            assert not before.is_reopening or before.has_changes_since_habilitation
        if event in (Event.APPROVE, Event.REQUEST_CHANGES, Event.REFUSE):
            assert before.state is State.SUBMITTED
        self._apply(outcome.target, outcome.stage, outcome.is_reopening, outcome.effects, event)

    def _apply(self, target: State, stage: Stage, is_reopening: bool, effects: frozenset[Effect], event: Event) -> None:
        model = self.model
        if Effect.CREATE_HABILITATION in effects:
            for index in model.active(stage):
                model.habilitations[index] = (stage, "obsolete")
            model.habilitations.append((stage, "active"))
            self.approved_from.append(model.facts.state)
        if Effect.REVOKE_HABILITATIONS in effects:
            model.habilitations = [(s, "revoked" if st_ == "active" else st_) for s, st_ in model.habilitations]
        changes: dict[str, object] = {"state": target, "stage": stage, "is_reopening": is_reopening}
        if event is Event.REOPEN:
            changes["has_changes_since_habilitation"] = False
        if Effect.REOPEN_NAMED_SECTIONS in effects or Effect.RESET_CGU in effects:
            changes["submission_blockers"] = ("à attester de nouveau",)
        if Effect.RESTORE_LAST_HABILITATION in effects:
            changes["submission_blockers"] = ()
        model.refresh(**changes)

    @invariant()
    def validated_means_an_active_habilitation_of_the_stage(self) -> None:
        if self.model.facts.state is State.VALIDATED:
            assert self.model.active(self.model.facts.stage)

    @invariant()
    def at_most_one_active_habilitation_per_stage(self) -> None:
        for stage in Stage:
            assert len(self.model.active(stage)) <= 1

    @invariant()
    def approvals_only_from_submitted(self) -> None:
        assert all(state is State.SUBMITTED for state in self.approved_from)

    @invariant()
    def reopening_only_while_being_edited_or_instructed(self) -> None:
        if self.model.facts.is_reopening:
            assert self.model.facts.state in (State.DRAFT, State.CHANGES_REQUESTED, State.SUBMITTED)
            assert self.model.active(self.model.facts.stage)  # it stays active meanwhile

    @invariant()
    def refused_never_while_reopening_nor_after_a_production_approval(self) -> None:
        if self.model.facts.state is State.REFUSED:
            assert not self.model.facts.is_reopening
            # An update's refusal goes back to « Validée »: a refused stage never has an active habilitation.
            assert not self.model.active(self.model.facts.stage)
            if self.model.facts.stage is PRODUCTION:
                assert not self.model.facts.has_had_production_habilitation

    @invariant()
    def ended_requests_hold_no_active_habilitation(self) -> None:
        if self.model.facts.state in (State.REVOKED, State.ARCHIVED):
            assert not self.model.active(SANDBOX) and not self.model.active(PRODUCTION)

    @invariant()
    def production_stage_rests_on_an_active_sandbox_habilitation(self) -> None:
        facts = self.model.facts
        if facts.stage is PRODUCTION and facts.state not in (State.REVOKED, State.ARCHIVED):
            assert self.model.active(SANDBOX)


RequestLifecycle.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRequestLifecycle = RequestLifecycle.TestCase


# --- « avec éditeur » ----------------------------------------------------------------------------------

DIRECT = RequestFacts(state=None, is_direct_production=True, has_active_editeur_sandbox_habilitation=True)


def test_a_direct_production_request_is_created_in_the_production_stage() -> None:
    outcome = decide(Event.CREATE, DIRECT, Actor.COLLECTIVITE)
    assert (outcome.target, outcome.stage, outcome.is_reopening) == (State.DRAFT, Stage.PRODUCTION, False)
    assert decide(Event.CREATE, RequestFacts(state=None), Actor.COLLECTIVITE).stage is Stage.SANDBOX


def test_a_direct_production_request_needs_the_editeur_sandbox_to_be_active() -> None:
    with pytest.raises(GuardFailed) as refused:
        decide(Event.CREATE, replace(DIRECT, has_active_editeur_sandbox_habilitation=False), Actor.COLLECTIVITE)
    assert refused.value.problems == ("L'habilitation bac à sable de l'éditeur pour ce logiciel n'est pas active.",)


def test_a_direct_production_request_has_no_sandbox_stage_to_go_back_to() -> None:
    drafted = replace(DIRECT, state=State.DRAFT, stage=Stage.PRODUCTION)
    assert Event.CANCEL_PRODUCTION not in available_events(drafted, Actor.COLLECTIVITE)
    assert Event.ARCHIVE in available_events(drafted, Actor.COLLECTIVITE)
    # Refused at its first attempt, it may start again while the éditeur's sandbox stays active.
    refused = replace(drafted, state=State.REFUSED)
    assert decide(Event.START_PRODUCTION, refused, Actor.COLLECTIVITE).target is State.DRAFT
    with pytest.raises(GuardFailed):
        decide(
            Event.START_PRODUCTION, replace(refused, has_active_editeur_sandbox_habilitation=False), Actor.COLLECTIVITE
        )
