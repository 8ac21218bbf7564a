"""The bulk subject load (start-up and every ``authz_subject_ttl``) gives each person exactly what a look-up
of that one person gives: identifiers, name, account state, roles in force and care teams."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from iam.app import create_app
from iam.authz.model import SubjectRef
from iam.authz.pip import ProvisioningIdentity
from iam.config import Settings
from iam.runtime import Runtime
from provisioning.models import PersonRow
from tests.authz.world import World, suspend


def test_bulk_loaded_subjects_are_the_subjects_one_look_up_gives(runtime: Runtime, world: World) -> None:
    suspend(runtime, world["secretary"])
    identity = ProvisioningIdentity(runtime.sessions)
    at = datetime.now(UTC)
    bulk = {subject.person_id: subject for subject in identity.all_subjects(at=at)}
    one_by_one = {person.person_id: identity.subject(SubjectRef("person", person.person_id), at=at)
                  for person in world.people.values()}
    assert {person_id: bulk[person_id] for person_id in one_by_one} == one_by_one
    assert bulk[world["secretary"].person_id].account_status == "suspended"


# PostgreSQL, where a table lock can hold the bulk load back: SQLite in WAL mode never blocks a reader.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_starting_server_serves_only_once_every_user_is_loaded(settings: Settings, runtime: Runtime,
                                                                 world: World) -> None:
    app = create_app(settings)  # its own runtime, started by its lifespan, after the world exists
    client = TestClient(app)
    with runtime.engine.connect() as blocker:
        blocker.execute(text(f"LOCK TABLE {PersonRow.__tablename__} IN ACCESS EXCLUSIVE MODE"))
        starting = threading.Thread(target=client.__enter__)
        starting.start()
        starting.join(timeout=1.5)
        assert starting.is_alive(), "the server started serving before its bulk load of users"
        blocker.rollback()  # the load goes on
    starting.join(timeout=30)
    assert not starting.is_alive()
    try:
        pip = app.state.runtime.authz.pip
        assert all(pip.subject_cached(SubjectRef("person", person.person_id)) for person in world.people.values())
        assert client.get("/readyz").status_code == 200
    finally:
        client.__exit__(None, None, None)
