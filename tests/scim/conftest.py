"""SCIM test fixtures: a small synthetic region loaded into the test database, and an authorised client.

The organisation register and the HPR extract are loaded through the provisioning engine's own readers,
so units and licences are exactly what the HR file feed would see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from iam.db.base import utc_now
from iam.region import generate
from iam.runtime import Runtime
from provisioning.hpr import FileLicenceRegister, sync_licences
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEALTH = "urn:ietf:params:scim:schemas:extension:nhn:2.0:HealthStaff"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("region")
    generate(out, scale=0.01, seed=5)
    return out


@pytest.fixture(scope="session")
def staff(region: Path) -> list[dict[str, Any]]:
    """People of the region's HR feed (hr_staff.json ``persons``)."""
    persons: list[dict[str, Any]] = json.loads((region / "hr_staff.json").read_text())["persons"]
    return persons


@pytest.fixture
def registers(runtime: Runtime, region: Path) -> None:
    """The organisation register and the HPR extract in the test database."""
    with runtime.sessions.begin() as session:
        apply_organisations(session, plan_organisations(session, read_organisations(region / "organisations.csv")),
                            actor="test")
        sync_licences(session, FileLicenceRegister(region / "hpr.csv").all(), source="test-hpr", at=utc_now())


@dataclass
class Scim:
    """A TestClient speaking SCIM with a bearer token of the ``scim`` scope."""

    client: TestClient
    token: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json", **(extra or {})}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(f"/scim/v2{path}", headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.client.post(f"/scim/v2{path}", content=json.dumps(body),
                                headers=self.headers(kw.pop("headers", None)), **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.client.put(f"/scim/v2{path}", content=json.dumps(body),
                               headers=self.headers(kw.pop("headers", None)), **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Any:
        return self.client.patch(f"/scim/v2{path}", content=json.dumps(body),
                                 headers=self.headers(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(f"/scim/v2{path}", headers=self.headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def scim(client: TestClient, access_token: Callable[..., str], registers: None) -> Scim:
    return Scim(client=client, token=access_token("scim"))


def user_body(person: dict[str, Any], *, user_name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A SCIM User for one person of the HR feed, with every employment."""
    health: dict[str, Any] = {"nationalIdentityNumber": person["national_id"], "employments": [
        {"legalEntity": job["legal_entity"], "pointOfCare": job["point_of_care"], "department": job["department"],
         "positionCode": job["position_code"], "startDate": job["start_date"],
         **({"endDate": job["end_date"]} if job["end_date"] else {})}
        for job in person["employments"]]}
    if person["hpr_number"]:
        health["hprNumber"] = person["hpr_number"]
    body: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE, HEALTH],
        "userName": user_name or person["employee_id"].lower(),
        "name": {"givenName": person["given_name"], "familyName": person["family_name"]},
        ENTERPRISE: {"employeeNumber": person["employee_id"]},
        HEALTH: health,
    }
    body.update(extra)
    return body


def pick(staff: list[dict[str, Any]], position: str, *, index: int = 0) -> dict[str, Any]:
    """The index-th person whose only employment is current, open-ended and in ``position``."""
    found = [p for p in staff if p["hpr_number"] and len(p["employments"]) == 1
             and p["employments"][0]["position_code"] == position and p["employments"][0]["end_date"] is None
             and p["employments"][0]["start_date"] < "2026-01-01"]
    return found[index]


def fixture(name: str, ids: dict[str, str] | None = None) -> Any:
    """An RFC example from ``fixtures/``, with the RFC's resource ids replaced by ours."""
    text = (FIXTURES / name).read_text()
    for theirs, ours in (ids or {}).items():
        text = text.replace(theirs, ours)
    return json.loads(text)
