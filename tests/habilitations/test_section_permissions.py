"""Who may write which section, when (DOMAIN §4, issue acceptance 3): every section × party × moment,
over HTTP. The owner of an open section saves (302); another party is refused (403); nobody writes a
section of a submitted request, nor a sandbox section during the production stage (409)."""

from __future__ import annotations

import pytest
from factories import login
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from habilitations.builders import Situation, build, fingerprint, make_cast
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.habilitations.workflow import Actor, Stage

PARTIES = (Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR, Actor.INSTRUCTEUR)
MOMENTS = (Situation.FRESH_DRAFT, Situation.SUBMITTED, Situation.PRODUCTION_DRAFT)
OPEN_STAGE = {Situation.FRESH_DRAFT: Stage.SANDBOX, Situation.PRODUCTION_DRAFT: Stage.PRODUCTION}


def expected_status(section_owner: Actor, stage: Stage, actor: Actor, moment: Situation) -> int:
    if actor is Actor.INSTRUCTEUR and moment is Situation.FRESH_DRAFT:
        return 404  # DGFiP never sees a draft before its first submission
    if actor is not section_owner:
        return 403
    return 302 if OPEN_STAGE.get(moment) is stage else 409


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_section_writes_by_party_and_moment(client: FlaskClient, session: Session, moment: Situation) -> None:
    cast = make_cast(session)
    request = build(session, cast, moment)
    session.commit()
    for definition in IMPOT_PARTICULIER.sections:
        for actor in PARTIES:
            before = fingerprint(session, request.id)
            login(client, session, cast.user(actor))
            response = client.post(
                f"/demandes/{request.id}/sections/{definition.key}",
                data={"version": str(before["request"]["version"]), "action": "save"},
            )
            expected = expected_status(definition.owner, definition.stage, actor, moment)
            assert response.status_code == expected, (definition.key, actor, moment)
            if expected != 302:
                assert fingerprint(session, request.id) == before, (definition.key, actor, moment)
