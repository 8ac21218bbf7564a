"""The bulk subject load (start-up and every ``authz_subject_ttl``) gives each person exactly what a look-up
of that one person gives: identifiers, name, account state, roles in force and care teams."""

from __future__ import annotations

from datetime import UTC, datetime

from iam.authz.model import SubjectRef
from iam.authz.pip import ProvisioningIdentity
from iam.runtime import Runtime
from tests.authz.world import World, suspend


def test_bulk_loaded_subjects_are_the_subjects_one_look_up_gives(runtime: Runtime, world: World) -> None:
    suspend(runtime, world["secretary"])
    identity = ProvisioningIdentity(runtime.sessions)
    at = datetime.now(UTC)
    bulk = {subject.person_id: subject for subject in identity.all_subjects(at=at)}
    one_by_one = {person.person_id: identity.subject(SubjectRef("person", person.person_id), at=at)
                  for person in world.people.values()}
    assert {person_id: bulk[person_id] for person_id in one_by_one} == one_by_one
    assert bulk[world["secretary"].person_id].account_status == "suspended"
