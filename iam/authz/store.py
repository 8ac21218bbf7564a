"""SQL for the decision engine's facts. Functions take a Session, never commit, and return domain
dataclasses (:mod:`iam.authz.model`) or public views (:mod:`iam.authz.schemas`), never ORM rows.

Loading a patient's facts reads only what can still matter from ``now`` on: relationships not ended and not
expired, restrictions not lifted, consents not revoked or expired, declarations not ended or expired. What
was valid "now" stays valid until its own ``valid_to``/``expires_at``, which the engine checks per decision.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from iam.authz.model import CareRelationship, Consent, EmergencyDeclaration, PatientFacts, Restriction
from iam.authz.models import (
    CareRelationshipRow,
    CareTeamMemberRow,
    ConsentRow,
    EmergencyDeclarationRow,
    PatientFlagsRow,
    PolicyVersionRow,
    RestrictionRow,
)
from iam.authz.schemas import (
    CareRelationshipView,
    ConsentView,
    EmergencyView,
    RestrictionView,
    TeamMemberView,
)

__all__ = [
    "add_team_member",
    "all_team_members",
    "bulk_insert_relationships",
    "bulk_upsert_flags",
    "end_declaration",
    "end_relationship",
    "get_declaration",
    "get_relationship",
    "get_restriction",
    "insert_consent",
    "insert_declaration",
    "insert_policy_version",
    "insert_relationship",
    "insert_restriction",
    "latest_policy_version",
    "lift_restriction",
    "list_consents",
    "list_relationships",
    "list_restrictions",
    "list_team_members",
    "load_patient_facts",
    "patients_with_relationships",
    "people_named_for",
    "remove_team_member",
    "revoke_consent",
    "set_flags",
    "teams_of",
]

_CHUNK = 500

# The statements loading a patient's facts, built once and run on the session's connection (Core, not the ORM):
# a patient's first decision in a process waits for them, holding the GIL against the worker's event loop.
# Built per call and run through the ORM, most of their time was Python, not SQLite; with an expanding
# parameter they compile once. A patient's first decision (bench/authz_decide.py --scale 1.0): p50 1.3-1.6 ms
# through the ORM, 0.3-0.45 ms so.
_PATIENTS: BindParameter[list[str]] = bindparam("patients", expanding=True)
_NOW: BindParameter[datetime] = bindparam("now")
_rel = CareRelationshipRow.__table__.c
_res = RestrictionRow.__table__.c
_con = ConsentRow.__table__.c
_emg = EmergencyDeclarationRow.__table__.c
_flg = PatientFlagsRow.__table__.c
_ACTIVE_RELATIONSHIPS = select(
    _rel.id, _rel.patient, _rel.kind, _rel.unit_id, _rel.person_id, _rel.practitioner_hpr, _rel.team_id,
    _rel.valid_from, _rel.valid_to,
).where(_rel.patient.in_(_PATIENTS), _rel.ended_at.is_(None), or_(_rel.valid_to.is_(None), _rel.valid_to > _NOW))
_ACTIVE_RESTRICTIONS = select(
    _res.id, _res.patient, _res.kind, _res.person_id, _res.hpr_number, _res.unit_id, _res.item_id,
).where(_res.patient.in_(_PATIENTS), _res.lifted_at.is_(None))
_ACTIVE_CONSENTS = select(
    _con.id, _con.restriction_id, _con.person_id, _con.hpr_number, _con.unit_id, _con.valid_from, _con.valid_to,
    _con.patient,
).where(_con.patient.in_(_PATIENTS), _con.revoked_at.is_(None), or_(_con.valid_to.is_(None), _con.valid_to > _NOW))
_ACTIVE_EMERGENCIES = select(
    _emg.id, _emg.patient, _emg.person_id, _emg.purpose, _emg.reason_code, _emg.declared_at, _emg.expires_at,
).where(_emg.patient.in_(_PATIENTS), _emg.ended_at.is_(None), _emg.expires_at > _NOW)
_FLAGS = select(_flg.patient, _flg.confidential_address, _flg.well_known).where(_flg.patient.in_(_PATIENTS))


def load_patient_facts(session: Session, patients: Sequence[str], *, now: datetime) -> dict[str, PatientFacts]:
    """The facts of each patient in ``patients`` (every one present in the result, possibly empty).

    Runs on the session's connection without flushing it first: rows added to ``session`` and not yet flushed
    are not seen (the policy information point loads in a session of its own)."""
    if not patients:
        return {}
    rels: dict[str, list[CareRelationship]] = defaultdict(list)
    restrictions: dict[str, list[Restriction]] = defaultdict(list)
    consents: dict[str, list[Consent]] = defaultdict(list)
    emergencies: dict[str, list[EmergencyDeclaration]] = defaultdict(list)
    flags: dict[str, tuple[bool, bool]] = {}
    connection = session.connection()
    for start in range(0, len(patients), _CHUNK):
        params = {"patients": list(patients[start:start + _CHUNK]), "now": now}
        for rel in connection.execute(_ACTIVE_RELATIONSHIPS, params):
            rels[rel.patient].append(CareRelationship(*rel))
        for res in connection.execute(_ACTIVE_RESTRICTIONS, params):
            restrictions[res.patient].append(Restriction(*res))
        for con in connection.execute(_ACTIVE_CONSENTS, params):
            consents[con.patient].append(Consent(*con[:7]))
        for emg in connection.execute(_ACTIVE_EMERGENCIES, params):
            emergencies[emg.patient].append(EmergencyDeclaration(*emg))
        for flg in connection.execute(_FLAGS, params):
            flags[flg.patient] = (flg.confidential_address, flg.well_known)
    return {
        patient: PatientFacts(
            patient=patient, relationships=tuple(rels.get(patient, ())),
            restrictions=tuple(restrictions.get(patient, ())), consents=tuple(consents.get(patient, ())),
            emergencies=tuple(emergencies.get(patient, ())),
            confidential_address=flags.get(patient, (False, False))[0],
            well_known=flags.get(patient, (False, False))[1])
        for patient in patients
    }


def all_team_members(session: Session) -> dict[str, set[str]]:
    """person id -> the care teams they belong to (for loading every subject at once)."""
    teams: dict[str, set[str]] = defaultdict(set)
    for team_id, person_id in session.execute(select(CareTeamMemberRow.team_id, CareTeamMemberRow.person_id)):
        teams[person_id].add(team_id)
    return teams


def teams_of(session: Session, person_id: str) -> frozenset[str]:
    rows = session.execute(select(CareTeamMemberRow.team_id).where(CareTeamMemberRow.person_id == person_id))
    return frozenset(rows.scalars())


# --- care relationships -------------------------------------------------------------------------------------

def insert_relationship(session: Session, **values: Any) -> CareRelationshipView:
    row = CareRelationshipRow(**values)
    session.add(row)
    session.flush()
    return CareRelationshipView.model_validate(row)


def bulk_insert_relationships(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many relationships in one statement (executemany); ids must be new.

    Core insert on the table rather than the ORM entity: the ORM's bulk path splits rows by which columns
    are NULL and emits thousands of single inserts; Core sends one executemany."""
    if rows:
        table = CareRelationshipRow.__table__
        assert isinstance(table, Table)
        session.execute(insert(table), rows)


