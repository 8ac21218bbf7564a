"""The joiner/mover/leaver rules: from a person's employments to their account status and grants.

:class:`Reconciler` turns (current state, new employments) into plan operations. Every source and the clock
go through :meth:`Reconciler.reconcile`, so the rules live in one place:

* **Account status** follows the employments on ``today``: one in effect -> ``active``; only future ones ->
  ``pending``; none -> ``disabled``. A status an administrator set (``admin_hold``: suspended, or disabled by
  hand) is kept, except that a person with no employment left is disabled.
* **Birthright grants** come from every employment that has not ended (future ones included, so a joiner's
  roles exist before the start date and become valid at 00:00 Oslo time on it): the role rules map position
  and department kind to roles scoped to the department, point of care or legal entity.
* **Revocations**: a grant no employment gives any more is revoked at once if the person leaves; if they stay
  employed (a mover) it ends after the role's grace period. Manual grants do not survive a leave, nor a move:
  they end with the same grace (cross-organisation access is re-checked when the job changes).
* **Licences**: a grant whose role needs an HPR authorisation is suspended while none of the accepted codes
  is valid for the person's HPR number on ``today``, and resumed when one is.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

from provisioning.clock import start_of_day
from provisioning.plan import AccountChange, GrantChangeOp, NewGrant, PersonRef, Plan
from provisioning.rules import RoleRules
from provisioning.state import GrantState, LicenceState, State

__all__ = ["Current", "Reconciler", "licence_ok"]


class Current(NamedTuple):
    """An employment as it will stand after the plan (not removed)."""

    position_code: str
    legal_entity_id: str
    point_of_care_id: str
    department_id: str
    start_date: date
    end_date: date | None


def _duration(period: timedelta) -> str:
    hours = int(period.total_seconds() // 3600)
    return f"{hours // 24} d" if hours % 24 == 0 else f"{hours} h"


def licence_ok(rules: RoleRules, role: str, licences: list[LicenceState], today: date) -> tuple[bool, str]:
    """Whether ``role``'s licence need is met on ``today`` by ``licences``, and if not, why (for the register)."""
    needed = rules.authorisations(role)
    if not needed:
        return True, ""
    held = [lic for lic in licences if lic.authorisation in needed]
    if any(lic.valid_on(today) for lic in held):
        return True, ""
    codes = "/".join(sorted(needed))
    if not held:
        return False, f"no HPR authorisation {codes}"
    latest = max(held, key=lambda lic: lic.valid_from)
    if latest.status != "valid":
        return False, f"HPR authorisation {latest.authorisation} is {latest.status}"
    if latest.valid_from > today:
        return False, f"HPR authorisation {latest.authorisation} is valid from {latest.valid_from.isoformat()}"
    assert latest.valid_to is not None
    return False, f"HPR authorisation {latest.authorisation} expired {latest.valid_to.isoformat()}"


