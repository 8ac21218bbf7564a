"""``iam ldap sync`` against a real OpenLDAP slapd, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ldap3
from sqlalchemy import func, select

from iam.runtime import Runtime
from provisioning.hrfile import read_feed
from provisioning.ldap.config import LdapConfig
from provisioning.ldap.sync import sync_directory
from provisioning.models import AccountRow, EmploymentRow, PersonRow
from provisioning.planner import build_plan
from provisioning.subjects import subject_facts
from tests.ldap.slapd import ADMIN_DN, ADMIN_PASSWORD, Slapd, employment_value, person_dn


def _admin(slapd: Slapd) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(slapd.url), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)


def test_full_sync_provisions_people_identical_to_the_hr_file(runtime: Runtime, ldap_config: LdapConfig,
                                                             region: Path, staff: list[dict[str, Any]]) -> None:
    report = sync_directory(runtime.sessions, ldap_config)
    assert (report.mode, report.entries, report.problems, report.applied) == ("full", len(staff), [], True)
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(PersonRow)).scalar_one() == len(staff)
        replay = build_plan(session, read_feed(region / "hr_staff.json").records, mode="snapshot")
        assert replay.rejected == []
        assert replay.is_empty


def _nurses(staff: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nurses with one current, open-ended employment, in different departments."""
    found: dict[str, dict[str, Any]] = {}
    for person in staff:
        jobs = person["employments"]
        if (person["hpr_number"] and len(jobs) == 1 and jobs[0]["position_code"] == "nurse"
                and jobs[0]["end_date"] is None and jobs[0]["start_date"] < "2026-01-01"):
            found.setdefault(jobs[0]["department"], person)
    return list(found.values())


def _roles(runtime: Runtime, national_id: str) -> tuple[str, list[tuple[str, str]]]:
    from iam.db.base import utc_now

    with runtime.sessions() as session:
        facts = subject_facts(session, national_id=national_id, at=utc_now())
        assert facts is not None
        return facts.account_status, sorted((role.role, role.unit_id) for role in facts.roles)


def test_incremental_sync_applies_changes_and_a_full_sync_finds_deletions(
        runtime: Runtime, ldap_config: LdapConfig, slapd: Slapd, staff: list[dict[str, Any]]) -> None:
    sync_directory(runtime.sessions, ldap_config)
    mover, leaver, other = _nurses(staff)[:3]
    new_job = {**mover["employments"][0], "department": other["employments"][0]["department"],
               "point_of_care": other["employments"][0]["point_of_care"],
               "legal_entity": other["employments"][0]["legal_entity"]}
    admin = _admin(slapd)
    assert admin.modify(person_dn(mover), {"sn": [(ldap3.MODIFY_REPLACE, ["Flyttesen"])],
                                           "nhnEmployment": [(ldap3.MODIFY_REPLACE, [employment_value(new_job)])]})
    assert admin.delete(person_dn(leaver))
    admin.unbind()

    incremental = sync_directory(runtime.sessions, ldap_config)
    assert (incremental.mode, incremental.problems, incremental.plan.counts()["movers"]) == ("incremental", [], 1)
    status, roles = _roles(runtime, mover["national_id"])
    assert status == "active"
    assert ("nurse", other["employments"][0]["department"]) in roles
    assert _roles(runtime, leaver["national_id"])[0] == "active"  # an incremental search cannot see deletions
    with runtime.sessions() as session:
        assert session.execute(select(PersonRow.family_name).where(
            PersonRow.national_id == mover["national_id"])).scalar_one() == "Flyttesen"

    full = sync_directory(runtime.sessions, ldap_config, full=True)
    assert (full.mode, full.plan.counts()["leavers"], full.problems) == ("full", 1, [])
    assert _roles(runtime, leaver["national_id"]) == ("disabled", [])


def test_dry_run_reports_the_plan_and_changes_nothing(runtime: Runtime, ldap_config: LdapConfig,
                                                      staff: list[dict[str, Any]]) -> None:
    report = sync_directory(runtime.sessions, ldap_config, dry_run=True)
    assert report.applied is False
    assert report.plan.counts()["persons_created"] == len(staff)
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(PersonRow)).scalar_one() == 0
    assert sync_directory(runtime.sessions, ldap_config).mode == "full"  # a dry run sets no high-water mark


def test_a_bad_entry_is_reported_with_its_dn_and_the_rest_is_applied(
        runtime: Runtime, ldap_config: LdapConfig, slapd: Slapd, staff: list[dict[str, Any]]) -> None:
    bad = staff[0]
    admin = _admin(slapd)
    assert admin.modify(person_dn(bad), {"norEduPersonNIN": [(ldap3.MODIFY_REPLACE, ["12345678901"])],
                                         "nhnEmployment": [(ldap3.MODIFY_ADD, ["position=nurse;department=x"])]})
    admin.unbind()
    report = sync_directory(runtime.sessions, ldap_config)
    assert [str(problem) for problem in report.problems] == [
        f"ldap-test:{person_dn(bad)}: nhnEmployment[1]: missing legalEntity, pointOfCare, start"]
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(PersonRow)).scalar_one() == len(staff) - 1
        assert session.execute(select(func.count()).select_from(AccountRow)).scalar_one() == len(staff) - 1
        sources = set(session.execute(select(EmploymentRow.source)).scalars())
    assert sources == {"ldap-test"}
