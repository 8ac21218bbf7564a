"""The HR feed (hr_staff.csv, hr_staff.json) and the HPR extract (hpr.csv), written from staff.

The CSV feed has one row per employment, person fields repeated; the JSON feed has the same
content nested per person (one person per line, so it can be read line by line as well as parsed
as a whole). ``hpr.csv`` has one row per authorisation. See FORMATS.md for every column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .model import Region
from .writer import IsoDates, csv_file

if TYPE_CHECKING:
    from .staff import StaffMember

__all__ = [
    "HPR_COLUMNS",
    "HR_FEED_FORMAT",
    "HR_FEED_VERSION",
    "HR_STAFF_COLUMNS",
    "write_staff_files",
]

HR_FEED_FORMAT = "iam-hr-feed"
HR_FEED_VERSION = 1
HR_STAFF_COLUMNS = (
    "employee_id", "national_id", "hpr_number", "given_name", "family_name", "address",
    "position_code", "legal_entity", "point_of_care", "department", "start_date", "end_date",
)
HPR_COLUMNS = ("hpr_number", "national_id", "authorisation", "status", "valid_from", "valid_to")


def write_staff_files(
    members: Sequence[StaffMember], region: Region, as_of: date, out_dir: Path
) -> dict[str, int]:
    """Write the three staff files into ``out_dir``; return counts for the summary."""
    iso = IsoDates()
    today = as_of.toordinal()
    counts = dict.fromkeys(
        (
            "staff", "employments", "employments_future", "employments_ended",
            "hpr_authorisations", "hpr_lapsed", "hpr_suspended",
        ),
        0,
    )
    with (
        csv_file(out_dir / "hr_staff.csv", HR_STAFF_COLUMNS) as hr,
        csv_file(out_dir / "hpr.csv", HPR_COLUMNS) as hpr,
        (out_dir / "hr_staff.json").open("w", encoding="utf-8", newline="\n") as feed,
    ):
        feed.write(
            f'{{"format": "{HR_FEED_FORMAT}", "version": {HR_FEED_VERSION}, '
            f'"as_of": "{as_of.isoformat()}", "persons": [\n'
        )
        for n, m in enumerate(members):
            jobs = []
            for job in m.employments:
                dept = region.departments[job.department]
                start, end = iso(job.start), iso.optional(job.end)
                hr.writerow(
                    (
                        m.employee_id, m.national_id, m.hpr_number, m.given_name, m.family_name,
                        m.address, job.position, dept.legal_entity, dept.point_of_care,
                        dept.unit.unit_id, start, end,
                    )
                )
                jobs.append(
                    {
                        "position_code": job.position,
                        "legal_entity": dept.legal_entity,
                        "point_of_care": dept.point_of_care,
                        "department": dept.unit.unit_id,
                        "start_date": start,
                        "end_date": end or None,
                    }
                )
                counts["employments"] += 1
                counts["employments_future"] += job.start > today
                counts["employments_ended"] += job.end is not None and job.end < today
            person = {
                "employee_id": m.employee_id,
                "national_id": m.national_id,
                "hpr_number": m.hpr_number or None,
                "given_name": m.given_name,
                "family_name": m.family_name,
                "address": m.address,
                "employments": jobs,
            }
            feed.write((",\n" if n else "") + json.dumps(person, ensure_ascii=False))
            for a in m.authorisations:
                hpr.writerow(
                    (
                        m.hpr_number, m.national_id, a.code, a.status, iso(a.valid_from),
                        iso.optional(a.valid_to),
                    )
                )
                counts["hpr_authorisations"] += 1
                counts["hpr_lapsed"] += a.status == "lapsed"
                counts["hpr_suspended"] += a.status == "suspended"
        feed.write("\n]}\n")
    counts["staff"] = len(members)
    return counts
