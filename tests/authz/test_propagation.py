"""Changes reach every node sharing the database through the change bus: policies, grants, patient facts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.query import SearchFilters, events_page
from iam.authz.catalogue import DEFAULT_POLICY_DIR, PolicyError
from iam.authz.model import DecisionRequest, SubjectRef
from iam.authz.publication import publish_policy, read_policy_files
from iam.authz.schemas import CareRelationshipCreate, RestrictionCreate
from iam.authz.service import Actor
from iam.config import Settings
from iam.runtime import Runtime
from tests.authz.conftest import PATIENT, eventually
from tests.authz.world import World, suspend


@pytest.fixture
def other_node(settings: Settings) -> Iterator[Runtime]:
    node = Runtime.start(settings)
    yield node
    node.close()


def _request(world: World, key: str, **kwargs: str) -> DecisionRequest:
    return DecisionRequest(subject=SubjectRef("person", world[key].person_id), patient=PATIENT,
                           section=kwargs.get("section", "notes"), action="read", purpose="TREAT")


ACTOR = Actor(actor="tests")


def test_a_published_policy_reaches_the_other_node_without_restart(
        runtime: Runtime, other_node: Runtime, world: World, tmp_path: Path) -> None:
    runtime.authz.facts.register_relationship(CareRelationshipCreate(
        patient=PATIENT, kind="admission", unit_id=world.units.ward), actor=ACTOR)
    request = _request(world, "secretary", section="notes")
    assert other_node.authz.decide(request).allowed is False
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    with (folder / "policy.csv").open("a") as handle:
        handle.write("p, health_secretary, notes, read, TREAT, care_relationship, allow, secretaries-read-notes\n")
    with runtime.sessions.begin() as session:
        version_id, compiled = publish_policy(session, runtime.bus, files=read_policy_files(folder), by="tests",
                                              comment="an experiment")
    assert eventually(lambda: other_node.authz.policy.version == compiled.version)
    assert other_node.authz.policy_version_id == version_id
    decision = other_node.authz.decide(request)
    assert (decision.allowed, decision.rule) == (True, "secretaries-read-notes")
    assert eventually(lambda: runtime.authz.policy.version == compiled.version)
    runtime.audit.flush()
    with runtime.sessions() as session:
        events = events_page(session, SearchFilters(kind="admin"), limit=100).events
    published = [e for e in events if e.action == "policy.publish"]
    assert [(e.target_id, (e.details or {})["comment"]) for e in published] == [(compiled.version, "an experiment")]


def test_a_broken_published_policy_is_refused_and_the_old_one_stays(
        runtime: Runtime, other_node: Runtime, tmp_path: Path) -> None:
    before = other_node.authz.policy.version
    files = read_policy_files(DEFAULT_POLICY_DIR)
    files["policy.csv"] += "p, nurse, diary, read, TREAT, care_relationship, allow, x\n"
    refused = r"section 'diary' is not in sections\.yaml"
    with pytest.raises(PolicyError, match=refused), runtime.sessions.begin() as session:
        publish_policy(session, runtime.bus, files=files, by="tests")
    assert other_node.authz.policy.version == before


def test_a_suspended_account_is_denied_on_every_node(runtime: Runtime, other_node: Runtime, world: World) -> None:
    runtime.authz.facts.register_relationship(CareRelationshipCreate(
        patient=PATIENT, kind="admission", unit_id=world.units.ward), actor=ACTOR)
    request = _request(world, "nurse_ward")
    assert other_node.authz.decide(request).allowed is True
    suspend(runtime, world["nurse_ward"])
    assert eventually(lambda: other_node.authz.decide(request).reason == "account_inactive")


def test_a_restriction_made_on_one_node_applies_on_the_other(
        runtime: Runtime, other_node: Runtime, world: World) -> None:
    runtime.authz.facts.register_relationship(CareRelationshipCreate(
        patient=PATIENT, kind="admission", unit_id=world.units.ward), actor=ACTOR)
    request = _request(world, "dr_ward")
    assert eventually(lambda: other_node.authz.decide(request).allowed)
    runtime.authz.facts.create_restriction(RestrictionCreate(
        patient=PATIENT, kind="block_person", person_id=world["dr_ward"].person_id, requested_by="patient"),
        actor=ACTOR)
    assert eventually(lambda: other_node.authz.decide(request).reason == "named_block")
