"""LDAP entries -> :class:`~provisioning.feed.PersonRecord`, as the mapping file says.

Only the *shape* is checked here (attribute present, dates that are dates, employment values that parse);
identifiers, position codes and units are checked by the planner exactly as for the HR file. Each problem
names the entry's DN and the LDAP attribute. Dates may be GeneralizedTime (``20240101000000Z``, as
``createTimestamp``) or ``YYYY-MM-DD``; a GeneralizedTime is taken as the date in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from provisioning.feed import EmploymentRecord, Origin, PersonRecord, Problem, parse_date
from provisioning.ldap.config import LdapConfig

__all__ = ["EMPLOYMENT_KEYS", "LdapEntry", "entry_to_record", "parse_ldap_date"]

#: The keys of one value of the multi-valued employments attribute.
EMPLOYMENT_KEYS = ("position", "legalEntity", "pointOfCare", "department", "start", "end")


@dataclass(frozen=True, slots=True)
class LdapEntry:
    """One search result: its DN and its attributes, names lower-cased, values decoded as UTF-8."""

    dn: str
    attributes: Mapping[str, Sequence[str]]

    def first(self, name: str | None) -> str | None:
        if name is None:
            return None
        values = self.attributes.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> Sequence[str]:
        return self.attributes.get(name.lower(), ())


def parse_ldap_date(value: str) -> date | None:
    """``YYYY-MM-DD`` or GeneralizedTime ``YYYYMMDDHHMMSS[.f]Z`` -> the date; None when neither."""
    if len(value) >= 8 and value[:8].isdigit():
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            return None
    return parse_date(value)


def _employments_from_attribute(entry: LdapEntry, config: LdapConfig, origin: Origin,
                                problems: list[Problem]) -> list[EmploymentRecord]:
    assert config.employments is not None
    attribute = config.employments.attribute
    jobs: list[EmploymentRecord] = []
    for index, raw in enumerate(entry.all(attribute)):
        where = f"{attribute}[{index}]"
        fields: dict[str, str] = {}
        for part in raw.split(";"):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in EMPLOYMENT_KEYS:
                problems.append(Problem(origin, where, f"'{part}' is not one of {', '.join(EMPLOYMENT_KEYS)}=..."))
                break
            fields[key.strip()] = value.strip()
        else:
            missing = [key for key in EMPLOYMENT_KEYS[:5] if not fields.get(key)]
            if missing:
                problems.append(Problem(origin, where, f"missing {', '.join(missing)}"))
                continue
            job = _job(config, origin, where, position=fields["position"], legal_entity=fields["legalEntity"],
                       point_of_care=fields["pointOfCare"], department=fields["department"],
                       start=fields["start"], end=fields.get("end") or None, problems=problems)
            if job is not None:
                jobs.append(job)
    return jobs


def _employment_from_attributes(entry: LdapEntry, config: LdapConfig, origin: Origin,
                                problems: list[Problem]) -> list[EmploymentRecord]:
    spec = config.employment
    assert spec is not None
    values = {name: entry.first(getattr(spec, name)) for name in
              ("position_code", "legal_entity", "point_of_care", "department", "start_date", "end_date")}
    if values["position_code"] is None and values["department"] is None:
        return []  # no job in the directory: a leaver
    for name in ("position_code", "legal_entity", "point_of_care", "department", "start_date"):
        if not values[name]:
            problems.append(Problem(origin, getattr(spec, name), f"attribute for {name} is missing"))
    if problems:
        return []
    job = _job(config, origin, spec.department, position=values["position_code"] or "",
               legal_entity=values["legal_entity"] or "", point_of_care=values["point_of_care"] or "",
               department=values["department"] or "", start=values["start_date"] or "",
               end=values["end_date"], problems=problems)
    return [job] if job is not None else []


def _job(config: LdapConfig, origin: Origin, where: str, *, position: str, legal_entity: str, point_of_care: str,
         department: str, start: str, end: str | None, problems: list[Problem]) -> EmploymentRecord | None:
    start_date = parse_ldap_date(start)
    end_date = parse_ldap_date(end) if end else None
    if start_date is None:
        problems.append(Problem(origin, where, f"start date '{start}' is not a date"))
    if end is not None and end_date is None:
        problems.append(Problem(origin, where, f"end date '{end}' is not a date"))
    if start_date is None or (end is not None and end_date is None):
        return None
    return EmploymentRecord(position_code=config.position_codes.get(position, position), legal_entity=legal_entity,
                            point_of_care=point_of_care, department=department, start_date=start_date,
                            end_date=end_date, origin=origin, path=f"{where}.")


def entry_to_record(entry: LdapEntry, config: LdapConfig) -> tuple[PersonRecord | None, list[Problem]]:
    """The person an entry describes, or None and the problems that stop it."""
    origin = Origin(f"{config.source}:{entry.dn}")
    names = config.attributes
    problems: list[Problem] = []
    national_id = entry.first(names.national_id)
    if not national_id:
        problems.append(Problem(origin, names.national_id, "attribute for the national id is missing"))
    employee_id = entry.first(names.employee_id)
    if config.employments is not None:
        jobs = _employments_from_attribute(entry, config, origin, problems)
    else:
        jobs = _employment_from_attributes(entry, config, origin, problems)
    aliases = tuple(value for value in (employee_id, national_id) if value)
    if problems or not national_id:
        return None, problems
    record = PersonRecord(
        employee_id=employee_id, national_id=national_id, hpr_number=entry.first(names.hpr_number),
        given_name=entry.first(names.given_name) or "", family_name=entry.first(names.family_name) or "",
        address=entry.first(names.address) or "", employments=tuple(jobs), origin=origin, aliases=aliases,
    )
    return record, []
