"""HPR licence checks: licensed roles need a valid authorisation; lapsed or suspended ones suspend the role."""

from __future__ import annotations

from datetime import date

from provisioning.register import grant_history
from tests.provisioning.conftest import LICENCES, World, moment

DEC1 = moment(date(2026, 12, 1))
VALID = {n: [(code, "valid", "2000-01-01", "")] for n, code in LICENCES.items()}


def test_a_licensed_role_without_a_valid_authorisation_is_granted_suspended(world: World) -> None:
    u = world.units
    report = world.load([world.row(7, "nurse", u.ward_a, "2020-01-01"),
                         world.row(8, "nurse", u.ward_b, "2020-01-01")], at=DEC1)

    assert [(g.person, g.role, g.suspend_reason) for g in report.plan.new_grants] == [
        (-1, "nurse", "HPR authorisation SP is lapsed"), (-2, "nurse", "no HPR authorisation SP")]
    assert world.roles(7, DEC1) == {("nurse", u.ward_a, True)}
    assert [(r.role, r.licence_ok) for r in world.facts(7, DEC1).roles] == [("nurse", False)]
    assert world.facts(7, DEC1).authorisations == ()


def test_lapsed_authorisation_suspends_the_role_at_the_next_check_and_a_valid_one_restores_it(world: World) -> None:
    u = world.units
    world.load([world.row(5, "nurse", u.ward_a, "2020-01-01")], at=DEC1)
    assert world.facts(5, DEC1).authorisations == ("SP",)

    world.write_hpr(VALID | {5: [("SP", "lapsed", "2000-01-01", "2026-11-30")]})
    later = moment(date(2026, 12, 2))
    sync, plan, _ = world.check_licences(later)

    assert (sync.added, sync.changed, sync.removed) == (0, 1, 0)
    assert [(c.action, c.reason) for c in plan.grant_changes] == [("suspend", "HPR authorisation SP is lapsed")]
    assert world.roles(5, later) == {("nurse", u.ward_a, True)}
    assert world.facts(5, later).authorisations == ()

    world.write_hpr(VALID)
    restored_at = moment(date(2026, 12, 3))
    _, restored, _ = world.check_licences(restored_at)

    assert [(c.action, c.reason) for c in restored.grant_changes] == [("resume", "HPR authorisation valid again")]
    assert world.roles(5, restored_at) == {("nurse", u.ward_a, False)}
    assert world.roles(5, later) == {("nurse", u.ward_a, True)}
    with world.runtime.sessions() as session:
        ((_, changes),) = grant_history(session, person_id=world.facts(5, DEC1).person_id, at=restored_at)
    assert [c.action for c in changes] == ["suspend", "resume"]


def test_suspended_authorisation_suspends_and_a_second_check_changes_nothing(world: World) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2020-01-01")], at=DEC1)
    world.write_hpr(VALID | {1: [("LE", "suspended", "2000-01-01", "2026-11-30")]})

    _, first, _ = world.check_licences(moment(date(2026, 12, 2)))
    _, second, _ = world.check_licences(moment(date(2026, 12, 2), 10))

    assert [c.reason for c in first.grant_changes] == ["HPR authorisation LE is suspended"]
    assert second.is_empty is True


def test_an_authorisation_that_expires_by_date_suspends_the_role_at_the_tick(world: World) -> None:
    u = world.units
    world.load([world.row(6, "nurse", u.zone_1, "2020-01-01")], at=DEC1)
    world.write_hpr(VALID | {6: [("SP", "valid", "2000-01-01", "2026-12-15")]})
    world.check_licences(DEC1)

    world.tick(moment(date(2026, 12, 15)))
    assert world.roles(6, moment(date(2026, 12, 15))) == {("nurse", u.home_care, False)}
    expiry = world.tick(moment(date(2026, 12, 16)))

    assert expiry.plan is not None
    assert [(c.action, c.reason) for c in expiry.plan.grant_changes] == [
        ("suspend", "HPR authorisation SP expired 2026-12-15")]
    assert world.roles(6, moment(date(2026, 12, 16))) == {("nurse", u.home_care, True)}


def test_a_role_without_licence_needs_is_never_suspended(world: World) -> None:
    u = world.units
    world.load([world.row(8, "care_assistant", u.zone_1, "2020-01-01")], at=DEC1)

    assert world.roles(8, DEC1) == {("care_assistant", u.home_care, False)}
    assert world.facts(8, DEC1).hpr_number is None
