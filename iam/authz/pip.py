"""The policy information point: the facts a decision needs, fetched once and cached with invalidation.

* **Subjects** come from the grant register (:mod:`provisioning.subjects`, behind :class:`IdentitySource`)
  plus care-team memberships; cached per person for ``subject_ttl`` seconds at most, and dropped at once when
  the change bus says ``identity`` ``person:<id>`` (grant, account or licence change) or ``authz``
  ``person:<id>`` (team membership). The TTL bounds staleness should a notice ever be lost. A grant that
  ends by itself (its end date, a mover's grace period) is announced by the provisioning tick, up to a tick
  interval (60 s) later: the person is looked up again the moment their first grant ends instead.
* **Patients' facts** (care relationships, restrictions, consents, emergency declarations, flags) are
  cached per patient in a bounded LRU and dropped on ``authz`` ``patient:<national id>``. A load that
  raced with a change is not cached: each patient has a version bumped by every notice, and a load only
  stores its result if the version did not move while it read.
* **The organisation register** is loaded whole (a few thousand units), again at once after a ``*`` notice
  (an org register import sends one) and in the background every ``subject_ttl``.
* The payload ``*`` on either channel (sent after bulk changes and after the bus reconnects) drops all.

Everything here is thread-safe: decisions read from the event loop and worker threads, and the change bus
calls in from its own thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session, sessionmaker

from iam.authz import store
from iam.authz.model import Assignment, OrgTree, OrgUnit, PatientFacts, Subject, SubjectRef
from iam.notify import RESYNC

if TYPE_CHECKING:
    from provisioning.subjects import RoleAssignment

__all__ = ["IdentitySource", "PolicyInformationPoint", "ProvisioningIdentity"]


class IdentitySource(Protocol):
    """Where subjects, their roles and the organisation register come from (the grant register)."""

    def subject(self, ref: SubjectRef, *, at: datetime) -> Subject | None: ...

    def org_units(self) -> list[OrgUnit]: ...

    def role_assignments(self, *, at: datetime) -> Iterator[tuple[str, Assignment]]: ...

    def all_subjects(self, *, at: datetime) -> Iterator[Subject]: ...


class ProvisioningIdentity:
    """:class:`IdentitySource` over :mod:`provisioning.subjects` (one short session per call)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def subject(self, ref: SubjectRef, *, at: datetime) -> Subject | None:
        from provisioning.subjects import subject_facts

        with self._sessions() as session:
            if ref.kind == "person":
                if not ref.value.isdigit():
                    return None
                facts = subject_facts(session, person_id=int(ref.value), at=at)
            elif ref.kind == "hpr":
                facts = subject_facts(session, hpr_number=ref.value, at=at)
            else:
                facts = subject_facts(session, national_id=ref.value, at=at)
            if facts is None:
                return None
            person_id = str(facts.person_id)
            return Subject(
                person_id=person_id, national_id=facts.national_id, hpr_number=facts.hpr_number,
                display_name=facts.display_name, account_status=facts.account_status,
                assignments=tuple(_assignment(r) for r in facts.roles),
                teams=store.teams_of(session, person_id))

    def org_units(self) -> list[OrgUnit]:
        from provisioning.subjects import org_units

        with self._sessions() as session:
            return [OrgUnit(unit_id=u.unit_id, parent_id=u.parent_id, level=u.level, kind=u.unit_kind,
                            name=u.name) for u in org_units(session)]

    def all_subjects(self, *, at: datetime) -> Iterator[Subject]:
        """Every person with account state, roles in force and teams: one streaming query for the roles,
        one for the persons, one for team memberships."""
        from provisioning.subjects import all_person_identities

        roles: dict[str, list[Assignment]] = defaultdict(list)
        for person_id, assignment in self.role_assignments(at=at):
            roles[person_id].append(assignment)
        with self._sessions() as session:
            teams = store.all_team_members(session)
            for person in all_person_identities(session):
                person_id = str(person.person_id)
                yield Subject(person_id=person_id, national_id=person.national_id, hpr_number=person.hpr_number,
                              display_name=person.display_name, account_status=person.account_status or "pending",
                              assignments=tuple(roles.get(person_id, ())), teams=frozenset(teams.get(person_id, ())))

    def role_assignments(self, *, at: datetime) -> Iterator[tuple[str, Assignment]]:
        from provisioning.subjects import all_role_assignments

        with self._sessions() as session:
            for person_id, r in all_role_assignments(session, at=at):
                yield str(person_id), _assignment(r)


