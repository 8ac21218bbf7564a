"""Publishing a policy to every node: the database keeps every published version, the change bus says
"policy" when a new one is in force, and each node reloads it without a restart.

A node compiles the published files into a private folder and swaps the compiled policy in only when it
compiled cleanly (pycasbin's "load into a copy, swap on success"); a bad version is logged and the node
keeps deciding with the policy it had. With nothing published, nodes use the files of ``policy_dir``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from audit.admin import record_admin_event
from audit.events import AdminEvent
from iam.authz import store
from iam.authz.catalogue import PolicyError
from iam.authz.channels import POLICY_CHANNEL
from iam.authz.policy import CompiledPolicy, load_policy
from iam.notify import ChangeBus

__all__ = ["compile_files", "publish_policy", "published_policy", "read_policy_files"]

_log = logging.getLogger("iam.authz")
_SUFFIXES = (".conf", ".csv", ".yaml")


def read_policy_files(directory: Path) -> dict[str, str]:
    """The policy files of ``directory`` (model, policy and vocabulary; not the tests), by name."""
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.iterdir())
             if path.is_file() and path.suffix in _SUFFIXES}
    if "model.conf" not in files or "policy.csv" not in files:
        raise PolicyError(f"{directory}: no model.conf and policy.csv here")
    return files


def compile_files(files: dict[str, str]) -> CompiledPolicy:
    """Write ``files`` to a private folder of their own and compile them; raise PolicyError if they fail.

    The folder stays for the life of the process: the stock Casbin enforcer (explain) reads from it.
    """
    for name in files:
        if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(_SUFFIXES):
            raise PolicyError(f"policy file name {name!r} is not allowed")
    digest = hashlib.sha256("".join(f"{k}\0{v}\0" for k, v in sorted(files.items())).encode()).hexdigest()[:12]
    folder = Path(tempfile.mkdtemp(prefix=f"iam-policy-{digest}-"))
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return load_policy(folder)


def publish_policy(session: Session, bus: ChangeBus, *, files: dict[str, str], by: str, comment: str = "",
                   client_id: str | None = None) -> tuple[int, CompiledPolicy]:
    """Check ``files`` compile, store them as the newest version, log an admin event and announce it on the
    change bus, all in the caller's transaction (nodes reload once it commits). Raise PolicyError."""
    compiled = compile_files(files)
    at = datetime.now(UTC)
    version_id = store.insert_policy_version(session, version=compiled.version, files=files, by=by,
                                             comment=comment, at=at)
    record_admin_event(session, AdminEvent(
        actor=by, action="policy.publish", target_type="policy", target_id=compiled.version,
        details={"version_id": version_id, "files": sorted(files), "comment": comment, "lines": len(compiled.lines)},
        client_id=client_id))
    bus.publish(session, POLICY_CHANNEL, str(version_id))
    return version_id, compiled


def published_policy(session: Session) -> tuple[int, CompiledPolicy] | None:
    """The newest published version, compiled; None when nothing was published."""
    latest = store.latest_policy_version(session)
    if latest is None:
        return None
    version_id, _, files = latest
    return version_id, compile_files(files)
