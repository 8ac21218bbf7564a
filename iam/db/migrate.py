"""Schema migrations (Alembic), applied by ``iam db upgrade`` and at start-up.

Each product area keeps its own chain of revisions (a branch label per area) so that areas can add
tables independently; ``upgrade`` applies every head. Migration modules live in:
``iam/db/migrations/versions``, ``provisioning/migrations`` and ``audit/migrations``.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from iam.db.engine import check_database

__all__ = ["alembic_config", "upgrade"]

_ROOT = Path(__file__).resolve().parents[2]
VERSION_LOCATIONS = [
    _ROOT / "iam" / "db" / "migrations" / "versions",
    _ROOT / "provisioning" / "migrations",
    _ROOT / "audit" / "migrations",
]


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    locations = [str(path) for path in VERSION_LOCATIONS if path.is_dir()]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(locations))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision of every area; raise DatabaseError if unreachable."""
    check_database(engine)
    command.upgrade(alembic_config(engine), "heads")
