"""The organisation register in the decision engine: reloaded in the background, never on a decision's path,
and kept as it is (with what is cached for it) when nothing changed."""

from __future__ import annotations

import time

from sqlalchemy import update

from iam.authz.authorization import Authorization
from iam.authz.pip import PolicyInformationPoint, ProvisioningIdentity
from iam.runtime import Runtime
from provisioning.models import OrgUnitRow
from tests.authz.world import World


def _rename(runtime: Runtime, unit_id: str, name: str) -> None:
    """A change that sends no notice (as if it were lost): only the periodic reload can find it."""
    with runtime.sessions.begin() as session:
        session.execute(update(OrgUnitRow).where(OrgUnitRow.unit_id == unit_id).values(name=name))


def _pip(runtime: Runtime, ttl: float) -> PolicyInformationPoint:
    return PolicyInformationPoint(runtime.sessions, ProvisioningIdentity(runtime.sessions), patient_cache_size=100,
                                  subject_ttl=ttl)


def test_a_reload_of_an_unchanged_register_keeps_its_tree(runtime: Runtime, world: World) -> None:
    pip = _pip(runtime, 300.0)
    tree = pip.org
    assert tree.name(world.units.ward) != world.units.ward
    pip.refresh_org()
    assert pip.org is tree


def test_decisions_do_not_reload_the_register_when_its_ttl_passes(runtime: Runtime, world: World) -> None:
    pip = _pip(runtime, 1.0)
    tree = pip.org
    _rename(runtime, world.units.ward, "Hjertesengepost")
    time.sleep(1.2)
    assert pip.org is tree, "the register was reloaded on a decision's path"
    pip.refresh_org()
    assert pip.org.name(world.units.ward) == "Hjertesengepost"
    assert pip.org.chain(world.units.ward) == tree.chain(world.units.ward)


def test_the_background_reload_finds_a_change_that_sent_no_notice(runtime: Runtime, world: World) -> None:
    authorization = Authorization(settings=runtime.settings.model_copy(update={"authz_subject_ttl": 1.0}),
                                  sessions=runtime.sessions, bus=runtime.bus, audit=runtime.audit)
    try:
        assert authorization.wait_for_subjects(30)
        before = authorization.pip.org
        _rename(runtime, world.units.ward, "Hjertesengepost")
        deadline = time.monotonic() + 10
        while authorization.pip.org.name(world.units.ward) != "Hjertesengepost" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert authorization.pip.org.name(world.units.ward) == "Hjertesengepost"
        assert before.name(world.units.ward) != "Hjertesengepost"
    finally:
        authorization.close()