class Reconciler:
    def __init__(self, state: State, plan: Plan, *, rules: RoleRules) -> None:
        self.state = state
        self.plan = plan
        self.rules = rules
        self.today = plan.today
        self.at = plan.at

    @staticmethod
    def status_on(employments: list[Current], today: date) -> tuple[str, str]:
        """(status, reason) that the employments give on ``today``."""
        if any(e.start_date <= today and (e.end_date is None or e.end_date >= today) for e in employments):
            return "active", "employment in effect"
        future = [e.start_date for e in employments if e.start_date > today]
        if future:
            return "pending", f"employment starts {min(future).isoformat()}"
        return "disabled", "no current or future employment"

    def reconcile(self, ref: PersonRef, *, employments: list[Current], hpr_number: str | None,
                  label: str, new: bool = False) -> None:
        """Add the account, grant and licence operations that make person ``ref`` match ``employments``."""
        plan, state = self.plan, self.state
        plan.labels[ref] = label
        desired_status, why = self.status_on(employments, self.today)
        account = state.accounts.get(ref)
        old_status = account.status if account else None
        status = desired_status
        if account is not None and account.admin_hold and desired_status != "disabled":
            status = account.status  # an administrator's suspension or disabling stands
        if old_status != status:
            plan.account_changes.append(AccountChange(ref, old_status, status, why))
        leaving = desired_status == "disabled"
        if new:
            (plan.joiners if status in ("active", "pending") else plan.former).append(label)
        elif old_status == "disabled" and status in ("active", "pending"):
            plan.rehires.append(label)
        elif old_status not in (None, "disabled") and leaving:
            plan.leavers.append(label)

        desired = self._desired_grants(employments)
        current = state.grants.get(ref, []) if not new else []
        live: dict[tuple[str, str], GrantState] = {}
        kept: list[GrantState] = []
        moved = False
        for grant in current:
            if grant.revoke_at is not None:
                if leaving and grant.revoke_at > self.at:
                    # A mover in their grace period who now leaves loses the old role at once too.
                    self._revoke(grant, grace=False, reason="left: no current or future employment")
                else:
                    kept.append(grant)  # already ending; licence changes still apply until then
                continue
            if grant.kind == "manual":
                continue
            key = (grant.role, grant.unit_id)
            want = desired.get(key)
            duplicate = key in live
            restarted = want is not None and grant.valid_from > self.at and grant.valid_from != want[0]
            if want is None or duplicate or restarted:
                grace = not leaving and want is None and grant.valid_from <= self.at
                moved = moved or (want is None and not leaving)
                self._revoke(grant, grace=grace, reason=self._revoke_reason(leaving, want is None))
                continue
            live[key] = grant
            kept.append(grant)
        for grant in current:
            if grant.kind == "manual" and grant.revoke_at is None:
                if leaving or moved:
                    reason = ("left: no current or future employment" if leaving else
                              "employment changed: manual grants are re-checked after a move")
                    self._revoke(grant, grace=not leaving and grant.valid_from <= self.at, reason=reason)
                else:
                    kept.append(grant)
        if moved and not leaving and status in ("active", "pending") and old_status is not None:
            plan.movers.append(label)
        licences = state.licences.get(hpr_number or "", [])
        for key, (valid_from, reason) in desired.items():
            if key in live:
                continue
            ok, why_not = self.licence_ok(key[0], licences)
            plan.new_grants.append(NewGrant(ref, key[0], key[1], valid_from, reason, None if ok else why_not))
        for grant in kept:
            self.check_licence(grant, licences)

    def check_licence(self, grant: GrantState, licences: list[LicenceState]) -> None:
        """Suspend or resume ``grant`` so that it matches the person's licences on ``today``."""
        ok, why_not = self.licence_ok(grant.role, licences)
        if grant.suspended and ok:
            self._change(grant, "resume", self.at, "HPR authorisation valid again")
        elif not grant.suspended and not ok:
            self._change(grant, "suspend", self.at, why_not)

    def licence_ok(self, role: str, licences: list[LicenceState]) -> tuple[bool, str]:
        return licence_ok(self.rules, role, licences, self.today)

    def _desired_grants(self, employments: list[Current]) -> dict[tuple[str, str], tuple[datetime, str]]:
        """(role, unit) -> (valid from, reason) for every employment that has not ended."""
        desired: dict[tuple[str, str], tuple[datetime, str]] = {}
        for job in employments:
            if job.end_date is not None and job.end_date < self.today:
                continue
            unit = self.state.units[job.department_id]
            valid_from = self.at if job.start_date <= self.today else max(self.at, start_of_day(job.start_date))
            for birthright in self.rules.birthright(job.position_code, unit.kind):
                scope_unit = {"department": job.department_id, "point_of_care": job.point_of_care_id,
                              "legal_entity": job.legal_entity_id}[birthright.scope]
                key = (birthright.role, scope_unit)
                reason = (f"birthright: {job.position_code} in {unit.kind} {job.department_id}, "
                          f"scoped to the {birthright.scope.replace('_', ' ')}")
                if key not in desired or valid_from < desired[key][0]:
                    desired[key] = (valid_from, reason)
        return desired

    @staticmethod
    def _revoke_reason(leaving: bool, unwanted: bool) -> str:
        if leaving:
            return "left: no current or future employment"
        if unwanted:
            return "moved: no employment gives this role here any more"
        return "replaced: the employment's start date changed"

    def _revoke(self, grant: GrantState, *, grace: bool, reason: str) -> None:
        period = self.rules.mover_grace(grant.role) if grace else None
        effective = self.at + period if period else self.at
        if period:
            reason = f"{reason}; grace period {_duration(period)} until {effective.isoformat(timespec='minutes')}"
        self._change(grant, "revoke", effective, reason)

    def _change(self, grant: GrantState, action: str, effective_at: datetime, reason: str) -> None:
        self.plan.grant_changes.append(GrantChangeOp(
            grant.id, grant.person_id, action, effective_at, reason, grant.role, grant.unit_id))
