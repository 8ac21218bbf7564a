"""The HR file feed: ``hr_staff.csv`` (one row per employment) and ``hr_staff.json`` (nested per person).

Formats are documented in ``iam/region/FORMATS.md`` (the region generator writes them). What this module
checks is the *syntax* of the file: columns and keys present, dates that are dates, rows of one employee
that agree on the person's fields. Identifier check digits, position codes and units are checked by the
planner for every source alike (:func:`provisioning.feed.check_person`, ``build_plan``).

:func:`read_feed` returns a :class:`FeedFile`: the parsed records, every :class:`Problem` found (file, line,
field, reason), and the raw identifiers of the people whose rows were rejected here, so that a snapshot never
takes a person with a bad row for a leaver. Raises :class:`FeedFileError` when the file as a whole cannot be
read (missing, not UTF-8, not CSV/JSON, missing header columns, wrong JSON frame); with such a file nothing
is applied, even with ``--skip-invalid``.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from provisioning.feed import EmploymentRecord, Origin, PersonRecord, Problem, parse_date

__all__ = ["HR_COLUMNS", "FeedFile", "FeedFileError", "read_feed", "write_rejects"]

HR_COLUMNS = (
    "employee_id", "national_id", "hpr_number", "given_name", "family_name", "address",
    "position_code", "legal_entity", "point_of_care", "department", "start_date", "end_date",
)
PERSON_FIELDS = ("national_id", "hpr_number", "given_name", "family_name", "address")
EMPLOYMENT_FIELDS = ("position_code", "legal_entity", "point_of_care", "department", "start_date", "end_date")
REQUIRED = frozenset({"employee_id", "national_id", "given_name", "family_name", "position_code",
                      "legal_entity", "point_of_care", "department", "start_date"})
JSON_FORMAT = "iam-hr-feed"
JSON_VERSION = 1


class FeedFileError(Exception):
    """The file as a whole cannot be read; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class FeedFile:
    """A parsed feed file. ``protected`` holds raw employee ids and national ids of rejected people."""

    path: Path
    format: str
    records: list[PersonRecord]
    problems: list[Problem]
    protected: set[str] = field(default_factory=set)
    rejected_lines: set[int] = field(default_factory=set)  # every row of a person rejected while parsing
    rows: int = 0


