"""A grant that ends by itself (an end date, a scheduled revocation) sends no change notice at that moment (the
provisioning tick announces it at its next run): the decision engine still stops honouring it then."""

from __future__ import annotations

import time
from datetime import timedelta

from iam.authz.model import DecisionRequest, SubjectRef
from iam.authz.schemas import CareRelationshipCreate
from iam.authz.service import Actor
from iam.db.base import utc_now
from iam.runtime import Runtime
from provisioning.grants import grant_role
from tests.authz.conftest import PATIENT, eventually
from tests.authz.world import World


def test_a_time_limited_grant_stops_permitting_the_moment_it_ends(runtime: Runtime, world: World) -> None:
    assert runtime.settings.authz_subject_ttl >= 60  # no periodic reload can explain the result
    runtime.authz.facts.register_relationship(CareRelationshipCreate(
        patient=PATIENT, kind="admission", unit_id=world.units.ward), actor=Actor(actor="tests"))
    gp = world["gp"]
    request = DecisionRequest(subject=SubjectRef("person", gp.person_id), patient=PATIENT, section="notes",
                              action="read", purpose="TREAT")
    assert runtime.authz.decide(request).allowed is False  # the GP office has no relationship with the patient
    ends = utc_now() + timedelta(seconds=8)  # time for the grant's notice to arrive first, under load too
    with runtime.sessions.begin() as session:  # a locum shift on the ward, from another organisation
        grant_role(session, person_id=int(gp.person_id), role="physician", unit_id=world.units.ward,
                   reason="locum shift", actor="tests", valid_to=ends, bus=runtime.bus)
    assert eventually(lambda: runtime.authz.decide(request).allowed)
    time.sleep(max(0.0, (ends - utc_now()).total_seconds()) + 0.1)
    decision = runtime.authz.decide(request)
    assert (decision.allowed, decision.reason) == (False, "no_care_relationship"), decision
