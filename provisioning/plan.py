"""A provisioning plan: every change an HR source (or the clock) implies, computed before anything is written.

A :class:`Plan` is built by :func:`provisioning.planner.build_plan` (feeds) or by the tick and the licence
check, shown to a person (:meth:`Plan.summary`, :meth:`Plan.details`) and applied in one transaction by
:func:`provisioning.apply.apply_plan`. New people are referred to by negative placeholder ids until applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from provisioning.feed import PersonRecord, Problem

__all__ = [
    "AccountChange",
    "EmploymentUpdate",
    "GrantChangeOp",
    "NewEmployment",
    "NewGrant",
    "NewPerson",
    "PersonUpdate",
    "Plan",
    "Rejection",
]

#: A person in a plan: a positive database id, or a negative placeholder for a person the plan creates.
PersonRef = int


@dataclass(frozen=True, slots=True)
class NewPerson:
    ref: PersonRef
    national_id: str
    hpr_number: str | None
    employee_id: str | None
    given_name: str
    family_name: str
    address: str


@dataclass(frozen=True, slots=True)
class PersonUpdate:
    person_id: int
    changes: tuple[tuple[str, str | None, str | None], ...]  # (field, old, new)


@dataclass(frozen=True, slots=True)
class NewEmployment:
    person: PersonRef
    position_code: str
    legal_entity_id: str
    point_of_care_id: str
    department_id: str
    start_date: date
    end_date: date | None


@dataclass(frozen=True, slots=True)
class EmploymentUpdate:
    employment_id: int
    person_id: int
    end_date: date | None
    legal_entity_id: str
    point_of_care_id: str
    removed: bool
    what: str  # for people: "end date 2027-03-31", "removed", "listed again"


@dataclass(frozen=True, slots=True)
class AccountChange:
    person: PersonRef
    old: str | None  # None: the account is created
    new: str
    reason: str
    admin_hold: bool = False


@dataclass(frozen=True, slots=True)
class NewGrant:
    person: PersonRef
    role: str
    unit_id: str
    valid_from: datetime
    reason: str
    suspend_reason: str | None  # set when a required HPR authorisation is not valid


@dataclass(frozen=True, slots=True)
class GrantChangeOp:
    grant_id: int
    person_id: int
    action: str  # revoke | suspend | resume
    effective_at: datetime
    reason: str
    role: str
    unit_id: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record left out of the plan and why."""

    record: PersonRecord
    problems: tuple[Problem, ...]


