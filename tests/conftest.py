"""Shared fixtures: a freshly migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL is required (127.0.0.1:5432, trust auth, database ``test``): an unreachable server fails the
run. ``IAM_TEST_DATABASES=sqlite`` narrows a local run to SQLite on purpose; CI never sets it.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from iam.app import create_app
from iam.config import Settings
from iam.db import make_engine, upgrade
from iam.oauth.clients import register_client
from iam.runtime import Runtime

PG_ADMIN_URL = os.environ.get("IAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASES = [name.strip() for name in os.environ.get("IAM_TEST_DATABASES", "sqlite,postgresql").split(",")]
if os.environ.get("CI") == "true" and "postgresql" not in DATABASES:
    raise pytest.UsageError("CI must test on PostgreSQL too: unset IAM_TEST_DATABASES")

TEST_SECRET_KEY = "test-secret-key-" + "k" * 32
ISSUER = "http://testserver"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "iam.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own for this test process, migrated once, dropped at the end."""
    name = f"iam_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    for engine in _EMPTYING_ENGINES.values():
        engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_EMPTYING_ENGINES: dict[str, Engine] = {}


def _empty_all_tables(url: str) -> None:
    """Empty every table and restart every sequence, as a fresh migration would leave them.

    DELETE with triggers switched off (session_replication_role = replica: our append-only triggers and
    foreign keys do not fire) costs milliseconds on the small tables of a test; TRUNCATE of every table
    cost about a second per test, because it rewrites each table's files.
    """
    engine = _EMPTYING_ENGINES.get(url) or _EMPTYING_ENGINES.setdefault(url, create_engine(url, poolclass=NullPool))
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        tables = connection.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND c.relname <> 'alembic_version'"
        )).scalars().all()
        for table in tables:
            connection.execute(text(f'DELETE FROM "{table}"'))  # noqa: S608 - names from pg_class
        sequences = connection.execute(text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars().all()
        for sequence in sequences:
            connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or the PostgreSQL one truncated."""
    if request.param == "sqlite":
        target = tmp_path / "iam.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_all_tables(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, secret_key=TEST_SECRET_KEY, issuer=ISSUER,  # type: ignore[arg-type]
                    migrate_on_start=False, secret_key_file=tmp_path / "unused.key")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    started = Runtime.start(settings)
    yield started
    started.close()


@pytest.fixture
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as test_client:
        yield test_client


@pytest.fixture
def oauth_client(runtime: Runtime) -> Callable[..., tuple[str, str]]:
    """Register a client with the given scopes; returns (client_id, client_secret)."""

    def make(*scopes: str, name: str = "test client") -> tuple[str, str]:
        with runtime.sessions.begin() as session:
            created = register_client(session, name=name, scopes=list(scopes))
        return created.client.client_id, created.client_secret

    return make


@pytest.fixture
def access_token(client: TestClient, oauth_client: Callable[..., tuple[str, str]]) -> Callable[..., str]:
    """A real token from the token endpoint for a new client with the given scopes."""

    def make(*scopes: str) -> str:
        client_id, secret = oauth_client(*scopes)
        response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                               auth=(client_id, secret))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    return make
