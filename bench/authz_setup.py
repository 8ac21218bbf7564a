"""Shared set-up of the decision-engine benchmarks: a generated region loaded into a database, and a
realistic request mix drawn from it.

A region of scale S is generated once into ``WORKDIR/region-S`` and loaded once (identity model through
provisioning's region loader, clinical events through the decision engine's loader) into
``WORKDIR/authz-S.db`` (SQLite) or the PostgreSQL URL given. Requests: a working set of patients with an
active care relationship (the patients "in care today"); per request a person holding a role at or above
that unit (80 %, mostly permits) or any other person (20 %, denials), a clinical section, read (90 %) or
write, purpose TREAT (90 %) or COC.
"""

from __future__ import annotations

import fcntl
import hashlib
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from iam.authz.clinical_loader import load_clinical_events
from iam.authz.model import DecisionRequest, SubjectRef
from iam.authz.models import CareRelationshipRow
from iam.config import Settings
from iam.region import generate
from iam.runtime import Runtime
from provisioning.region_loader import load_region

__all__ = ["SECTIONS", "load", "requests", "settings_for"]

SECTIONS = ("notes", "medication", "lab_results", "administrative", "critical_info", "care_plan")


def settings_for(workdir: Path, scale: float, database_url: str | None) -> Settings:
    url = database_url or f"sqlite:///{workdir / f'authz-{scale:g}.db'}"
    return Settings(database_url=url, secret_key="bench-secret-key-" + "b" * 32,
                    secret_key_file=workdir / "unused.key", audit_checkpoint_interval=0)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(workdir: Path, scale: float, database_url: str | None) -> Settings:
    """Generate and load the region once; return settings pointing at the loaded database.

    A second benchmark started meanwhile waits on the lock file instead of loading the same rows again (which
    failed on duplicate ids). The path is resolved, so a relative and an absolute workdir name one load."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "load.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _load_locked(workdir, scale, database_url)


def _load_locked(workdir: Path, scale: float, database_url: str | None) -> Settings:
    region = workdir / f"region-{scale:g}"
    if not (region / "manifest.json").exists():
        started = time.perf_counter()
        generate(region, scale=scale, seed=1)
        _say(f"generated region at scale {scale:g} in {time.perf_counter() - started:.1f} s")
    settings = settings_for(workdir, scale, database_url)
    marker = workdir / f"loaded-{scale:g}-{hashlib.sha256(settings.database_url.encode()).hexdigest()[:8]}"
    if not marker.exists():
        runtime = Runtime.start(settings)
        try:
            started = time.perf_counter()
            load_region(runtime, region)
            _say(f"loaded staff in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            counts = load_clinical_events(runtime, region)
            _say(f"loaded clinical events {counts} in {time.perf_counter() - started:.1f} s")
        finally:
            runtime.close()
        marker.write_text("ok\n")
    return settings


def requests(runtime: Runtime, *, count: int, working_set: int,
             seed: int = 7) -> tuple[list[DecisionRequest], list[str]]:
    """``count`` requests over ``working_set`` patients in care now; also returns those patients."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    org = runtime.authz.pip.org
    people_at: dict[str, list[str]] = defaultdict(list)
    everyone: list[str] = []
    from provisioning.subjects import all_role_assignments

    with runtime.sessions() as session:
        for person_id, assignment in all_role_assignments(session, at=now):
            people_at[assignment.unit_id].append(str(person_id))
            everyone.append(str(person_id))
        r = CareRelationshipRow
        rows = session.execute(
            select(r.patient, r.unit_id).where(r.ended_at.is_(None), r.valid_from <= now,
                                               (r.valid_to.is_(None)) | (r.valid_to > now), r.unit_id.is_not(None))
            .order_by(r.id)).all()
    units_of: dict[str, list[str]] = defaultdict(list)
    for patient, unit in rows:
        if unit is not None:
            units_of[patient].append(unit)
    patients = sorted(units_of)
    rng.shuffle(patients)
    patients = patients[:working_set]
    result = []
    for _ in range(count):
        patient = rng.choice(patients)
        unit = rng.choice(units_of[patient])
        staff = [p for scope in org.chain(unit) for p in people_at.get(scope, ())]
        person = rng.choice(staff) if staff and rng.random() < 0.8 else rng.choice(everyone)
        result.append(DecisionRequest(
            subject=SubjectRef("person", person), patient=patient, section=rng.choice(SECTIONS),
            action="read" if rng.random() < 0.9 else "write", purpose="TREAT" if rng.random() < 0.9 else "COC"))
    return result, patients
