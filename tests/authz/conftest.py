"""Fixtures of the decision-engine tests: a provisioned world, tokens, and small request helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from iam.runtime import Runtime
from tests.authz.world import World, build_world, national_id


@pytest.fixture
def world(runtime: Runtime, tmp_path: Path) -> World:
    return build_world(runtime, tmp_path)


@pytest.fixture
def authz_headers(access_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token('authz')}"}


@pytest.fixture
def emergency_headers(access_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token('emergency')}"}


PATIENT = national_id(500)
OTHER_PATIENT = national_id(501)


def evaluation(user: str, *, patient: str = PATIENT, section: str = "notes", action: str = "read",
               purpose: str = "TREAT", **properties: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"purpose_of_use": purpose}
    if "unit" in properties:
        context["practitioner"] = {"department": {"id": properties.pop("unit")}}
    return {"subject": {"type": "user", "id": user}, "action": {"name": action},
            "resource": {"type": "patient_record", "id": patient, "properties": {"section": section, **properties}},
            "context": context}


def relate(client: TestClient, headers: dict[str, str], *, patient: str = PATIENT, kind: str = "admission",
           **target: Any) -> dict[str, Any]:
    response = client.post("/authz/v1/care-relationships", headers=headers,
                           json={"patient": patient, "kind": kind, **target})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``check`` comes true within ``timeout`` seconds (a change notice travels asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def logged(runtime: Runtime, *, patient: str, kind: str = "access") -> list[Any]:
    """The access-log events about ``patient``, oldest first."""
    from audit.query import SearchFilters, events_page

    with runtime.sessions() as session:
        page = events_page(session, SearchFilters(patient=patient, kind=kind), limit=1000)
    return list(reversed(page.events))
