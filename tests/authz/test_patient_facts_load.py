"""Loading patients' facts in bulk (the policy information point's one query batch per set of patients).

The decision engine loads every patient of a batch of requests at once, in chunks of statements; each patient
must get exactly its own active facts however many are loaded together, and the same facts as alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from iam.authz import store
from iam.authz.model import CareRelationship, Consent, EmergencyDeclaration, Restriction
from iam.authz.models import (
    CareRelationshipRow,
    ConsentRow,
    EmergencyDeclarationRow,
    PatientFlagsRow,
    RestrictionRow,
)
from iam.runtime import Runtime

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _patient(number: int) -> str:
    return f"{number:011d}"


def _add_facts(runtime: Runtime, number: int) -> None:
    """For one patient: one active fact of each kind beside ended, lifted, revoked and expired ones."""
    p = _patient(number)
    with runtime.sessions.begin() as session:
        common = {"patient": p, "valid_from": NOW - 10 * HOUR, "source": "test", "created_by": "test"}
        session.add_all([
            CareRelationshipRow(id=f"{p}-active", kind="admission", unit_id="974600000", person_id="person-a",
                                practitioner_hpr="1234567", team_id="team-a", valid_to=NOW + 5 * HOUR, **common),
            CareRelationshipRow(id=f"{p}-ended", kind="admission", unit_id="974600001", ended_at=NOW - HOUR,
                                **common),
            CareRelationshipRow(id=f"{p}-expired", kind="referral", unit_id="974600002", valid_to=NOW - HOUR,
                                **common),
            RestrictionRow(id=f"{p}-block", patient=p, kind="block_person", person_id="person-x",
                           requested_by="patient", created_by="test"),
            RestrictionRow(id=f"{p}-lifted", patient=p, kind="block_person", person_id="person-y",
                           requested_by="patient", created_by="test", lifted_at=NOW - HOUR),
        ])
        session.flush()
        consent = {"restriction_id": f"{p}-block", "patient": p, "unit_id": "974600000", "valid_from": NOW - HOUR,
                   "reference": "ref", "recorded_by": "test"}
        declared = {"patient": p, "person_id": "person-z", "purpose": "BTG", "reason_code": "unconscious_patient",
                    "client_id": "test"}
        session.add_all([
            ConsentRow(id=f"{p}-consent", valid_to=NOW + HOUR, **consent),
            ConsentRow(id=f"{p}-revoked", revoked_at=NOW - HOUR, **consent),
            ConsentRow(id=f"{p}-consent-expired", **{**consent, "valid_from": NOW - 3 * HOUR}, valid_to=NOW - HOUR),
            EmergencyDeclarationRow(id=f"{p}-btg", declared_at=NOW - HOUR, expires_at=NOW + HOUR, **declared),
            EmergencyDeclarationRow(id=f"{p}-old-btg", declared_at=NOW - 9 * HOUR, expires_at=NOW - 5 * HOUR,
                                    **declared),
            EmergencyDeclarationRow(id=f"{p}-ended-btg", declared_at=NOW - HOUR, expires_at=NOW + HOUR,
                                    ended_at=NOW - HOUR / 2, **declared),
            PatientFlagsRow(patient=p, confidential_address=True, well_known=number % 2 == 0),
        ])


def test_a_bulk_load_across_chunks_gives_each_patient_exactly_its_active_facts(runtime: Runtime) -> None:
    chunk = store._CHUNK  # the statements take this many patients at a time
    with_facts = [0, chunk - 1, chunk, 2 * chunk - 1, 2 * chunk, 2 * chunk + 202]  # either side of each boundary
    for number in with_facts:
        _add_facts(runtime, number)
    patients = [_patient(n) for n in range(2 * chunk + 203)]
    with runtime.sessions() as session:
        loaded = store.load_patient_facts(session, patients, now=NOW)
        alone = {_patient(n): store.load_patient_facts(session, [_patient(n)], now=NOW)[_patient(n)]
                 for n in with_facts}
    assert list(loaded) == patients
    for number in with_facts:
        p = _patient(number)
        facts = loaded[p]
        assert facts == alone[p]
        # Every field, so that two columns swapped show; times compare equal only if they come back aware.
        assert facts.relationships == (CareRelationship(
            f"{p}-active", p, "admission", unit_id="974600000", person_id="person-a", practitioner_hpr="1234567",
            team_id="team-a", valid_from=NOW - 10 * HOUR, valid_to=NOW + 5 * HOUR),)
        assert facts.restrictions == (Restriction(f"{p}-block", p, "block_person", person_id="person-x"),)
        assert facts.consents == (Consent(f"{p}-consent", f"{p}-block", person_id=None, hpr_number=None,
                                          unit_id="974600000", valid_from=NOW - HOUR, valid_to=NOW + HOUR),)
        assert facts.emergencies == (EmergencyDeclaration(
            f"{p}-btg", p, "person-z", "BTG", "unconscious_patient", declared_at=NOW - HOUR, expires_at=NOW + HOUR),)
        assert (facts.confidential_address, facts.well_known) == (True, number % 2 == 0)
    for number in (1, chunk - 2, chunk + 1, 2 * chunk + 201):
        facts = loaded[_patient(number)]
        assert (facts.relationships, facts.restrictions, facts.consents, facts.emergencies) == ((), (), (), ())
        assert (facts.confidential_address, facts.well_known) == (False, False)