def get_relationship(session: Session, relationship_id: str) -> CareRelationshipView | None:
    row = session.get(CareRelationshipRow, relationship_id)
    return None if row is None else CareRelationshipView.model_validate(row)


def end_relationship(session: Session, relationship_id: str, *, at: datetime, by: str, reason: str) -> None:
    session.execute(update(CareRelationshipRow).where(CareRelationshipRow.id == relationship_id)
                    .values(ended_at=at, ended_by=by, end_reason=reason))


def list_relationships(session: Session, *, patient: str | None, unit_id: str | None, active_at: datetime | None,
                       after: str | None, limit: int) -> list[CareRelationshipView]:
    r = CareRelationshipRow
    query = select(r).order_by(r.id).limit(limit)
    if patient is not None:
        query = query.where(r.patient == patient)
    if unit_id is not None:
        query = query.where(r.unit_id == unit_id)
    if active_at is not None:
        query = query.where(r.ended_at.is_(None), r.valid_from <= active_at,
                            or_(r.valid_to.is_(None), r.valid_to > active_at))
    if after is not None:
        query = query.where(r.id > after)
    return [CareRelationshipView.model_validate(row) for row in session.execute(query).scalars()]


def patients_with_relationships(session: Session, *, unit_ids: Iterable[str], person_id: str | None,
                                hpr_number: str | None, teams: Iterable[str], now: datetime, after: str | None,
                                limit: int) -> list[str]:
    """Patients (sorted, after ``after``) with a relationship active at ``now`` to one of the units, the
    person or one of the teams: the candidates of "which patients may this user read"."""
    r = CareRelationshipRow
    targets: list[ColumnElement[bool]] = [r.unit_id.in_(list(unit_ids))]
    if person_id is not None:
        targets.append(r.person_id == person_id)
    if hpr_number is not None:
        targets.append(r.practitioner_hpr == hpr_number)
    team_list = list(teams)
    if team_list:
        targets.append(r.team_id.in_(team_list))
    query = (select(r.patient).distinct().where(or_(*targets), r.ended_at.is_(None), r.valid_from <= now,
                                                  or_(r.valid_to.is_(None), r.valid_to > now))
             .order_by(r.patient).limit(limit))
    if after is not None:
        query = query.where(r.patient > after)
    return list(session.execute(query).scalars())


