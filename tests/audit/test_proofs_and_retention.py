"""Inclusion proofs a third party can check, and retention that keeps the rest of the log verifiable."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from audit.chain import split_leaf
from audit.proofs import check_proof
from audit.retention import apply_retention
from audit.verify import verify_log
from iam.db.base import utc_now
from iam.runtime import Runtime
from tests.audit.conftest import record_series
from tests.cli_helpers import run_iam

Bearer = Callable[..., dict[str, str]]


def test_proof_over_hundreds_of_events_checks_out(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    ids = record_series(runtime, 700)
    assert runtime.audit.checkpointer is not None
    runtime.audit.checkpointer.create()
    record_series(runtime, 3)
    headers = bearer("audit:read")
    for event_id in (ids[0], ids[300], ids[-1]):
        document = api.get(f"/audit/v1/events/{event_id}/proof", headers=headers).json()
        check_proof(document, jwk=api.get("/oauth2/jwks").json()["keys"][0])
        assert (document["tree_size"], split_leaf(base64.b64decode(document["leaf_data"]))["event_id"]) == (
            700, event_id)


def test_doctored_proof_is_rejected(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    [event_id] = record_series(runtime, 1)
    document = api.get(f"/audit/v1/events/{event_id}/proof", headers=bearer("audit:read")).json()
    leaf = base64.b64decode(document["leaf_data"]).replace(b"01017012345", b"99999999999")
    document |= {"leaf_data": base64.b64encode(leaf).decode()}
    document.pop("leaf_hash")
    with pytest.raises(ValueError, match="the inclusion path does not lead from the leaf to the signed root"):
        check_proof(document)


def test_cli_prove_and_verify(runtime: Runtime, database_url: str, tamper: Callable[..., None]) -> None:
    ids = record_series(runtime, 30)
    runtime.close()
    env = {"IAM_DATABASE_URL": database_url, "IAM_MIGRATE_ON_START": "false",
           "IAM_SECRET_KEY": "test-secret-key-" + "k" * 32}
    proved = run_iam("audit", "prove", ids[12], env=env)
    intact = run_iam("audit", "verify", env=env)
    tamper("UPDATE audit_events SET user_name = 'Noen Andre' WHERE seq = 13")
    broken = run_iam("audit", "verify", env=env)
    check_proof(json.loads(proved.stdout))
    assert (proved.returncode, intact.returncode, broken.returncode) == (0, 0, 1)
    assert intact.stdout.splitlines()[-1] == "OK: the hash chain and every checkpoint verify"
    assert broken.stdout.splitlines()[-2:] == [
        "TAMPERED: 1 problem(s); the first:",
        "  [altered] event seq 13 was altered: its content no longer matches its hash"]


def test_retention_deletes_old_events_and_the_rest_still_verifies(runtime: Runtime, database_url: str,
                                                                  tamper: Callable[..., None]) -> None:
    old = record_series(runtime, 600)
    engine = runtime.engine
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    cut_time = utc_now() + timedelta(milliseconds=1)
    young = record_series(runtime, 10, department="dept-young")
    result = apply_retention(runtime.audit, runtime.keys, before=cut_time, actor="test")
    assert result is not None
    runtime.audit.flush()
    runtime.audit.checkpointer.create()  # type: ignore[union-attr]
    report = verify_log(engine)
    assert (result.cut_seq, result.deleted, report.ok, report.first_seq, report.retention_cut) == (
        512, 512, True, 513, 512)
    with runtime.sessions() as session:
        from audit.proofs import build_proof

        check_proof(build_proof(session, runtime.audit.checkpointer, young[-1]))  # type: ignore[arg-type]
        check_proof(build_proof(session, runtime.audit.checkpointer, old[-1]))  # type: ignore[arg-type]
    tamper("DELETE FROM audit_events WHERE seq = 513")
    assert verify_log(engine).problems[0].message == "events are missing: seq 513 (deleted)"
