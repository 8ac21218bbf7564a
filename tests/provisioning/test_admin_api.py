"""Admin API under /admin/v1 (scope admin): persons, accounts, employments, grants with history and as_of."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from iam.db.base import utc_now
from provisioning.clock import hr_date
from tests.provisioning.conftest import STAFF, World, moment

Token = Callable[..., str]


def _today() -> date:
    return hr_date(utc_now())


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _staffed(world: World) -> dict[str, int]:
    """Person 1 physician and person 5 nurse at the hospital, person 8 care assistant in home care, as of now."""
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2020-01-01"), world.row(5, "nurse", u.ward_b, "2020-01-01"),
                world.row(8, "care_assistant", u.zone_1, "2020-01-01")], at=utc_now() - timedelta(minutes=1))
    now = utc_now()
    return {key: world.facts(n, now).person_id for key, n in (("doctor", 1), ("nurse", 5), ("carer", 8))}


def test_admin_api_needs_a_token_with_the_admin_scope(client: TestClient, access_token: Token) -> None:
    missing = client.get("/admin/v1/persons")
    wrong = client.get("/admin/v1/persons", headers=_auth(access_token("audit:read")))

    assert missing.status_code == 401
    assert wrong.status_code == 403
    assert wrong.json()["error"] == "insufficient_scope"


def test_persons_can_be_found_and_read_with_account_employments_and_roles(
        client: TestClient, access_token: Token, world: World) -> None:
    people = _staffed(world)
    headers = _auth(access_token("admin"))

    found = client.get("/admin/v1/persons", params={"employee_id": "E001"}, headers=headers)
    by_name = client.get("/admin/v1/persons", params={"name": "family5"}, headers=headers)
    detail = client.get(f"/admin/v1/persons/{people['doctor']}", headers=headers)
    employments = client.get(f"/admin/v1/persons/{people['doctor']}/employments", headers=headers)
    unknown = client.get("/admin/v1/persons/999999", headers=headers)

    assert found.status_code == 200
    assert [(p["id"], p["national_id"], p["account_status"]) for p in found.json()["items"]] == [
        (people["doctor"], STAFF[1].national_id, "active")]
    assert [p["employee_id"] for p in by_name.json()["items"]] == ["E005"]
    body = detail.json()
    assert body["account"]["status"] == "active"
    assert [(e["department_id"], e["position_code"], e["in_effect"]) for e in body["employments"]] == [
        (world.units.ward_a, "physician", True)]
    assert [(r["role"], r["unit_id"], r["kind"], r["in_force"]) for r in body["roles"]] == [
        ("physician", world.units.ward_a, "birthright", True)]
    assert [e["department_name"] for e in employments.json()] == ["Medisinsk sengepost"]
    assert unknown.status_code == 404
    assert unknown.json()["error_description"] == "person 999999 does not exist"


def test_manual_cross_organisation_grant_must_be_time_limited_and_is_revoked_with_a_reason(
        client: TestClient, access_token: Token, world: World) -> None:
    people = _staffed(world)
    headers = _auth(access_token("admin"))
    u = world.units
    until = (utc_now() + timedelta(days=30)).isoformat()
    body = {"person_id": people["doctor"], "role": "physician", "unit_id": u.home_care, "purpose": "COC",
            "reason": "covers home-care patients this month"}

    open_ended = client.post("/admin/v1/grants", json=body, headers=headers)
    created = client.post("/admin/v1/grants", json=body | {"valid_to": until}, headers=headers)
    grant_id = created.json()["id"]
    listed = client.get("/admin/v1/grants", params={"person_id": people["doctor"]}, headers=headers)
    no_reason = client.post(f"/admin/v1/grants/{grant_id}/revoke", json={}, headers=headers)
    revoked = client.post(f"/admin/v1/grants/{grant_id}/revoke", json={"reason": "no longer needed"},
                          headers=headers)
    twice = client.post(f"/admin/v1/grants/{grant_id}/revoke", json={"reason": "again"}, headers=headers)

    assert open_ended.status_code == 400
    assert open_ended.json()["error_description"] == (
        f"unit {u.home_care} belongs to legal entity {u.municipality}, where person {people['doctor']} does not "
        "work: cross-organisation access must be time-limited (give valid_to)")
    assert created.status_code == 201
    assert (created.json()["kind"], created.json()["purpose"], created.json()["granted_by"]) == (
        "manual", "COC", f"client:{_client_of(client, headers)}")
    assert sorted(g["unit_id"] for g in listed.json()["items"]) == sorted([u.ward_a, u.home_care])
    assert no_reason.status_code == 422
    assert revoked.status_code == 200
    assert revoked.json()["in_force"] is False
    assert [(c["action"], c["reason"]) for c in revoked.json()["changes"]] == [("revoke", "no longer needed")]
    assert twice.status_code == 409
    assert twice.json()["error_description"].startswith(f"grant {grant_id} was already revoked at ")


def _client_of(client: TestClient, headers: dict[str, str]) -> str:
    """The client id behind a token: the actor recorded on grants made with it."""
    token = headers["Authorization"].removeprefix("Bearer ")
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return str(runtime.tokens.verify(token).client_id)


def test_manual_grants_are_refused_for_unknown_roles_missing_licences_and_birthright_revocation(
        client: TestClient, access_token: Token, world: World) -> None:
    people = _staffed(world)
    headers = _auth(access_token("admin"))
    u = world.units

    unknown = client.post("/admin/v1/grants", json={"person_id": people["carer"], "role": "surgeon",
                                                     "unit_id": u.home_care, "reason": "x"}, headers=headers)
    unlicensed = client.post("/admin/v1/grants", json={"person_id": people["carer"], "role": "nurse",
                                                        "unit_id": u.home_care, "reason": "x"}, headers=headers)
    birthright = client.get(f"/admin/v1/persons/{people['carer']}/grants", headers=headers).json()["items"][0]
    revoke = client.post(f"/admin/v1/grants/{birthright['id']}/revoke", json={"reason": "x"}, headers=headers)

    assert unknown.status_code == 400
    assert unknown.json()["error_description"] == (
        "role 'surgeon' is not in the role catalogue (ambulance_worker, care_assistant, health_secretary, "
        "midwife, nurse, nurse_assistant, paramedic, physician, physiotherapist, psychologist)")
    assert unlicensed.status_code == 409
    assert unlicensed.json()["error_description"] == (
        f"role 'nurse' needs a valid HPR authorisation; person {people['carer']} has none "
        "(no HPR authorisation SP)")
    assert revoke.status_code == 409
    assert revoke.json()["error_description"] == (
        f"grant {birthright['id']} is a birthright of an employment; change the employment in the HR source, "
        "or suspend the account")


def test_suspending_an_account_stops_its_roles_and_tokens_until_reinstated(
        client: TestClient, access_token: Token, world: World) -> None:
    people = _staffed(world)
    headers = _auth(access_token("admin"))
    person = people["nurse"]

    suspended = client.post(f"/admin/v1/persons/{person}/account/suspend", json={"reason": "investigation"},
                            headers=headers)
    facts = world.facts(5, utc_now())
    again = client.post(f"/admin/v1/persons/{person}/account/suspend", json={"reason": "x"}, headers=headers)
    reinstated = client.post(f"/admin/v1/persons/{person}/account/reinstate", json={"reason": "cleared"},
                             headers=headers)

    assert suspended.status_code == 200
    assert (suspended.json()["status"], suspended.json()["admin_hold"]) == ("suspended", True)
    assert facts.account_status == "suspended"
    assert facts.roles == ()
    assert facts.tokens_valid_after == datetime.fromisoformat(suspended.json()["status_changed_at"])
    assert again.status_code == 409
    assert again.json()["error_description"] == (
        f"the account of person {person} is suspended; only an active or pending account can be suspended")
    assert reinstated.status_code == 200
    assert [(h["status"], h["reason"]) for h in reinstated.json()["history"]] == [
        ("active", "employment in effect"), ("suspended", "investigation"), ("active", "cleared")]
    assert [r.role for r in world.facts(5, utc_now()).roles] == ["nurse"]


def test_grants_as_of_a_date_and_their_history(client: TestClient, access_token: Token, world: World) -> None:
    u = world.units
    world.load([world.row(3, "physician", u.ward_a, "2026-01-05")], at=moment(date(2026, 1, 5)))
    world.load([world.row(3, "physician", u.ward_a, "2026-01-05", "2026-02-28"),
                world.row(3, "physician", u.outpatient, "2026-03-01")], at=moment(date(2026, 3, 1)))
    person = world.facts(3, moment(date(2026, 3, 1))).person_id
    headers = _auth(access_token("admin"))

    def units_on(as_of: str) -> list[str]:
        page = client.get("/admin/v1/grants", params={"as_of": as_of, "role": "physician"}, headers=headers)
        return sorted(g["unit_id"] for g in page.json()["items"])

    history = client.get(f"/admin/v1/persons/{person}/grants", params={"history": "true", "as_of": "2026-03-20"},
                         headers=headers)
    naive = client.get("/admin/v1/grants", params={"as_of": "2026-03-01T10:00:00"}, headers=headers)
    garbage = client.get("/admin/v1/grants", params={"as_of": "yesterday"}, headers=headers)

    assert units_on("2026-02-01") == [u.ward_a]
    assert units_on("2026-03-10") == sorted([u.ward_a, u.outpatient])
    assert units_on("2026-03-16") == [u.outpatient]
    assert units_on("2026-03-15T10:00:00+01:00") == [u.outpatient]
    assert [(g["unit_id"], g["in_force"], [c["action"] for c in g["changes"]]) for g in history.json()["items"]] == [
        (u.ward_a, False, ["revoke"]), (u.outpatient, True, [])]
    assert history.json()["as_of"] == datetime(2026, 3, 19, 23, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    assert naive.status_code == 400
    assert naive.json()["error_description"] == (
        "as_of '2026-03-01T10:00:00' has no time zone; add one, e.g. 2026-12-01T08:00:00Z")
    assert garbage.status_code == 400
    assert garbage.json()["error_description"] == (
        "as_of 'yesterday' is not a date (YYYY-MM-DD) or an ISO 8601 date-time")


def test_account_with_its_status_history(client: TestClient, access_token: Token, world: World) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, (_today() + timedelta(days=3)).isoformat())],
               at=utc_now())
    person = world.facts(1, utc_now()).person_id

    account = client.get(f"/admin/v1/persons/{person}/account", headers=_auth(access_token("admin")))

    assert account.status_code == 200
    assert account.json()["status"] == "pending"
    assert [(h["status"], h["source"], h["changed_by"]) for h in account.json()["history"]] == [
        ("pending", "hr-file", "tests")]
