"""The read side for the decision engine and token service, change notices, and the append-only register."""

from __future__ import annotations

import queue
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from iam.db import make_engine
from iam.notify import ChangeBus
from provisioning.accounts import disable_account
from provisioning.subjects import all_role_assignments, org_unit_ancestry, org_units, subject_facts
from tests.provisioning.conftest import STAFF, World, moment

DEC1 = moment(date(2026, 12, 1))


def test_subject_facts_are_the_same_by_person_id_national_id_and_hpr_number(world: World) -> None:
    world.load([world.row(1, "physician", world.units.ward_a, "2020-01-01")], at=DEC1)
    with world.runtime.sessions() as session:
        by_national = subject_facts(session, national_id=STAFF[1].national_id, at=DEC1)
        assert by_national is not None
        by_id = subject_facts(session, person_id=by_national.person_id, at=DEC1)
        by_hpr = subject_facts(session, hpr_number=STAFF[1].hpr_number, at=DEC1)
        unknown = subject_facts(session, hpr_number="9999999", at=DEC1)
        with pytest.raises(ValueError, match="give exactly one of person_id, national_id, hpr_number; got 2"):
            subject_facts(session, person_id=1, hpr_number="1", at=DEC1)

    assert by_id == by_national == by_hpr
    assert unknown is None
    assert (by_national.display_name, by_national.hpr_number, by_national.authorisations) == (
        "Given1 Family1", STAFF[1].hpr_number, ("LE",))


def test_all_role_assignments_streams_roles_of_active_accounts_only(world: World) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2020-01-01"), world.row(2, "physician", u.ward_b, "2027-01-01"),
                world.row(7, "nurse", u.zone_1, "2020-01-01"), world.row(8, "care_assistant", u.zone_2, "2020-01-01")],
               at=DEC1)
    with world.runtime.sessions.begin() as session:
        disable_account(session, world.facts(8, DEC1).person_id, reason="left early", at=DEC1)

    with world.runtime.sessions() as session:
        streamed = [(person, r.role, r.unit_id, r.licence_ok) for person, r in all_role_assignments(session, at=DEC1)]

    assert streamed == [(world.facts(1, DEC1).person_id, "physician", u.ward_a, True),
                        (world.facts(7, DEC1).person_id, "nurse", u.home_care, False)]


def test_org_units_carry_their_legal_entity_and_point_of_care(world: World) -> None:
    u = world.units
    with world.runtime.sessions() as session:
        ancestry = org_unit_ancestry(session)
        units = org_units(session)

    assert ancestry[u.ward_a] == (u.trust, u.hospital)
    assert ancestry[u.hospital] == (u.trust, u.hospital)
    assert ancestry[u.trust] == (u.trust, None)
    assert ancestry[u.zone_2] == (u.municipality, u.home_care)
    assert [unit.level for unit in units[:3]] == ["legal_entity", "legal_entity", "point_of_care"]


def test_changes_are_announced_to_other_nodes_after_commit(world: World, database_url: str) -> None:
    engine = make_engine(database_url)
    receiver = ChangeBus(engine, poll_interval=0.05)
    received: queue.Queue[str] = queue.Queue()
    receiver.subscribe("identity", received.put)
    receiver.start()
    try:
        world.load([world.row(1, "physician", world.units.ward_a, "2020-01-01")], at=DEC1)
        person = world.facts(1, DEC1).person_id
        assert received.get(timeout=10) == f"person:{person}"
        world.load([world.row(1, "physician", world.units.ward_a, "2020-01-01")], at=DEC1)
        with world.runtime.sessions.begin() as session:
            disable_account(session, person, reason="left", at=DEC1)
        assert received.get(timeout=10) == f"person:{person}"
    finally:
        receiver.stop()
        engine.dispose()


def test_the_database_refuses_to_rewrite_history(world: World) -> None:
    world.load([world.row(1, "physician", world.units.ward_a, "2020-01-01")], at=DEC1)
    world.load([], at=DEC1)
    sessions = world.runtime.sessions

    with sessions() as session, pytest.raises(DBAPIError, match="grants is append-only: UPDATE refused"):
        session.execute(text("UPDATE grants SET role = 'nurse'"))
    with sessions() as session, pytest.raises(DBAPIError, match="grants is append-only: DELETE refused"):
        session.execute(text("DELETE FROM grants"))
    with sessions() as session, pytest.raises(DBAPIError, match="grant_changes is append-only: UPDATE refused"):
        session.execute(text("UPDATE grant_changes SET reason = 'x'"))
    with sessions() as session, pytest.raises(DBAPIError,
                                              match="account_status_changes is append-only: DELETE refused"):
        session.execute(text("DELETE FROM account_status_changes"))