def people_named_for(session: Session, patient: str, *, now: datetime) -> tuple[set[str], set[str], set[str]]:
    """(person ids, HPR numbers, members of named teams) of the patient's active relationships and
    declarations: the named candidates of "who may read this patient's record"."""
    r = CareRelationshipRow
    persons: set[str] = set()
    hprs: set[str] = set()
    teams: set[str] = set()
    for person_id, hpr, team in session.execute(
            select(r.person_id, r.practitioner_hpr, r.team_id).where(
                r.patient == patient, r.ended_at.is_(None), or_(r.valid_to.is_(None), r.valid_to > now))):
        if person_id:
            persons.add(person_id)
        if hpr:
            hprs.add(hpr)
        if team:
            teams.add(team)
    e = EmergencyDeclarationRow
    persons.update(session.execute(select(e.person_id).where(
        e.patient == patient, e.ended_at.is_(None), e.expires_at > now)).scalars())
    members: set[str] = set()
    if teams:
        members.update(session.execute(select(CareTeamMemberRow.person_id)
                                       .where(CareTeamMemberRow.team_id.in_(sorted(teams)))).scalars())
    return persons | members, hprs, teams


# --- care teams ---------------------------------------------------------------------------------------------

def add_team_member(session: Session, *, team_id: str, person_id: str, by: str, at: datetime) -> TeamMemberView:
    row = session.get(CareTeamMemberRow, (team_id, person_id))
    if row is None:
        row = CareTeamMemberRow(team_id=team_id, person_id=person_id, added_at=at, added_by=by)
        session.add(row)
        session.flush()
    return TeamMemberView.model_validate(row)


def remove_team_member(session: Session, *, team_id: str, person_id: str) -> bool:
    result = session.execute(delete(CareTeamMemberRow).where(CareTeamMemberRow.team_id == team_id,
                                                             CareTeamMemberRow.person_id == person_id))
    return bool(getattr(result, "rowcount", 0))


def list_team_members(session: Session, team_id: str) -> list[TeamMemberView]:
    rows = session.execute(select(CareTeamMemberRow).where(CareTeamMemberRow.team_id == team_id)
                           .order_by(CareTeamMemberRow.person_id)).scalars()
    return [TeamMemberView.model_validate(row) for row in rows]


# --- restrictions and consents ------------------------------------------------------------------------------

def insert_restriction(session: Session, **values: Any) -> RestrictionView:
    row = RestrictionRow(**values)
    session.add(row)
    session.flush()
    return RestrictionView.model_validate(row)


def get_restriction(session: Session, restriction_id: str) -> RestrictionView | None:
    row = session.get(RestrictionRow, restriction_id)
    return None if row is None else RestrictionView.model_validate(row)


