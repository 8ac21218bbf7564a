"""Load a generated region (``iam region generate`` / ``iam demo``) into the identity model.

:func:`load_region` reads the region's organisation register, HPR extract and HR feed (``organisations.csv``,
``hpr.csv``, ``hr_staff.csv``; formats in ``iam/region/FORMATS.md``) and applies them in **one** transaction, in
that order (the feed refers to units and its licensed roles need the licences): a failure leaves the database
as it was. Loading the same region again changes nothing. Every row of the feed must be good (a generated
region always is); otherwise :class:`~provisioning.imports.InvalidFeed` lists the bad rows and nothing loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from iam.db.base import utc_now
from iam.runtime import Runtime
from provisioning.apply import ApplyResult, apply_plan
from provisioning.events import announce_all
from provisioning.hpr import FileLicenceRegister, LicenceSync, sync_licences
from provisioning.hrfile import read_feed
from provisioning.imports import InvalidFeed, plan_feed
from provisioning.locking import lock_provisioning
from provisioning.orgs import OrgPlan, apply_organisations, plan_organisations, read_organisations
from provisioning.plan import Plan
from provisioning.rules import configured_rules

__all__ = ["RegionLoad", "load_region"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RegionLoad:
    organisations: OrgPlan
    licences: LicenceSync
    plan: Plan
    result: ApplyResult | None

    def summary(self) -> str:
        return "\n".join([
            self.organisations.summary(),
            f"HPR licences: {self.licences.added} added, {self.licences.changed} changed, "
            f"{self.licences.removed} removed",
            self.plan.summary(),
        ])


def load_region(runtime: Runtime, region_dir: Path, *, progress: Progress | None = None, today: date | None = None,
                at: datetime | None = None, actor: str = "region-loader") -> RegionLoad:
    """Load ``region_dir`` (see the module docstring); ``progress(stage, done, total)`` reports each stage."""
    report = progress or (lambda stage, done, total: None)
    at = at or utc_now()
    region_dir = Path(region_dir)
    rules = configured_rules(runtime.settings.role_rules_file)
    with runtime.sessions() as session:
        lock_provisioning(session)
        report("organisations", 0, 1)
        organisations = plan_organisations(session, read_organisations(region_dir / "organisations.csv"))
        apply_organisations(session, organisations, actor=actor, at=at, bus=runtime.bus,
                            details={"file": "organisations.csv"})
        report("organisations", 1, 1)
        report("licences", 0, 1)
        register = FileLicenceRegister(region_dir / "hpr.csv")
        licences = sync_licences(session, register.all(), source=register.name, at=at)
        report("licences", 1, 1)
        report("staff", 0, 3)
        feed = read_feed(region_dir / "hr_staff.csv")
        report("staff", 1, 3)
        plan, problems, _ = plan_feed(session, feed, mode="snapshot", today=today, at=at, rules=rules)
        if problems:
            raise InvalidFeed(feed.path.name, problems)
        report("staff", 2, 3)
        result = apply_plan(session, plan, actor=actor, source="hr-file", bus=runtime.bus,
                            details={"file": "hr_staff.csv", "region": region_dir.name})
        if licences.hpr_numbers and plan.is_empty:
            # Licences changed without any grant change: people's authorisations still changed.
            announce_all(session, bus=runtime.bus)
        session.commit()
        report("staff", 3, 3)
    return RegionLoad(organisations=organisations, licences=licences, plan=plan, result=result)
