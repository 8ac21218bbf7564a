"""The decision engine's own shapes: the facts it decides on, the request and the decision.

All are frozen, slotted dataclasses built once per fact change and then only read, so the hot path of a
decision touches plain attributes and dict look-ups. Times are UTC-aware datetimes. Person ids are
strings (the grant register's integer ids as text), organisation units are organisation numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "RELATIONSHIP_KINDS",
    "RESTRICTION_KINDS",
    "Assignment",
    "CareRelationship",
    "Consent",
    "Decision",
    "DecisionRequest",
    "EmergencyDeclaration",
    "OrgTree",
    "OrgUnit",
    "PatientFacts",
    "Restriction",
    "Subject",
    "SubjectRef",
]

RELATIONSHIP_KINDS = ("admission", "appointment", "referral", "home_care", "gp_list")
RESTRICTION_KINDS = ("block_person", "restrict_unit", "lock_item", "object_sharing")
SubjectIdKind = Literal["person", "hpr", "national_id"]


@dataclass(frozen=True, slots=True)
class OrgUnit:
    unit_id: str
    parent_id: str | None
    level: str
    kind: str
    name: str


class OrgTree:
    """The organisation register as ancestor chains: ``chain(u)`` is u, its parent, ... up to the legal entity.

    A role held in unit S covers unit U when ``S in chain(U)`` (inheritance down the hierarchy). Units not
    in the register are their own one-element chain, so they match only themselves.
    """

    __slots__ = ("_chains", "_units")

    def __init__(self, units: Iterable[OrgUnit]) -> None:
        self._units: dict[str, OrgUnit] = {u.unit_id: u for u in units}
        self._chains: dict[str, tuple[str, ...]] = {}
        for unit_id in self._units:
            chain = [unit_id]
            parent = self._units[unit_id].parent_id
            while parent is not None and parent not in chain and len(chain) < 16:
                chain.append(parent)
                parent = self._units[parent].parent_id if parent in self._units else None
            self._chains[unit_id] = tuple(chain)

    def __len__(self) -> int:
        return len(self._units)

    def same_units(self, units: Iterable[OrgUnit]) -> bool:
        return self._units == {u.unit_id: u for u in units}

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._units

    def chain(self, unit_id: str) -> tuple[str, ...]:
        return self._chains.get(unit_id) or (unit_id,)

    def within(self, unit_id: str, scope_id: str) -> bool:
        """Whether ``unit_id`` is ``scope_id`` or lies below it."""
        return scope_id in self.chain(unit_id)

    def legal_entity(self, unit_id: str) -> str:
        return self.chain(unit_id)[-1]

    def unit(self, unit_id: str) -> OrgUnit | None:
        return self._units.get(unit_id)

    def kind(self, unit_id: str) -> str:
        unit = self._units.get(unit_id)
        return unit.kind if unit is not None else ""

    def name(self, unit_id: str) -> str:
        unit = self._units.get(unit_id)
        return unit.name if unit is not None else unit_id

    def units(self) -> Iterable[OrgUnit]:
        return self._units.values()

    def subtree(self, unit_id: str) -> list[str]:
        """``unit_id`` and every unit below it (a scan of the register: for searches, not decisions)."""
        found = [u for u, chain in self._chains.items() if unit_id in chain]
        return found or [unit_id]


@dataclass(frozen=True, slots=True)
class Assignment:
    """One active role of a person, scoped to an organisation unit (from the grant register).

    ``valid_until``: when the grant ends by itself (its end date or a scheduled revocation), None when
    open-ended; a cached subject is looked up again at that moment (see :mod:`iam.authz.pip`)."""

    role: str
    unit_id: str
    licence_ok: bool = True
    purpose: str | None = None
    grant_id: str = ""
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """A person as the decision engine sees them: account state, active roles and care-team memberships."""

    person_id: str
    national_id: str
    hpr_number: str | None
    display_name: str
    account_status: str
    assignments: tuple[Assignment, ...]
    teams: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return self.account_status == "active"


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """How a request names its user: our person id, an HPR number or a national id."""

    kind: SubjectIdKind
    value: str


@dataclass(frozen=True, slots=True)
class CareRelationship:
    """Patient <-> department, named practitioner or care team, valid in ``[valid_from, valid_to)``."""

    id: str
    patient: str
    kind: str
    unit_id: str | None
    person_id: str | None
    practitioner_hpr: str | None
    team_id: str | None
    valid_from: datetime
    valid_to: datetime | None

    def active(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True, slots=True)
class Restriction:
    """A patient's restriction: a named block, a restricted unit, a locked item or an objection to sharing."""

    id: str
    patient: str
    kind: str
    person_id: str | None = None
    hpr_number: str | None = None
    unit_id: str | None = None
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """The patient's recorded consent that opens one restriction for a person or a unit, for a while."""

    id: str
    restriction_id: str
    person_id: str | None
    hpr_number: str | None
    unit_id: str | None
    valid_from: datetime
    valid_to: datetime | None

    def active(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True, slots=True)
class EmergencyDeclaration:
    """A clinician's break-the-glass declaration for one patient, time-boxed."""

    id: str
    patient: str
    person_id: str
    purpose: str
    reason_code: str
    declared_at: datetime
    expires_at: datetime

    def active(self, at: datetime) -> bool:
        return self.declared_at <= at < self.expires_at


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """Everything about one patient that a decision may need, loaded together and cached together."""

    patient: str
    relationships: tuple[CareRelationship, ...] = ()
    restrictions: tuple[Restriction, ...] = ()
    consents: tuple[Consent, ...] = ()
    emergencies: tuple[EmergencyDeclaration, ...] = ()
    confidential_address: bool = False
    well_known: bool = False

    def of_kind(self, kind: str) -> tuple[Restriction, ...]:
        return tuple(r for r in self.restrictions if r.kind == kind)

    def declaration_of(self, person_id: str, at: datetime) -> EmergencyDeclaration | None:
        """The person's emergency declaration for this patient in force at ``at``, if any."""
        for declaration in self.emergencies:
            if declaration.person_id == person_id and declaration.active(at):
                return declaration
        return None


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One question: may this user do ``action`` on ``section`` of ``patient``'s record for ``purpose``?

    ``acting_unit`` is the unit the user acts for (the attestation's department, else point of care, else
    legal entity); without it every unit where the user holds a role is tried. ``item`` names one record
    item (for locks) and ``data_owner`` the legal entity that holds the data (for objections to sharing).
    ``at`` defaults to now.
    """

    subject: SubjectRef
    patient: str
    section: str
    action: str
    purpose: str
    acting_unit: str | None = None
    item: str | None = None
    data_owner: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer, with what decided it.

    ``rule`` is the policy rule id (a policy.csv rule, or ``default-deny``); ``reason`` a code in
    policies/reasons.yaml; ``facts`` the deciding facts (JSON-ready); ``params`` fill the reason texts.
    """

    allowed: bool
    decision_id: str
    rule: str
    reason: str
    request: DecisionRequest
    at: datetime
    subject: Subject | None = None
    role: str | None = None
    acting_unit: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    obligations: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    emergency: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