def _assignment(role: RoleAssignment) -> Assignment:
    return Assignment(role=role.role, unit_id=role.unit_id, licence_ok=role.licence_ok, purpose=role.purpose,
                      grant_id=str(role.grant_id), valid_until=role.valid_until)


def _expiry(subject: Subject | None, *, ttl: float, now: float, wall: datetime) -> float:
    """When a cached subject must be looked up again (monotonic): after ``ttl`` seconds, or as soon as one
    of its grants ends by itself (the provisioning tick announces that only at its next run)."""
    ends = [a.valid_until for a in subject.assignments if a.valid_until is not None] if subject else []
    if not ends:
        return now + ttl
    return now + min(ttl, max(0.0, (min(ends) - wall).total_seconds()))


class PolicyInformationPoint:
    def __init__(self, sessions: sessionmaker[Session], identity: IdentitySource, *, patient_cache_size: int,
                 subject_ttl: float) -> None:
        self._sessions = sessions
        self._identity = identity
        self._patient_cache_size = patient_cache_size
        self._subject_ttl = subject_ttl
        self._lock = threading.Lock()
        self._patients: OrderedDict[str, PatientFacts] = OrderedDict()
        self._patient_versions: dict[str, int] = defaultdict(int)
        self._epoch = 0
        self._subjects: dict[tuple[str, str], tuple[Subject | None, float]] = {}
        self._aliases: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._org: OrgTree | None = None
        self._org_epoch = 0
        self._unit_people: dict[str, set[str]] | None = None
        self.hits = 0
        self.misses = 0

    # --- organisation register ---------------------------------------------------------------------------
    @property
    def org(self) -> OrgTree:
        """The register as last loaded; loaded here only when there is none (start-up, a ``*`` notice).

        The periodic reload is :meth:`refresh_org`, in the background: on a decision's path its query
        (60-190 ms at scale 1.0) held up every request of the event loop once a TTL."""
        org = self._org
        return org if org is not None else self._load_org()

    def refresh_org(self) -> None:
        """Reload the register if it is in use. An unchanged register keeps its tree, so what is kept per
        tree (units' levels for the access log, reason texts) stays warm."""
        if self._org is not None:
            self._load_org()

    def _load_org(self) -> OrgTree:
        epoch = self._org_epoch
        units = self._identity.org_units()
        current = self._org
        if current is not None and current.same_units(units):
            return current
        tree = OrgTree(units)
        with self._lock:
            if epoch == self._org_epoch:  # a ``*`` notice came while this read: the next use loads again
                self._org = tree
        return tree

    # --- subjects ----------------------------------------------------------------------------------------
    def subject(self, ref: SubjectRef) -> Subject | None:
        key = (ref.kind, ref.value)
        cached = self._subjects.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        epoch = self._epoch
        wall = datetime.now(UTC)
        subject = self._identity.subject(ref, at=wall)
        # Unknown users are remembered briefly only: a person created a moment later must not wait long.
        ttl = self._subject_ttl if subject is not None else min(self._subject_ttl, 10.0)
        expires = _expiry(subject, ttl=ttl, now=now, wall=wall)
        with self._lock:
            if epoch == self._epoch:
                self._subjects[key] = (subject, expires)
                if subject is not None:
                    self._aliases[subject.person_id].append(key)
        return subject

    def preload_subjects(self) -> int:
        """Load every person in bulk (start-up and periodic refresh): far cheaper than one look-up each.

        Entries live for twice the TTL (or until the person's first grant ends), so a refresh every TTL
        replaces them before they expire. A change notice arriving while this reads makes it discard its
        result (the per-person path stays correct)."""
        epoch = self._epoch
        now, wall = time.monotonic(), datetime.now(UTC)
        loaded: dict[tuple[str, str], tuple[Subject | None, float]] = {}
        aliases: dict[str, list[tuple[str, str]]] = {}
        for subject in self._identity.all_subjects(at=wall):
            keys = [("person", subject.person_id), ("national_id", subject.national_id)]
            if subject.hpr_number:
                keys.append(("hpr", subject.hpr_number))
            expires = _expiry(subject, ttl=2 * self._subject_ttl, now=now, wall=wall)
            for key in keys:
                loaded[key] = (subject, expires)
            aliases[subject.person_id] = keys
        with self._lock:
            if epoch != self._epoch:
                return 0
            self._subjects.update(loaded)
            self._aliases.update(aliases)
        return len(aliases)

    def subject_cached(self, ref: SubjectRef) -> bool:
        cached = self._subjects.get((ref.kind, ref.value))
        return cached is not None and cached[1] > time.monotonic()

    def invalidate_person(self, person_id: str) -> None:
        with self._lock:
            self._epoch += 1
            for key in self._aliases.pop(person_id, ()):
                self._subjects.pop(key, None)
            self._subjects.pop(("person", person_id), None)
            self._unit_people = None

    # --- patients ----------------------------------------------------------------------------------------
    def patient(self, patient: str) -> PatientFacts:
        facts = self._patients.get(patient)
        if facts is not None:
            self.hits += 1
            # Evicted by another thread meanwhile? The facts we hold are still current.
            with contextlib.suppress(KeyError):
                self._patients.move_to_end(patient)
            return facts
        self.misses += 1
        return self.load_patients([patient])[patient]

    def cached_patient(self, patient: str) -> bool:
        return patient in self._patients

    def load_patients(self, patients: Sequence[str]) -> dict[str, PatientFacts]:
        """Read the facts of ``patients`` from the database (one batch) and cache them."""
        versions = {p: self._patient_versions.get(p, 0) for p in patients}
        epoch = self._epoch
        with self._sessions() as session:
            loaded = store.load_patient_facts(session, list(patients), now=datetime.now(UTC))
        with self._lock:
            if epoch == self._epoch:
                for patient, facts in loaded.items():
                    if self._patient_versions.get(patient, 0) == versions[patient]:
                        self._patients[patient] = facts
                while len(self._patients) > self._patient_cache_size:
                    self._patients.popitem(last=False)
        return loaded

    def invalidate_patient(self, patient: str) -> None:
        with self._lock:
            self._patient_versions[patient] += 1
            self._patients.pop(patient, None)

    def invalidate_all(self) -> None:
        with self._lock:
            self._epoch += 1
            self._patients.clear()
            self._patient_versions.clear()
            self._subjects.clear()
            self._aliases.clear()
            self._org = None
            self._org_epoch += 1
            self._unit_people = None

    # --- who works where (for "who may read this patient") ----------------------------------------------
    def people_in_scope_of(self, units: Iterable[str]) -> set[str]:
        """Person ids holding a role at one of ``units`` or at a unit above one of them."""
        index = self._unit_people
        if index is None:
            index = defaultdict(set)
            for person_id, assignment in self._identity.role_assignments(at=datetime.now(UTC)):
                index[assignment.unit_id].add(person_id)
            self._unit_people = index
        org = self.org
        people: set[str] = set()
        for unit in units:
            for scope in org.chain(unit):
                people.update(index.get(scope, ()))
        return people

    # --- change bus --------------------------------------------------------------------------------------
    def on_identity_notice(self, payload: str) -> None:
        if payload == RESYNC:
            self.invalidate_all()
        elif payload.startswith("person:"):
            self.invalidate_person(payload.removeprefix("person:"))

    def on_authz_notice(self, payload: str) -> None:
        if payload == RESYNC:
            self.invalidate_all()
        elif payload.startswith("patient:"):
            self.invalidate_patient(payload.removeprefix("patient:"))
        elif payload.startswith("person:"):
            self.invalidate_person(payload.removeprefix("person:"))

    def stats(self) -> dict[str, int]:
        return {"patients_cached": len(self._patients), "subjects_cached": len(self._subjects),
                "hits": self.hits, "misses": self.misses}
