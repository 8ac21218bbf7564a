"""Fixtures of the access-log tests: complete events, tokens, and a tampering attacker with database access."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session

from audit.ddl import APPEND_ONLY_TABLES, create_triggers
from audit.events import AccessEvent
from audit.log import AccessLog
from audit.query import SearchFilters, events_page
from iam.db import make_engine
from iam.runtime import Runtime

PATIENT = "01017012345"
OTHER_PATIENT = "02027012345"
BASE_TIME = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def full_event(**overrides: Any) -> AccessEvent:
    """An access event with every field of domain.md rule 6 filled in."""
    values: dict[str, Any] = {
        "occurred_at": BASE_TIME,
        "action": "read",
        "outcome": "permit",
        "user_id": "person-17",
        "user_national_id": "13057512345",
        "user_hpr_number": "1234567",
        "user_name": "Kari Nordmann",
        "role": "LE",
        "legal_entity": "983974899",
        "point_of_care": "974749025",
        "department": "dept-cardio",
        "patient": PATIENT,
        "data_item": "notes",
        "purpose_of_use": "TREAT",
        "decision_id": "dec-1",
        "policy_rule": "treat.care_relationship",
        "emergency": False,
        "self_granted": False,
        "reason_text": "innlagt på avdelingen\nsamtale med pårørende",
        "client_id": "journal",
        "token_jti": "jti-abc",
        "source_address": "10.1.2.3",
        "request_id": "req-1",
        "proxy_for": None,
    }
    values.update(overrides)
    return AccessEvent.model_validate(values)


def record_series(runtime: Runtime, count: int, **overrides: Any) -> list[str]:
    """Record ``count`` events one minute apart (in one unit) and return their ids."""
    events = [full_event(occurred_at=BASE_TIME + timedelta(minutes=i), request_id=f"req-{i}", **overrides)
              for i in range(count)]
    return runtime.audit.record_many(events)


def page_seqs(engine: Engine, filters: SearchFilters, *, limit: int, cursor: str | None = None) -> list[int]:
    """The seq of every matching event from ``cursor`` on (the first page without one), page by page."""
    found: list[int] = []
    with Session(engine) as session:
        while True:
            page = events_page(session, filters, limit=limit, cursor=cursor)
            found += [event.seq for event in page.events]
            cursor = page.next_cursor
            if cursor is None:
                return found


@pytest.fixture
def log(database_url: str) -> Iterator[AccessLog]:
    """A log whose indexer never runs by itself (``index_interval=0``): tests call ``catch_up`` when they mean to."""
    engine = make_engine(database_url)
    access_log = AccessLog(engine, index_interval=0)
    access_log.start()
    yield access_log
    access_log.close()
    engine.dispose()


@contextmanager
def _attacker_connection(url: str) -> Iterator[Connection]:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # A superuser can switch triggers off for the session: exactly the attacker we defend against.
                connection.execute(text("SET LOCAL session_replication_role = replica"))
                yield connection
            else:
                for table in APPEND_ONLY_TABLES:
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
                yield connection
                create_triggers(connection)
    finally:
        engine.dispose()


@pytest.fixture
def tamper(database_url: str) -> Callable[..., None]:
    """Run SQL as an attacker who has switched off the append-only triggers."""

    def run(*statements: str, **params: Any) -> None:
        with _attacker_connection(database_url) as connection:
            for statement in statements:
                connection.execute(text(statement), params)

    return run


@pytest.fixture
def bearer(access_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def make(*scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token(*scopes)}"}

    return make


@pytest.fixture
def patient_headers(runtime: Runtime, oauth_client: Callable[..., tuple[str, str]]) -> Callable[..., dict[str, str]]:
    """Headers with a patient-scoped token of the portal client whose subject is the given national id."""
    portal, _ = oauth_client("patient", name="patient portal")

    def make(national_id: str, **extra: Any) -> dict[str, str]:
        issued = runtime.tokens.issue(subject=national_id, client_id=portal, scopes=["patient"],
                                      extra_claims=extra or None)
        return {"Authorization": f"Bearer {issued['access_token']}"}

    return make


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return client
