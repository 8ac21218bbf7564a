"""SCIM Users (RFC 7644 §3.3-§3.6) through the provisioning engine, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.scim.conftest import ENTERPRISE, ERROR, HEALTH, PATCH, USER, Scim, pick, user_body


def test_create_returns_201_location_etag_and_birthright_roles(scim: Scim, staff: list[dict[str, Any]]) -> None:
    nurse = pick(staff, "nurse")
    response = scim.post("/Users", user_body(nurse))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"http://testserver/scim/v2/Users/{created['id']}"
    assert response.headers["etag"] == created["meta"]["version"]
    assert response.headers["content-type"] == "application/scim+json"
    assert created["active"] is True
    assert created[HEALTH]["roles"] == [{"value": "nurse", "scope": nurse["employments"][0]["department"]}]
