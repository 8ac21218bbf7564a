"""FHIR R4 AuditEvent (IHE BALP) for logged accesses, and the search parameters that find them.

Pure mapping, no web framework and no database. Each access event becomes an AuditEvent following the
IHE Basic Audit Log Patterns (BALP) PatientRead / PatientCreate / PatientUpdate / PatientDelete /
PatientQuery profiles:

* ``type`` ``rest`` with the RESTful interaction as ``subtype``; ``action`` C/R/U/D/E; ``outcome`` 0
  (permitted), 4 (denied) or 8 (error); ``recorded`` is when the log appended it, ``period.start`` when
  the access happened;
* agents: the client application (DICOM 110153 Source Role ID, with the network address), this service
  (110152 Destination Role ID) and the user (``humanuser``, ``requestor``), the user identified by HPR
  number (OID 2.16.578.1.12.4.1.4.4) or national id (2.16.578.1.12.4.1.4.1), with role, purpose of use
  and the access token's ``jti`` in ``agent.policy`` (as BALP asks);
* entities: the patient (national id) and the part of the record (``data_item``);
* Norwegian fields as extensions (:data:`EXTENSION_BASE`): legal entity, point of care and department
  (organisation numbers, OID 2.16.578.1.12.4.1.4.101), decision id, policy rule, emergency and
  self-granted flags, whether data changed, proxy representation and request id.

The free-text reason is *not* exported: it stays internal to privacy officers' own tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.purposes import purpose_system
from audit.query import LoggedEvent

__all__ = ["EXTENSION_BASE", "FhirSearch", "SearchError", "audit_event", "parse_search", "searchset"]

EXTENSION_BASE = "https://iam-journal.example/fhir/StructureDefinition/"
OID_NATIONAL_ID = "urn:oid:2.16.578.1.12.4.1.4.1"
OID_HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
OID_ORG = "urn:oid:2.16.578.1.12.4.1.4.101"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"

_INTERACTIONS = {  # action -> (BALP profile, restful-interaction, FHIR action code)
    "read": ("IHE.BasicAudit.PatientRead", "read", "R"),
    "print": ("IHE.BasicAudit.PatientRead", "read", "R"),
    "export": ("IHE.BasicAudit.PatientRead", "read", "R"),
    "search": ("IHE.BasicAudit.PatientQuery", "search-type", "E"),
    "create": ("IHE.BasicAudit.PatientCreate", "create", "C"),
    "write": ("IHE.BasicAudit.PatientUpdate", "update", "U"),
    "update": ("IHE.BasicAudit.PatientUpdate", "update", "U"),
    "delete": ("IHE.BasicAudit.PatientDelete", "delete", "D"),
}
_OUTCOMES = {"permit": ("0", "permitted"), "deny": ("4", "denied by access policy"), "error": ("8", "error")}


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": EXTENSION_BASE + name, **value}


def _extensions(event: LoggedEvent) -> list[dict[str, Any]]:
    found = []
    for name, unit in (("legal-entity", event.legal_entity), ("point-of-care", event.point_of_care),
                       ("department", event.department)):
        if unit is not None:
            found.append(_ext(name, valueIdentifier={"system": OID_ORG, "value": unit}))
    for name, text in (("decision-id", event.decision_id), ("policy-rule", event.policy_rule),
                       ("data-item", event.data_item), ("request-id", event.request_id)):
        if text is not None:
            found.append(_ext(name, valueString=text))
    found.append(_ext("emergency-access", valueBoolean=event.emergency))
    found.append(_ext("self-granted", valueBoolean=event.self_granted))
    found.append(_ext("data-changed", valueBoolean=bool(event.changed)))
    if event.proxy_for is not None:
        found.append(_ext("proxy-for", valueIdentifier={"system": OID_NATIONAL_ID, "value": event.proxy_for}))
    return found


def _purpose(event: LoggedEvent) -> list[dict[str, Any]]:
    if event.purpose_of_use is None:
        return []
    return [{"coding": [{"system": purpose_system(event.purpose_of_use), "code": event.purpose_of_use}]}]


def _user_agent(event: LoggedEvent) -> dict[str, Any]:
    if event.user_hpr_number is not None:
        identifier = {"system": OID_HPR, "value": event.user_hpr_number}
    elif event.user_national_id is not None:
        identifier = {"system": OID_NATIONAL_ID, "value": event.user_national_id}
    else:
        identifier = {"value": event.user_id or "unknown"}
    who: dict[str, Any] = {"identifier": identifier}
    if event.user_name is not None:
        who["display"] = event.user_name
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                             "code": "humanuser", "display": "human user"}]},
        "who": who,
        "requestor": True,
    }
    if event.user_id is not None:
        agent["altId"] = event.user_id
    if event.role is not None:
        agent["role"] = [{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9060", "code": event.role}]}]
    if event.token_jti is not None:
        agent["policy"] = [event.token_jti]
    if event.purpose_of_use is not None:
        agent["purposeOfUse"] = _purpose(event)
    return agent


def audit_event(event: LoggedEvent, *, server: str) -> dict[str, Any]:
    """The FHIR R4 AuditEvent (JSON) of one access event; ``server`` is this service's base URL."""
    profile, interaction, action = _INTERACTIONS.get(event.action, ("IHE.BasicAudit.PatientRead", "read", "E"))
    outcome, description = _OUTCOMES.get(event.outcome or "permit", ("8", "error"))
    client: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": {"identifier": {"value": event.client_id or "unknown"}},
        "requestor": False,
    }
    if event.source_address is not None:
        client["network"] = {"address": event.source_address, "type": "2"}
    entities: list[dict[str, Any]] = []
    if event.patient is not None:
        entities.append({
            "what": {"identifier": {"system": OID_NATIONAL_ID, "value": event.patient}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                     "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                     "display": "Patient"},
        })
    if event.data_item is not None:
        entities.append({
            "what": {"display": event.data_item},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                     "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4",
                     "display": "Domain Resource"},
            "name": event.data_item,
        })
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": event.event_id,
        "meta": {"profile": [BALP + profile]},
        "extension": _extensions(event),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "Restful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": action,
        "period": {"start": _instant(event.occurred_at), "end": _instant(event.occurred_at)},
        "recorded": _instant(event.recorded_at),
        "outcome": outcome,
        "outcomeDesc": description,
        "agent": [client,
                  {"type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
                   "who": {"display": "IAM access log", "identifier": {"value": server}},
                   "requestor": False, "network": {"address": server, "type": "5"}},
                  _user_agent(event)],
        "source": {"site": server, "observer": {"display": "IAM access log"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
    }
    if event.purpose_of_use is not None:
        resource["purposeOfEvent"] = _purpose(event)
    if entities:
        resource["entity"] = entities
    return resource


def searchset(events: list[LoggedEvent], *, server: str, self_url: str, next_url: str | None) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"fullUrl": f"{server}/fhir/AuditEvent/{event.event_id}",
                   "resource": audit_event(event, server=server), "search": {"mode": "match"}}
                  for event in events],
    }