@dataclass
class Plan:
    """Everything one run will change. ``at`` is the moment changes take effect, ``today`` the HR date."""

    mode: str
    today: date
    at: datetime
    records: int = 0
    new_persons: list[NewPerson] = field(default_factory=list)
    person_updates: list[PersonUpdate] = field(default_factory=list)
    new_employments: list[NewEmployment] = field(default_factory=list)
    employment_updates: list[EmploymentUpdate] = field(default_factory=list)
    account_changes: list[AccountChange] = field(default_factory=list)
    new_grants: list[NewGrant] = field(default_factory=list)
    grant_changes: list[GrantChangeOp] = field(default_factory=list)
    joiners: list[str] = field(default_factory=list)
    rehires: list[str] = field(default_factory=list)
    movers: list[str] = field(default_factory=list)
    leavers: list[str] = field(default_factory=list)
    former: list[str] = field(default_factory=list)  # new people whose every employment has already ended
    rejected: list[Rejection] = field(default_factory=list)
    labels: dict[PersonRef, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when applying would change nothing."""
        return not (self.new_persons or self.person_updates or self.new_employments or self.employment_updates
                    or self.account_changes or self.new_grants or self.grant_changes)

    @property
    def problems(self) -> list[Problem]:
        return [problem for rejection in self.rejected for problem in rejection.problems]

    def counts(self) -> dict[str, int]:
        """Numbers for the summary, logs and the admin event."""
        changes = self.grant_changes
        return {
            "records": self.records,
            "joiners": len(self.joiners),
            "rehires": len(self.rehires),
            "movers": len(self.movers),
            "leavers": len(self.leavers),
            "attribute_changes": len(self.person_updates),
            "persons_created": len(self.new_persons),
            "accounts_activated": sum(1 for c in self.account_changes if c.new == "active" and c.old is not None),
            "accounts_disabled": sum(1 for c in self.account_changes if c.new == "disabled" and c.old is not None),
            "employments_added": len(self.new_employments),
            "employments_changed": sum(1 for u in self.employment_updates if not u.removed),
            "employments_removed": sum(1 for u in self.employment_updates if u.removed),
            "grants": len(self.new_grants),
            "grants_suspended_at_grant": sum(1 for g in self.new_grants if g.suspend_reason),
            "revocations": sum(1 for c in changes if c.action == "revoke"),
            "revocations_after_grace": sum(1 for c in changes if c.action == "revoke" and c.effective_at > self.at),
            "licence_suspensions": sum(1 for c in changes if c.action == "suspend"),
            "licence_resumptions": sum(1 for c in changes if c.action == "resume"),
            "rejected": len(self.rejected),
        }

    def summary(self) -> str:
        """A few lines for a person deciding whether to apply (``iam hr import --dry-run``)."""
        n = self.counts()
        head = f"plan ({self.mode}, {self.today.isoformat()})"
        if self.mode in ("snapshot", "delta"):
            head += f": {n['records']} people in the input"
        if n["rejected"]:
            head += f", {n['rejected']} rejected"
        if self.is_empty:
            return f"{head}\nno changes"
        lines = [
            head,
            f"  joiners            {n['joiners']:>6}   (rehires {n['rehires']})",
            f"  movers             {n['movers']:>6}",
            f"  leavers            {n['leavers']:>6}",
            f"  attribute changes  {n['attribute_changes']:>6}",
            f"  people created     {n['persons_created']:>6}   (already left: {len(self.former)})",
            f"  accounts           {n['accounts_activated']:>6} activated, {n['accounts_disabled']} disabled",
            f"  employments        {n['employments_added']:>6} added, {n['employments_changed']} changed, "
            f"{n['employments_removed']} removed",
            f"  role grants        {n['grants']:>6}   ({n['grants_suspended_at_grant']} suspended: no valid licence)",
            f"  role revocations   {n['revocations']:>6}   ({n['revocations_after_grace']} after a grace period)",
            f"  licence changes    {n['licence_suspensions']:>6} suspended, {n['licence_resumptions']} restored",
        ]
        return "\n".join(lines)

    def details(self) -> list[str]:
        """One line per change, for ``--verbose`` and the admin API."""
        out: list[str] = []

        def who(ref: PersonRef) -> str:
            return self.labels.get(ref, f"person {ref}")

        out += [f"joiner   {label}" for label in self.joiners]
        out += [f"rehire   {label}" for label in self.rehires]
        out += [f"mover    {label}" for label in self.movers]
        out += [f"leaver   {label}" for label in self.leavers]
        for update in self.person_updates:
            fields = ", ".join(name for name, _, _ in update.changes)
            out.append(f"update   {who(update.person_id)}: {fields}")
        for added in self.new_employments:
            until = f" to {added.end_date.isoformat()}" if added.end_date else ""
            out.append(f"job      {who(added.person)}: {added.position_code} in {added.department_id} from "
                       f"{added.start_date.isoformat()}{until}")
        for job in self.employment_updates:
            out.append(f"job      {who(job.person_id)}: employment {job.employment_id}: {job.what}")
        for change in self.account_changes:
            out.append(f"account  {who(change.person)}: {change.old or 'new'} -> {change.new} ({change.reason})")
        for grant in self.new_grants:
            note = f"; suspended: {grant.suspend_reason}" if grant.suspend_reason else ""
            out.append(f"grant    {who(grant.person)}: {grant.role} at {grant.unit_id} from "
                       f"{grant.valid_from.isoformat()}{note}")
        for op in self.grant_changes:
            out.append(f"{op.action:<8} {who(op.person_id)}: {op.role} at {op.unit_id} at "
                       f"{op.effective_at.isoformat()} ({op.reason})")
        return out
