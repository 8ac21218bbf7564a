"""Joiners, movers, leavers, rehires and corrections (domain rule 9), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from provisioning.accounts import suspend_account
from provisioning.models import GrantChangeRow, PersonRow
from tests.provisioning.conftest import STAFF, World, moment, national_id

DEC1 = moment(date(2026, 12, 1))


def test_future_joiner_is_pending_with_roles_from_the_start_date_and_activated_by_the_tick(world: World) -> None:
    u = world.units
    report = world.load([world.row(1, "physician", u.ward_a, "2026-12-10")], at=DEC1)
    assert report.plan.joiners == ["E001 Given1 Family1"]
    assert world.facts(1, DEC1).account_status == "pending"
    assert world.facts(1, DEC1).roles == ()
    assert world.roles(1, moment(date(2026, 12, 9), 23)) == set()
    assert world.roles(1, moment(date(2026, 12, 10), 0)) == {("physician", u.ward_a, False)}

    world.tick(moment(date(2026, 12, 9)))
    assert world.facts(1, moment(date(2026, 12, 9))).account_status == "pending"
    activation = world.tick(moment(date(2026, 12, 10)))
    facts = world.facts(1, moment(date(2026, 12, 10)))

    assert activation.plan is not None
    assert [(c.old, c.new) for c in activation.plan.account_changes] == [("pending", "active")]
    assert facts.account_status == "active"
    assert [(r.role, r.unit_id, r.unit_level, r.point_of_care_id, r.legal_entity_id) for r in facts.roles] == [
        ("physician", u.ward_a, "department", u.hospital, u.trust)]


def test_leaver_is_disabled_after_the_end_date_and_loses_roles_and_tokens(world: World) -> None:
    u = world.units
    world.load([world.row(2, "physician", u.ward_a, "2020-01-01", "2026-12-05")], at=DEC1)
    last_day = moment(date(2026, 12, 5), 23)
    day_after = moment(date(2026, 12, 6), 1)

    world.tick(last_day)
    assert world.facts(2, last_day).account_status == "active"
    leaving = world.tick(day_after)
    facts = world.facts(2, day_after)

    assert leaving.plan is not None
    assert leaving.plan.leavers == ["E002 Given2 Family2"]
    assert facts.account_status == "disabled"
    assert facts.tokens_valid_after == day_after
    assert facts.roles == ()
    assert world.roles(2, day_after) == set()
    assert world.roles(2, last_day) == {("physician", u.ward_a, False)}
    with world.runtime.sessions() as session:
        reasons = session.execute(select(GrantChangeRow.action, GrantChangeRow.reason)).all()
    assert [tuple(r) for r in reasons] == [("revoke", "left: no current or future employment")]


def test_mover_without_grace_loses_the_old_unit_at_once_and_gains_the_new_one(world: World) -> None:
    u = world.units
    world.load([world.row(8, "care_assistant", u.ward_a, "2020-01-01")], at=DEC1)
    announced = world.load([world.row(8, "care_assistant", u.ward_a, "2020-01-01", "2026-12-09"),
                            world.row(8, "care_assistant", u.ward_b, "2026-12-10")], at=DEC1)
    assert announced.plan.movers == []
    assert world.roles(8, moment(date(2026, 12, 9))) == {("care_assistant", u.ward_a, False)}

    move = world.tick(moment(date(2026, 12, 10)))

    assert move.plan is not None
    assert move.plan.movers == ["E008 Given8 Family8"]
    assert world.roles(8, moment(date(2026, 12, 10))) == {("care_assistant", u.ward_b, False)}
    assert world.facts(8, moment(date(2026, 12, 10))).account_status == "active"


def test_mover_with_grace_keeps_the_old_role_for_the_roles_grace_period(world: World) -> None:
    u = world.units
    world.load([world.row(3, "physician", u.ward_a, "2020-01-01")], at=DEC1)
    moved_at = moment(date(2026, 12, 10))
    report = world.load([world.row(3, "physician", u.ward_a, "2020-01-01", "2026-12-09"),
                         world.row(3, "physician", u.outpatient, "2026-12-10")], at=moved_at)
    revocation = report.plan.grant_changes[0]

    assert report.plan.movers == ["E003 Given3 Family3"]
    assert revocation.effective_at == moved_at + timedelta(days=14)
    assert revocation.reason == ("moved: no employment gives this role here any more; grace period 14 d until "
                                 f"{(moved_at + timedelta(days=14)).isoformat(timespec='minutes')}")
    assert world.roles(3, moved_at) == {("physician", u.ward_a, False), ("physician", u.outpatient, False)}
    old = [r for r in world.facts(3, moved_at).roles if r.unit_id == u.ward_a]
    assert [r.valid_until for r in old] == [moved_at + timedelta(days=14)]
    assert world.roles(3, moved_at + timedelta(days=14)) == {("physician", u.outpatient, False)}
    assert world.tick(moved_at + timedelta(days=14, minutes=1)).announced == 1


def test_mover_in_grace_who_then_leaves_loses_every_role_at_once(world: World) -> None:
    u = world.units
    world.load([world.row(3, "physician", u.ward_a, "2020-01-01")], at=DEC1)
    world.load([world.row(3, "physician", u.outpatient, "2026-12-01")], at=DEC1)
    left_at = moment(date(2026, 12, 3))

    world.load([], at=left_at)

    assert world.roles(3, left_at) == set()
    assert world.facts(3, left_at).account_status == "disabled"


def test_rehire_under_a_new_employee_id_reuses_the_person(world: World) -> None:
    u = world.units
    world.load([world.row(4, "physician", u.ward_a, "2020-01-01", "2026-06-30")], at=DEC1)
    first = world.facts(4, DEC1)
    report = world.load([world.row(4, "physician", u.ward_b, "2027-01-04", employee_id="E904")], at=DEC1)
    again = world.facts(4, DEC1)

    assert first.account_status == "disabled"
    assert report.plan.rehires == ["E904 Given4 Family4"]
    assert again.person_id == first.person_id
    assert again.account_status == "pending"
    assert world.roles(4, moment(date(2027, 1, 4))) == {("physician", u.ward_b, False)}
    with world.runtime.sessions() as session:
        assert session.execute(select(PersonRow.employee_id)).scalars().all() == ["E904"]


def test_corrected_national_id_and_name_update_the_person_matched_by_employee_id(world: World) -> None:
    u = world.units
    world.load([world.row(5, "nurse", u.ward_a, "2020-01-01")], at=DEC1)
    before = world.facts(5, DEC1)
    corrected = national_id(50)
    report = world.load([world.row(5, "nurse", u.ward_a, "2020-01-01", national_id=corrected,
                                   family_name="Family5-Berg")], at=DEC1)

    with world.runtime.sessions() as session:
        people = session.execute(select(PersonRow.id, PersonRow.national_id, PersonRow.family_name)).all()
    assert [u.changes for u in report.plan.person_updates] == [
        (("national_id", STAFF[5].national_id, corrected), ("family_name", "Family5", "Family5-Berg"))]
    assert [tuple(p) for p in people] == [(before.person_id, corrected, "Family5-Berg")]
    assert report.plan.grant_changes == []
    assert report.plan.new_grants == []


def test_snapshot_without_a_person_makes_them_a_leaver_and_delta_leaves_others_alone(world: World) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2020-01-01"), world.row(2, "physician", u.ward_b, "2020-01-01")],
               at=DEC1)
    delta = world.load([world.row(1, "physician", u.outpatient, "2020-01-01")], at=DEC1, mode="delta")
    assert world.facts(2, DEC1).account_status == "active"
    assert delta.plan.leavers == []

    snapshot = world.load([world.row(1, "physician", u.outpatient, "2020-01-01")], at=DEC1)

    assert snapshot.plan.leavers == ["E002 Given2 Family2"]
    assert world.facts(2, DEC1).account_status == "disabled"
    assert world.roles(2, DEC1) == set()
    assert world.facts(1, DEC1).account_status == "active"


def test_reimporting_the_same_file_changes_nothing_and_says_so(world: World) -> None:
    u = world.units
    feed = world.feed([world.row(1, "physician", u.ward_a, "2020-01-01"),
                       world.row(5, "nurse", u.zone_1, "2026-12-20")])
    first = world.import_file(feed, at=DEC1)
    again = world.import_file(feed, at=DEC1)

    assert first.plan.is_empty is False
    assert again.plan.is_empty is True
    assert again.plan.summary() == "plan (snapshot, 2026-12-01): 2 people in the input\nno changes"
    assert again.result is not None
    assert again.result.event_id is None


def test_administrators_suspension_survives_hr_imports(world: World) -> None:
    u = world.units
    rows = [world.row(1, "physician", u.ward_a, "2020-01-01")]
    world.load(rows, at=DEC1)
    with world.runtime.sessions.begin() as session:
        suspend_account(session, world.facts(1, DEC1).person_id, reason="investigation", at=DEC1, actor="tests")

    report = world.load([world.row(1, "physician", u.ward_b, "2020-01-01")], at=DEC1)

    assert report.plan.account_changes == []
    assert world.facts(1, DEC1).account_status == "suspended"
    assert world.roles(1, DEC1) == {("physician", u.ward_b, False), ("physician", u.ward_a, False)}


def test_grant_register_answers_roles_on_each_date_after_a_sequence_of_moves(world: World) -> None:
    u = world.units
    world.load([world.row(6, "nurse", u.ward_a, "2026-01-05")], at=moment(date(2026, 1, 5)))
    world.load([world.row(6, "nurse", u.ward_a, "2026-01-05", "2026-02-28"),
                world.row(6, "nurse", u.ward_b, "2026-03-01")], at=moment(date(2026, 3, 1)))
    world.load([world.row(6, "nurse", u.ward_a, "2026-01-05", "2026-02-28"),
                world.row(6, "nurse", u.ward_b, "2026-03-01", "2026-05-31"),
                world.row(6, "nurse", u.zone_1, "2026-06-01")], at=moment(date(2026, 6, 1)))

    assert world.roles(6, moment(date(2026, 1, 4))) == set()
    assert world.roles(6, moment(date(2026, 2, 1))) == {("nurse", u.ward_a, False)}
    assert world.roles(6, moment(date(2026, 3, 2))) == {("nurse", u.ward_a, False), ("nurse", u.ward_b, False)}
    assert world.roles(6, moment(date(2026, 3, 5))) == {("nurse", u.ward_b, False)}
    assert world.roles(6, moment(date(2026, 6, 2))) == {("nurse", u.ward_b, False), ("nurse", u.home_care, False)}
    assert world.roles(6, moment(date(2026, 7, 1))) == {("nurse", u.home_care, False)}
    with world.runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(PersonRow)).scalar_one() == 1
