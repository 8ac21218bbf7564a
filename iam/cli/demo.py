"""``iam demo``: generate a small demo region, load it, register a demo client and serve."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from iam.authz.clinical_loader import load_clinical_events
from iam.cli.options import database_option, settings_from
from iam.cli.progress import ProgressBars
from iam.cli.serve import run_server
from iam.oauth.clients import register_client
from iam.oauth.scopes import SCOPES
from iam.region import generate
from iam.runtime import Runtime
from provisioning.region_loader import load_region

__all__ = ["demo"]

DEMO_DIR = Path("var/demo-region")
DEMO_CLIENT_FILE = Path("var/demo-client.json")
DEMO_LOADED_FILE = Path("var/demo-loaded.json")


def _example_pair() -> tuple[str, str]:
    """A (GP's HPR number, patient) pair with a GP-list relationship in the demo region."""
    with (DEMO_DIR / "care_relationships.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "gp_list" and row["practitioner_hpr"] and not row["end"]:
                return row["practitioner_hpr"], row["patient"]
    raise click.ClickException("the demo region has no GP list relationship")


def _walkthrough(base: str, client_id: str, client_secret: str) -> str:
    hpr, patient = _example_pair()
    example = json.dumps({
        "subject": {"type": "user", "id": f"hpr:{hpr}"}, "action": {"name": "read"},
        "resource": {"type": "patient_record", "id": patient, "properties": {"section": "notes"}},
        "context": {"purpose_of_use": "TREAT"}})
    return f"""
Demo region loaded. Call the API:

  # 1. get an access token (client credentials)
  TOKEN=$(curl -s -u '{client_id}:{client_secret}' -d grant_type=client_credentials \\
          {base}/oauth2/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  # 2. call a protected endpoint
  curl -s -H "Authorization: Bearer $TOKEN" {base}/admin/v1/clients

  # 3. may this GP read the notes of a patient on their list, for treatment? (AuthZEN; logged)
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       {base}/access/v1/evaluation -d '{example}'

  # 4. who looked at that patient's record? (the access log, newest first)
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/audit/v1/events?patient={patient}'

  # discovery, keys, health: open
  curl -s {base}/.well-known/openid-configuration
  curl -s {base}/oauth2/jwks
  curl -s {base}/readyz

API documentation: {base}/docs
The demo client's credentials are in {DEMO_CLIENT_FILE} (demo mode only; never do this in production).
"""


@click.command()
@click.option("--scale", type=click.FloatRange(0.001, 1.0), default=0.01, show_default=True,
              help="Size of the demo region relative to the reference region.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the region.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--serve/--no-serve", "serve_after", default=True, show_default=True,
              help="Start the service after loading.")
@database_option
def demo(scale: float, seed: int, host: str, port: int, serve_after: bool, database_url: str | None) -> None:
    """Generate and load a demo region, print how to call the API, then serve it.

    \b
    Example:
      iam demo --scale 0.01 --port 8000
    """
    settings = settings_from(database_url=database_url, host=host, port=port, demo=True,
                             issuer=f"http://{host}:{port}")
    with ProgressBars("generating demo region") as bars:
        summary = generate(DEMO_DIR, scale=scale, seed=seed, progress=bars.update)
    click.echo(f"generated {json.dumps(summary.as_dict())} in {DEMO_DIR}", err=True)
    runtime = Runtime.start(settings)
    try:
        _load_region(runtime)
        credentials = _demo_client(runtime)
    finally:
        runtime.close()
    click.echo(_walkthrough(settings.issuer_url, credentials["client_id"], credentials["client_secret"]))
    if serve_after:
        run_server(settings, workers=1)


def _load_region(runtime: Runtime) -> None:
    """Load staff, organisations, licences and clinical facts, once per demo database and region."""
    manifest = (DEMO_DIR / "manifest.json").read_text()
    marker = {"database_url": runtime.settings.database_url, "manifest": manifest}
    if DEMO_LOADED_FILE.exists() and json.loads(DEMO_LOADED_FILE.read_text()) == marker:
        click.echo("demo region already loaded into this database", err=True)
        return
    with ProgressBars("loading staff") as bars:
        staff = load_region(runtime, DEMO_DIR, progress=bars.update)
    click.echo(staff.summary(), err=True)
    with ProgressBars("loading clinical facts") as bars:
        clinical = load_clinical_events(runtime, DEMO_DIR, progress=bars.update)
    click.echo(f"loaded clinical facts: {json.dumps(clinical)}", err=True)
    DEMO_LOADED_FILE.write_text(json.dumps(marker))


def _demo_client(runtime: Runtime) -> dict[str, str]:
    """A client with every scope, created once per demo database and remembered in var/."""
    if DEMO_CLIENT_FILE.exists():
        saved: dict[str, str] = json.loads(DEMO_CLIENT_FILE.read_text())
        if saved.get("database_url") == runtime.settings.database_url:
            return saved
    with runtime.sessions.begin() as session:
        created = register_client(session, name="demo", scopes=sorted(SCOPES))
    assert created.client_secret is not None  # a secret-based client always gets one
    saved = {"client_id": created.client.client_id, "client_secret": created.client_secret,
             "database_url": runtime.settings.database_url}
    DEMO_CLIENT_FILE.parent.mkdir(parents=True, exist_ok=True)
    DEMO_CLIENT_FILE.write_text(json.dumps(saved, indent=2))
    DEMO_CLIENT_FILE.chmod(0o600)
    return saved
