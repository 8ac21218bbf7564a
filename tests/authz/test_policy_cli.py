"""``iam policy test | check | explain | publish`` as an operator runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from iam.authz.catalogue import DEFAULT_POLICY_DIR
from iam.authz.policy import load_policy
from iam.cli import cli
from iam.runtime import Runtime
from tests.authz.conftest import PATIENT, relate
from tests.authz.world import World
from tests.cli_helpers import run_iam
from tests.conftest import TEST_SECRET_KEY


def _iam(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``iam`` in this process (the subprocess path is covered by the first test)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_policy_test_runs_the_decision_tables(tmp_path: Path) -> None:
    result = run_iam("policy", "test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(" passed, 0 failed")
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    table = (folder / "tests" / "core_rules.yaml").read_text()
    (folder / "tests" / "core_rules.yaml").write_text(table.replace(
        "expect: {decision: permit, reason: care_relationship, rule: treat-physician, obligations: []}",
        "expect: {decision: deny, reason: care_relationship, rule: treat-physician, obligations: []}", 1))
    failed = _iam("policy", "test", "--dir", str(folder))
    assert failed.exit_code == 1
    assert ("FAIL core_rules.yaml: physician with the patient admitted to their ward reads notes -> permit "
            "(care_relationship, treat-physician)") in failed.stdout
    assert "       decision: expected 'deny', got 'permit'" in failed.stdout
    assert failed.stdout.splitlines()[-1].endswith(" passed, 1 failed")


def test_policy_check_refuses_a_bad_policy_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    with (folder / "policy.csv").open("a") as handle:
        handle.write("p, nurse, notes, read, TREAT, care_relationship, allow\n")
    result = _iam("policy", "check", "--dir", str(folder))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: policy.csv line ")
    assert result.stderr.strip().endswith("found 6")
    assert json.loads(_iam("policy", "check").stdout)["purposes"] == ["TREAT", "ETREAT", "COC", "BTG"]


def test_policy_explain_gives_the_full_reasoning(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str], database_url: str) -> None:
    relate(client, authz_headers, unit_id=world.units.ward, id="CR-EXPLAIN")
    dr = world["dr_ward"]
    result = _iam("policy", "explain", "--user", f"hpr:{dr.hpr_number}", "--patient", PATIENT, "--section",
                  "notes", "--stock", "--database-url", database_url,
                  env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "IAM_MIGRATE_ON_START": "false"})
    assert result.exit_code == 0, result.stderr
    trace = json.loads(result.stdout)
    assert trace["explanation"]["decision"] == "permit"
    assert trace["explanation"]["facts"]["care_relationship"]["id"] == "CR-EXPLAIN"
    assert trace["subject"]["roles"] == [{"role": "physician", "unit": world.units.ward,
                                          "unit_name": "Medisinsk sengepost", "licence_ok": True}]
    [candidate] = trace["candidates"]
    allow = [line for line in candidate["lines"] if line["effect"] == "allow"]
    assert [(line["rule"], line["holds"]) for line in allow] == [("treat-physician", True)]
    assert {line["condition"]: line["holds"] for line in candidate["lines"] if line["effect"] == "deny"} == {
        "account_inactive": False, "named_block": False, "unit_restricted": False, "item_locked": False,
        "sharing_objection": False}
    assert candidate["casbin"] == {"decision": "permit", "matched_line": [
        "physician", "notes", "*", "TREAT", "care_relationship", "allow", "treat-physician"]}
    bad = _iam("policy", "explain", "--user", f"hpr:{dr.hpr_number}", "--patient", "123", "--section", "notes",
               "--database-url", database_url, env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "IAM_MIGRATE_ON_START": "false"})
    assert (bad.exit_code, bad.stderr) == (1, "error: --patient is not a patient's national id: not 11 digits\n")


def test_policy_publish_puts_the_policy_in_force(runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    with (folder / "policy.csv").open("a") as handle:
        handle.write("p, physiotherapist, lab_results, read, TREAT, care_relationship, allow, physio-labs\n")
    result = _iam("policy", "publish", "--dir", str(folder), "--comment", "physios read labs", "--database-url",
                  database_url, env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "IAM_MIGRATE_ON_START": "false"})
    assert result.exit_code == 0, result.stderr
    published = json.loads(result.stdout)
    assert published["lines"] == len(load_policy().lines) + 1
    assert runtime.authz.reload().version == published["version"]