def lift_restriction(session: Session, restriction_id: str, *, at: datetime, by: str, reason: str) -> None:
    session.execute(update(RestrictionRow).where(RestrictionRow.id == restriction_id)
                    .values(lifted_at=at, lifted_by=by, lift_reason=reason))


def list_restrictions(session: Session, *, patient: str, include_lifted: bool) -> list[RestrictionView]:
    query = select(RestrictionRow).where(RestrictionRow.patient == patient).order_by(RestrictionRow.created_at,
                                                                                     RestrictionRow.id)
    if not include_lifted:
        query = query.where(RestrictionRow.lifted_at.is_(None))
    return [RestrictionView.model_validate(row) for row in session.execute(query).scalars()]


def insert_consent(session: Session, **values: Any) -> ConsentView:
    row = ConsentRow(**values)
    session.add(row)
    session.flush()
    return ConsentView.model_validate(row)


def revoke_consent(session: Session, consent_id: str, *, restriction_id: str, at: datetime) -> ConsentView | None:
    row = session.get(ConsentRow, consent_id)
    if row is None or row.restriction_id != restriction_id:
        return None
    if row.revoked_at is None:
        row.revoked_at = at
        session.flush()
    return ConsentView.model_validate(row)


def list_consents(session: Session, restriction_id: str) -> list[ConsentView]:
    rows = session.execute(select(ConsentRow).where(ConsentRow.restriction_id == restriction_id)
                           .order_by(ConsentRow.recorded_at, ConsentRow.id)).scalars()
    return [ConsentView.model_validate(row) for row in rows]


# --- emergency declarations ---------------------------------------------------------------------------------

def insert_declaration(session: Session, **values: Any) -> EmergencyView:
    row = EmergencyDeclarationRow(**values)
    session.add(row)
    session.flush()
    return EmergencyView.model_validate(row)


def get_declaration(session: Session, declaration_id: str) -> EmergencyView | None:
    row = session.get(EmergencyDeclarationRow, declaration_id)
    return None if row is None else EmergencyView.model_validate(row)


def end_declaration(session: Session, declaration_id: str, *, at: datetime) -> None:
    session.execute(update(EmergencyDeclarationRow).where(EmergencyDeclarationRow.id == declaration_id,
                                                          EmergencyDeclarationRow.ended_at.is_(None))
                    .values(ended_at=at))


# --- patient flags ------------------------------------------------------------------------------------------

def set_flags(session: Session, patient: str, *, confidential_address: bool, well_known: bool,
              at: datetime) -> None:
    row = session.get(PatientFlagsRow, patient)
    if row is None:
        session.add(PatientFlagsRow(patient=patient, confidential_address=confidential_address,
                                    well_known=well_known, updated_at=at))
    else:
        row.confidential_address, row.well_known, row.updated_at = confidential_address, well_known, at
    session.flush()


def bulk_upsert_flags(session: Session, flags: dict[str, tuple[bool, bool]], *, at: datetime) -> None:
    """Replace the flags of the given patients (delete then insert, in the caller's transaction)."""
    patients = list(flags)
    for start in range(0, len(patients), _CHUNK):
        session.execute(delete(PatientFlagsRow).where(PatientFlagsRow.patient.in_(patients[start:start + _CHUNK])))
    rows = [{"patient": p, "confidential_address": c, "well_known": w, "updated_at": at}
            for p, (c, w) in flags.items() if c or w]
    if rows:
        session.execute(insert(PatientFlagsRow), rows)


# --- published policies -------------------------------------------------------------------------------------

def insert_policy_version(session: Session, *, version: str, files: dict[str, str], by: str, comment: str,
                          at: datetime) -> int:
    row = PolicyVersionRow(version=version, files=json.dumps(files, sort_keys=True), published_by=by,
                           comment=comment, published_at=at)
    session.add(row)
    session.flush()
    return row.id


def latest_policy_version(session: Session) -> tuple[int, str, dict[str, str]] | None:
    row = session.execute(select(PolicyVersionRow).order_by(PolicyVersionRow.id.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        return None
    files: dict[str, str] = json.loads(row.files)
    return row.id, row.version, files