class SearchError(ValueError):
    """A FHIR search parameter has a value we cannot use; the message names it."""


@dataclass(frozen=True)
class FhirSearch:
    patient: str | None
    agent: str | None
    start: datetime | None
    end: datetime | None
    count: int
    cursor: str | None


_DATE = re.compile(r"^(eq|ge|gt|le|lt)?(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$")


def _reference(name: str, value: str, *, resource_types: tuple[str, ...], system: str) -> str:
    if "|" in value:
        given_system, _, identifier = value.partition("|")
        if given_system not in ("", system) or not identifier:
            raise SearchError(f"{name}={value!r}: expected an identifier of system {system}")
        return identifier
    for resource_type in resource_types:
        if value.startswith(resource_type + "/"):
            return value.removeprefix(resource_type + "/")
    if "/" in value or not value:
        raise SearchError(f"{name}={value!r}: expected {' or '.join(t + '/ID' for t in resource_types)} or an id")
    return value


def _date_bounds(values: list[str]) -> tuple[datetime | None, datetime | None]:
    start: datetime | None = None
    end: datetime | None = None
    for value in values:
        match = _DATE.match(value)
        if match is None:
            raise SearchError(f"date={value!r}: expected [ge|gt|le|lt|eq]YYYY-MM-DD or a dateTime with a time zone")
        prefix, day, clock = match.group(1) or "eq", match.group(2), match.group(3)
        try:
            if clock:
                low = high = datetime.fromisoformat(day + clock.replace("Z", "+00:00")).astimezone(UTC)
            else:
                low = datetime.fromisoformat(day).replace(tzinfo=UTC)
                high = low + timedelta(days=1) - timedelta(microseconds=1)
        except ValueError:
            raise SearchError(f"date={value!r}: {day} is not a calendar date") from None
        if prefix in ("ge", "eq"):
            start = low if start is None else max(start, low)
        if prefix == "gt":
            bound = high + timedelta(microseconds=1)
            start = bound if start is None else max(start, bound)
        if prefix in ("le", "eq"):
            end = high if end is None else min(end, high)
        if prefix == "lt":
            bound = low - timedelta(microseconds=1)
            end = bound if end is None else min(end, bound)
    return start, end


def parse_search(params: list[tuple[str, str]], *, max_count: int = 1000) -> FhirSearch:
    """Read the supported parameters (``patient``, ``agent``, ``date`` (repeatable), ``_count``,
    ``_cursor``); raise SearchError for an unsupported parameter or an unusable value."""
    patient = agent = cursor = None
    dates: list[str] = []
    count = 50
    for name, value in params:
        if name == "patient":
            patient = _reference("patient", value, resource_types=("Patient",), system=OID_NATIONAL_ID)
        elif name == "agent":
            agent = _reference("agent", value, resource_types=("Practitioner", "PractitionerRole"),
                               system="urn:iam:person")
        elif name == "date":
            dates.append(value)
        elif name == "_count":
            if not value.isdigit() or not 1 <= int(value) <= max_count:
                raise SearchError(f"_count={value!r}: expected a whole number from 1 to {max_count}")
            count = int(value)
        elif name == "_cursor":
            cursor = value
        elif name not in ("_format",):
            raise SearchError(f"search parameter {name!r} is not supported; use patient, agent, date, _count")
    start, end = _date_bounds(dates)
    return FhirSearch(patient=patient, agent=agent, start=start, end=end, count=count, cursor=cursor)
