"""``iam policy ...``: test, check, explain and publish the access policy.

* ``iam policy test [--dir DIR]`` runs the decision tables in ``DIR/tests`` with the compiled engine and
  with stock Casbin; exit 1 when a case fails.
* ``iam policy check [--dir DIR]`` compiles the policy and prints what it contains; exit 1 when it is bad.
* ``iam policy explain --user U --patient P --section S ...`` answers one request against the database,
  with the full reasoning (candidate units, roles, deny and allow lines, conditions). A what-if for
  administrators: it is not an access, so nothing is written to the access log.
* ``iam policy publish [--dir DIR]`` stores the policy in the database; every node reloads it within a
  second (change bus), without a restart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from iam.authz.catalogue import DEFAULT_POLICY_DIR, PolicyError
from iam.authz.decision_tables import run_tables
from iam.authz.policy import load_policy
from iam.cli.options import database_option, settings_from

__all__ = ["policy"]

_DIR = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
                    help="Policy folder (default: IAM_POLICY_DIR, else the packaged policies/).")


def _directory(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    return settings_from().policy_dir or DEFAULT_POLICY_DIR


@click.group()
def policy() -> None:
    """Test, check, explain and publish the access policy (Casbin files under policies/)."""


@policy.command("test")
@_DIR
@click.option("--casbin/--no-casbin", "with_casbin", default=True, show_default=True,
              help="Also decide every case with stock Casbin and require the same answer.")
@click.option("-v", "--verbose", is_flag=True, help="List every case, not only failures.")
def test_command(directory: Path | None, with_casbin: bool, verbose: bool) -> None:
    """Run the decision tables in DIR/tests/*.yaml.

    \b
    Example:
      iam policy test
      iam policy test --dir ./my-policies -v
    """
    folder = _directory(directory)
    try:
        compiled = load_policy(folder)
        tables = sorted((folder / "tests").glob("*.yaml"))
        if not tables:
            raise PolicyError(f"{folder / 'tests'}: no decision tables (*.yaml) found")
        results = run_tables(compiled, tables, with_casbin=with_casbin)
    except PolicyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    failed = [r for r in results if not r.passed]
    for result in results:
        if verbose or not result.passed:
            mark = "ok  " if result.passed else "FAIL"
            outcome = "permit" if result.decision else "deny"
            click.echo(f"{mark} {result.table}: {result.name} -> {outcome} ({result.reason}, {result.rule})")
            for problem in result.problems:
                click.echo(f"       {problem}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


@policy.command("check")
@_DIR
def check_command(directory: Path | None) -> None:
    """Compile the policy and print its version and contents.

    \b
    Example:
      iam policy check --dir ./policies
    """
    try:
        compiled = load_policy(_directory(directory))
    except PolicyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    catalogue = compiled.catalogue
    click.echo(json.dumps({"version": compiled.version, "lines": len(compiled.lines),
                           "index_entries": len(compiled.allow), "purposes": list(catalogue.purposes),
                           "sections": list(catalogue.sections), "actions": list(catalogue.actions),
                           "roles": list(catalogue.roles)}, indent=2))


@policy.command("explain")
@click.option("--user", required=True, help="Person id, hpr:<HPR number> or pid:<national id>.")
@click.option("--patient", required=True, help="The patient's national id.")
@click.option("--section", required=True, help="Record section, e.g. notes.")
@click.option("--action", default="read", show_default=True)
@click.option("--purpose", default="TREAT", show_default=True, help="Purpose of use code.")
@click.option("--unit", default=None, help="The unit the user acts for (organisation number).")
@click.option("--item", default=None, help="A record item id (for locks).")
@click.option("--owner", default=None, help="Legal entity holding the data (for objections to sharing).")
@click.option("--stock", is_flag=True, help="Also ask stock Casbin and show the policy line it matched.")
@database_option
def explain_command(user: str, patient: str, section: str, action: str, purpose: str, unit: str | None,
                    item: str | None, owner: str | None, stock: bool, database_url: str | None) -> None:
    """Answer one request with the full reasoning (not logged: a what-if, not an access).

    \b
    Example:
      iam policy explain --user hpr:1234567 --patient 01017012345 --section notes --purpose TREAT
    """
    from iam.authz.authzen import Entity, patient_id, subject_ref
    from iam.authz.model import DecisionRequest
    from iam.authz.trace import trace
    from iam.runtime import Runtime

    ref = subject_ref(Entity(type="user", id=user), field="--user")
    patient = patient_id(patient, field="--patient")  # as the API checks it
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        request = DecisionRequest(subject=ref, patient=patient, section=section, action=action, purpose=purpose,
                                  acting_unit=unit, item=item, data_owner=owner)
        click.echo(json.dumps(trace(runtime.authz.engine, request, with_casbin=stock), indent=2,
                              ensure_ascii=False, default=str))
    finally:
        runtime.close()


@policy.command("publish")
@_DIR
@click.option("--comment", default="", help="Why the policy changes (kept with the version).")
@database_option
def publish_command(directory: Path | None, comment: str, database_url: str | None) -> None:
    """Publish the policy in DIR to every node sharing the database (reload without restart).

    \b
    Example:
      iam policy publish --comment "psychologists may write care plans"
    """
    import getpass

    from iam.authz.publication import publish_policy, read_policy_files
    from iam.runtime import Runtime

    folder = _directory(directory)
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        with runtime.sessions.begin() as session:
            version_id, compiled = publish_policy(session, runtime.bus, files=read_policy_files(folder),
                                                  by=f"cli:{getpass.getuser()}", comment=comment)
    except PolicyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        runtime.close()
    click.echo(json.dumps({"version_id": version_id, "version": compiled.version, "lines": len(compiled.lines)}))