def read_feed(path: Path) -> FeedFile:
    """Parse ``path`` as CSV or JSON (by suffix ``.json``, else CSV); see the module docstring."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FeedFileError([Problem(Origin(path.name), "file", "does not exist")]) from None
    except OSError as exc:
        raise FeedFileError([Problem(Origin(path.name), "file", f"cannot be read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise FeedFileError([Problem(Origin(path.name), "file",
                                     f"is not UTF-8 (byte {exc.start})")]) from None
    if path.suffix.lower() == ".json":
        return _read_json(path, text)
    return _read_csv(path, text)


# --- CSV -------------------------------------------------------------------------------------------


@dataclass
class _Group:
    """The rows of one employee while reading the CSV."""

    first_line: int
    person: tuple[str, str, str, str, str]  # PERSON_FIELDS
    jobs: list[EmploymentRecord] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: bool = False


def _read_csv(path: Path, text: str) -> FeedFile:
    name = path.name
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FeedFileError([Problem(Origin(name, 1), "header", "the file is empty")]) from None
    except csv.Error as exc:
        raise FeedFileError([Problem(Origin(name, 1), "header", f"not CSV: {exc}")]) from None
    header = [column.strip() for column in header]
    missing = [column for column in HR_COLUMNS if column not in header]
    if missing:
        raise FeedFileError([Problem(Origin(name, 1), column, "missing column") for column in missing])
    positions = tuple(header.index(column) for column in HR_COLUMNS)
    feed = FeedFile(path=path, format="csv", records=[], problems=[])
    groups: dict[str, _Group] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            feed.problems.append(Problem(Origin(name, reader.line_num), "row", f"not CSV: {exc}"))
            feed.rejected_lines.add(reader.line_num)
            feed.rows += 1
            continue
        if not row:
            continue
        feed.rows += 1
        _csv_row(feed, groups, row, positions, header_width=len(header), origin=Origin(name, reader.line_num))
    for employee_id, group in groups.items():
        national_id, hpr_number, given_name, family_name, address = group.person
        if group.bad:
            feed.protected.update((employee_id, national_id))
            feed.rejected_lines.update(group.lines)
            continue
        feed.records.append(PersonRecord(
            employee_id=employee_id, national_id=national_id, hpr_number=hpr_number or None,
            given_name=given_name, family_name=family_name, address=address, employments=tuple(group.jobs),
            origin=Origin(name, group.first_line), aliases=(employee_id, national_id),
        ))
    return feed


def _csv_row(feed: FeedFile, groups: dict[str, _Group], row: list[str], positions: tuple[int, ...], *,
             header_width: int, origin: Origin) -> None:
    problems: list[Problem] = []
    width = len(row)
    if width != header_width:
        absent = [c for c, i in zip(HR_COLUMNS, positions, strict=True) if i >= width]
        where = absent[0] if absent else "row"
        reason = (f"missing column (the row has {width} fields, the header {header_width})" if absent
                  else f"the row has {width} fields, the header {header_width}")
        problems.append(Problem(origin, where, reason))
    values = [row[i].strip() if i < width else "" for i in positions]
    (employee_id, national_id, hpr_number, given_name, family_name, address, position_code, legal_entity,
     point_of_care, department, start_text, end_text) = values
    if not problems:
        problems.extend(Problem(origin, c, "is empty")
                        for c, v in zip(HR_COLUMNS, values, strict=True) if not v and c in REQUIRED)
    start = _date(start_text, "start_date", origin, problems) if start_text else None
    end = _date(end_text, "end_date", origin, problems) if end_text else None
    person = (national_id, hpr_number, given_name, family_name, address)
    group = groups.get(employee_id) if employee_id else None
    if group is None:
        group = _Group(first_line=origin.line, person=person)
        if employee_id:
            groups[employee_id] = group
    elif person != group.person:
        for column, mine, first in zip(PERSON_FIELDS, person, group.person, strict=True):
            if mine != first:
                problems.append(Problem(origin, column, f"differs from line {group.first_line} "
                                                        f"for employee {employee_id}"))
    group.lines.append(origin.line)
    if problems or start is None:
        feed.problems.extend(problems)
        feed.rejected_lines.add(origin.line)
        group.bad = True
        feed.protected.update(v for v in (employee_id, national_id) if v)
        return
    group.jobs.append(EmploymentRecord(
        position_code=position_code, legal_entity=legal_entity, point_of_care=point_of_care, department=department,
        start_date=start, end_date=end, origin=origin))


def _date(value: str, column: str, origin: Origin, problems: list[Problem]) -> date | None:
    parsed = parse_date(value)
    if parsed is None:
        problems.append(Problem(origin, column, f"'{value}' is not a date (YYYY-MM-DD)"))
    return parsed


# --- JSON ------------------------------------------------------------------------------------------


class _Lines:
    """Character offset -> 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [match.start() for match in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return bisect.bisect_left(self._starts, offset) + 1


def _json_items(text: str, name: str) -> Iterator[tuple[str, int, Any]]:
    """Top-level keys of the document with their values; ``persons`` elements one by one with offsets.

    Walking the document with ``raw_decode`` (the C scanner) keeps the offset of every person, so problems
    name a line even in a pretty-printed file.
    """
    decoder = json.JSONDecoder()
    lines = _Lines(text)

    def fail(offset: int, reason: str) -> FeedFileError:
        return FeedFileError([Problem(Origin(name, lines(offset)), "document", reason)])

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def expect(i: int, ch: str) -> int:
        i = skip(i)
        if i >= len(text) or text[i] != ch:
            raise fail(i, f"expected '{ch}'")
        return i + 1

    def value(i: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, skip(i))
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, f"not JSON: {exc.msg}") from None

    i = expect(0, "{")
    if skip(i) < len(text) and text[skip(i)] == "}":
        return
    while True:
        key, i = value(i)
        if not isinstance(key, str):
            raise fail(i, "expected a key")
        i = expect(i, ":")
        if key == "persons":
            i = expect(i, "[")
            if text[skip(i):skip(i) + 1] == "]":
                i = skip(i) + 1
            else:
                while True:
                    start = skip(i)
                    person, i = value(i)
                    yield "persons", lines(start), person
                    i = skip(i)
                    if i < len(text) and text[i] == ",":
                        i += 1
                        continue
                    i = expect(i, "]")
                    break
        else:
            item, i = value(i)
            yield key, lines(i), item
        i = skip(i)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        i = expect(i, "}")
        break
    if skip(i) != len(text):
        raise fail(skip(i), "unexpected text after the document")


def _read_json(path: Path, text: str) -> FeedFile:
    name = path.name
    feed = FeedFile(path=path, format="json", records=[], problems=[])
    header: dict[str, Any] = {}
    seen_persons = False
    for key, line, item in _json_items(text, name):
        if key != "persons":
            header[key] = item
            continue
        seen_persons = True
        feed.rows += 1
        _json_person(feed, item, Origin(name, line))
    if header.get("format") != JSON_FORMAT or header.get("version") != JSON_VERSION:
        raise FeedFileError([Problem(Origin(name, 1), "format", f"expected format '{JSON_FORMAT}' version "
                                     f"{JSON_VERSION}, got {header.get('format')!r} {header.get('version')!r}")])
    if not seen_persons:
        raise FeedFileError([Problem(Origin(name, 1), "persons", "missing key")])
    return feed


