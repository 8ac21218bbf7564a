"""Import an HR feed file: read, plan, report, and (unless it is a dry run) apply in one transaction.

Contract of :func:`import_hr_file`
----------------------------------
* A file that cannot be read as a whole raises :class:`~provisioning.hrfile.FeedFileError`.
* Every bad row is reported with file, line, field and reason (parser problems and planner problems alike,
  sorted by line). By default any bad row means nothing is applied: :class:`InvalidFeed` is raised with all
  of them. With ``skip_invalid`` the good records are applied and every row of a rejected person is copied
  to ``rejects`` (same format, plus the reasons), written before anything is committed.
* With ``dry_run`` the plan is built (inside a transaction that is rolled back) and returned unapplied.
* A snapshot that would make more people leavers than ``max_leavers`` (default: 10 % of the active and pending
  accounts, at least 10) is refused with :class:`TooManyLeavers`: an empty or truncated HR export must not
  disable the region's staff. Pass a higher ``max_leavers`` when a mass leave is real.
* The whole apply is one transaction: a failure (or a crash) at any point leaves the previous state.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from iam.errors import APIError
from iam.notify import ChangeBus
from provisioning.apply import ApplyResult, apply_plan
from provisioning.feed import Problem
from provisioning.hrfile import FeedFile, read_feed, write_rejects
from provisioning.models import AccountRow
from provisioning.plan import Plan
from provisioning.planner import build_plan
from provisioning.rules import RoleRules

__all__ = ["ImportReport", "InvalidFeed", "TooManyLeavers", "import_hr_file", "plan_feed"]

Progress = Callable[[str, int, int], None]


class InvalidFeed(APIError):
    """Rows of the feed are bad and nothing was applied; ``problems`` lists every one."""

    status = 422
    code = "invalid_feed"

    def __init__(self, source: str, problems: list[Problem]) -> None:
        rows = len({(p.origin.source, p.origin.line) for p in problems})
        super().__init__(f"{rows} bad row{'s' if rows != 1 else ''} in {source}; nothing applied "
                         "(fix them, or use --skip-invalid --rejects FILE to apply the rest)")
        self.problems = problems


class TooManyLeavers(APIError):
    """A snapshot would disable more people than allowed; nothing was applied."""

    status = 409
    code = "too_many_leavers"


#: A snapshot may turn at most this share of active and pending accounts (and at least the minimum) into leavers.
MASS_LEAVE_SHARE = 0.10
MASS_LEAVE_MINIMUM = 10


def _leaver_limit(session: Session, max_leavers: int | None) -> int:
    if max_leavers is not None:
        return max_leavers
    employed = session.execute(select(func.count()).select_from(AccountRow).where(
        AccountRow.status.in_(("active", "pending")))).scalar_one()
    return max(MASS_LEAVE_MINIMUM, int(employed * MASS_LEAVE_SHARE))


@dataclass
class ImportReport:
    file: str
    sha256: str
    plan: Plan
    problems: list[Problem]
    applied: bool
    rejected_rows: int = 0
    result: ApplyResult | None = None
    rejected_lines: list[int] = field(default_factory=list)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_feed(session: Session, feed: FeedFile, *, mode: Literal["snapshot", "delta"], today: date | None,
              at: datetime | None, rules: RoleRules | None) -> tuple[Plan, list[Problem], dict[int, str]]:
    """Plan a parsed feed; return the plan, every problem sorted by line, and reasons per rejected line."""
    plan = build_plan(session, feed.records, mode=mode, today=today, at=at, rules=rules,
                      protected=feed.protected)
    problems = sorted([*feed.problems, *plan.problems], key=lambda p: p.origin.line)
    reasons: dict[int, list[str]] = defaultdict(list)
    for problem in problems:
        reasons[problem.origin.line].append(f"{problem.field}: {problem.reason}")
    lines: dict[int, str] = {line: "; ".join(texts) for line, texts in reasons.items()}
    # Every row of a rejected person is rejected with it (a person is applied whole or not at all).
    for rejection in plan.rejected:
        record = rejection.record
        first = min(p.origin.line for p in rejection.problems)
        for line in {record.origin.line, *(job.origin.line for job in record.employments)}:
            lines.setdefault(line, f"another row of this person was rejected (line {first})")
    for line in feed.rejected_lines:
        lines.setdefault(line, "another row of this person was rejected")
    return plan, problems, lines


def import_hr_file(sessions: sessionmaker[Session], path: Path, *, mode: Literal["snapshot", "delta"],
                   actor: str, dry_run: bool = False, skip_invalid: bool = False, rejects: Path | None = None,
                   today: date | None = None, at: datetime | None = None, rules: RoleRules | None = None,
                   bus: ChangeBus | None = None, progress: Progress | None = None,
                   max_leavers: int | None = None) -> ImportReport:
    """Import ``path``; see the module docstring."""
    report = progress or (lambda stage, done, total: None)
    report("reading", 0, 1)
    feed = read_feed(path)
    sha256 = _digest(path)
    report("reading", 1, 1)
    # Leaving the block without commit() rolls back: a dry run, bad rows, or any failure while applying.
    with sessions() as session:
        report("planning", 0, 1)
        plan, problems, lines = plan_feed(session, feed, mode=mode, today=today, at=at, rules=rules)
        report("planning", 1, 1)
        rejected = sorted(lines)
        outcome = ImportReport(file=path.name, sha256=sha256, plan=plan, problems=problems, applied=False,
                               rejected_lines=rejected)
        if problems and not skip_invalid:
            raise InvalidFeed(path.name, problems)
        if dry_run:
            return outcome
        limit = _leaver_limit(session, max_leavers) if mode == "snapshot" else None
        if limit is not None and len(plan.leavers) > limit:
            raise TooManyLeavers(f"the snapshot {path.name} would make {len(plan.leavers)} people leavers, more "
                                 f"than the limit of {limit}; nothing applied (check the file is complete, or "
                                 "allow it with --max-leavers N)")
        if rejected and rejects is not None:
            outcome.rejected_rows = write_rejects(feed, rejected, rejects, lines)
        outcome.result = apply_plan(
            session, plan, actor=actor, source="hr-file", bus=bus,
            details={"file": path.name, "sha256": sha256, "rejected_rows": len(rejected)},
            progress=report)
        session.commit()
        outcome.applied = True
    return outcome