def _text(obj: dict[str, Any], key: str, prefix: str, origin: Origin, problems: list[Problem], *,
          required: bool) -> str:
    if key not in obj:
        problems.append(Problem(origin, prefix + key, "missing key"))
        return ""
    value = obj[key]
    if value is None:
        if required:
            problems.append(Problem(origin, prefix + key, "is empty"))
        return ""
    if not isinstance(value, str):
        problems.append(Problem(origin, prefix + key, f"expected a string, got {type(value).__name__}"))
        return ""
    if required and not value.strip():
        problems.append(Problem(origin, prefix + key, "is empty"))
    return value.strip()


def _json_person(feed: FeedFile, item: Any, origin: Origin) -> None:
    problems: list[Problem] = []
    if not isinstance(item, dict):
        feed.problems.append(Problem(origin, "person", f"expected an object, got {type(item).__name__}"))
        feed.rejected_lines.add(origin.line)
        return
    person = {key: _text(item, key, "", origin, problems, required=key in REQUIRED)
              for key in ("employee_id", *PERSON_FIELDS)}
    jobs: list[EmploymentRecord] = []
    raw_jobs = item.get("employments")
    if not isinstance(raw_jobs, list):
        problems.append(Problem(origin, "employments", "missing key" if raw_jobs is None and
                                "employments" not in item else "expected a list"))
        raw_jobs = []
    for n, raw in enumerate(raw_jobs):
        prefix = f"employments[{n}]."
        if not isinstance(raw, dict):
            problems.append(Problem(origin, prefix.rstrip("."), "expected an object"))
            continue
        values = {key: _text(raw, key, prefix, origin, problems, required=key in REQUIRED)
                  for key in EMPLOYMENT_FIELDS}
        start = _date(values["start_date"], prefix + "start_date", origin, problems) \
            if values["start_date"] else None
        end = _date(values["end_date"], prefix + "end_date", origin, problems) if values["end_date"] else None
        if start is not None:
            jobs.append(EmploymentRecord(
                position_code=values["position_code"], legal_entity=values["legal_entity"],
                point_of_care=values["point_of_care"], department=values["department"],
                start_date=start, end_date=end, origin=origin, path=prefix))
    aliases = tuple(v for v in (person["employee_id"], person["national_id"]) if v)
    if problems:
        feed.problems.extend(problems)
        feed.protected.update(aliases)
        feed.rejected_lines.add(origin.line)
        return
    feed.records.append(PersonRecord(
        employee_id=person["employee_id"], national_id=person["national_id"],
        hpr_number=person["hpr_number"] or None, given_name=person["given_name"],
        family_name=person["family_name"], address=person["address"], employments=tuple(jobs),
        origin=origin, aliases=aliases))


# --- rejects ---------------------------------------------------------------------------------------


def write_rejects(feed: FeedFile, lines: Iterable[int], target: Path, reasons: dict[int, str]) -> int:
    """Copy the rejected ``lines`` of the feed file to ``target`` in the same format; return how many.

    CSV: the header plus the rejected rows, with a trailing ``rejected_because`` column (ignored on
    re-import), so the file can be fixed and imported again in delta mode. JSON: the same frame with the
    rejected persons, each with a ``rejected_because`` key.
    """
    wanted = sorted(set(lines))
    if feed.format == "json":
        return _json_rejects(feed, wanted, target, reasons)
    rows = 0
    with feed.path.open(encoding="utf-8-sig", newline="") as source, \
            target.open("w", encoding="utf-8", newline="") as out:
        reader = csv.reader(source, strict=False)
        writer = csv.writer(out, lineterminator="\n")
        header = next(reader)
        writer.writerow([*header, "rejected_because"])
        want = set(wanted)
        for row in reader:
            if reader.line_num in want:
                writer.writerow([*row, reasons.get(reader.line_num, "")])
                rows += 1
    return rows


def _json_rejects(feed: FeedFile, wanted: list[int], target: Path, reasons: dict[int, str]) -> int:
    text = feed.path.read_text(encoding="utf-8-sig")
    want = set(wanted)
    chosen = []
    for key, line, item in _json_items(text, feed.path.name):
        if key == "persons" and line in want:
            if isinstance(item, dict):
                item = {**item, "rejected_because": reasons.get(line, "")}
            chosen.append(json.dumps(item, ensure_ascii=False))
    body = ",\n".join(chosen)
    target.write_text(f'{{"format": "{JSON_FORMAT}", "version": {JSON_VERSION}, "persons": [\n{body}\n]}}\n',
                      encoding="utf-8")
    return len(chosen)
