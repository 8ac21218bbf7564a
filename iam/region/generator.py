"""Generate a synthetic health region into a directory: the one public entry point, ``generate``.

Contract
--------
* Deterministic: the same ``(seed, scale, as_of)`` gives byte-identical files. Each stage draws
  from its own ``random.Random`` seeded from ``(seed, stage)``; nothing reads the clock, the
  global RNG, the environment or set/dict iteration order of unordered inputs.
* Everything is relative to ``as_of`` (default ``DEFAULT_AS_OF``), the day the snapshot describes.
* Counts scale linearly with ``scale`` (rounded half up, at least 1 of each organisation kind);
  at 1.0 the region matches the reference region of docs/domain.md.
* Files are written in stage order and ``manifest.json`` last, with each file's row count and
  SHA-256: a directory without a manifest is incomplete. Existing files of the same names are
  replaced; other files in the directory are left alone.
* Raises ``ValueError`` for a scale outside (0, 10], a non-integer seed, an ``as_of`` that is not
  a plain date in 1960-2039 (national ids cannot encode births after 2039), or an ``out_dir``
  that exists and is not a directory. ``OSError`` from the file system passes through.

The file formats are documented in iam/region/FORMATS.md.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from pathlib import Path

from .addresses import AddressBook
from .care import CARE_KINDS, generate_care
from .organisations import build_region, write_organisations
from .patients import generate_patients
from .staff import generate_staff
from .writer import file_stats, write_json

__all__ = [
    "DEFAULT_AS_OF",
    "FILES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_SCALE",
    "ProgressCallback",
    "RegionSummary",
    "generate",
    "validate_scale",
]

DEFAULT_AS_OF = date(2026, 12, 1)
FORMAT_NAME = "iam-synthetic-region"
FORMAT_VERSION = 1
MAX_SCALE = 10.0
#: Data files in the order they are written; manifest.json comes last.
FILES = (
    "organisations.csv",
    "hr_staff.csv",
    "hr_staff.json",
    "hpr.csv",
    "patients.csv",
    "care_relationships.csv",
)

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class RegionSummary:
    """How many of each thing ``generate`` wrote (also the ``counts`` object of manifest.json)."""

    legal_entities: int
    points_of_care: int
    departments: int
    health_trusts: int
    hospitals: int
    ambulance_services: int
    municipalities: int
    gp_offices: int
    specialist_practices: int
    physiotherapy_practices: int
    staff: int
    employments: int
    employments_future: int
    employments_ended: int
    hpr_authorisations: int
    hpr_lapsed: int
    hpr_suspended: int
    patients: int
    patients_confidential: int
    patients_well_known: int
    staff_patients: int
    care_relationships: int
    care_gp_list: int
    care_appointment: int
    care_admission: int
    care_referral: int
    care_home_care: int

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict, in field order."""
        return asdict(self)


def validate_scale(scale: object) -> float:
    """``scale`` as a float, or ``ValueError`` unless it is a finite number in (0, MAX_SCALE]."""
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise ValueError(f"scale must be a number, got {scale!r}")
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ValueError(f"scale must be greater than 0 and at most {MAX_SCALE:g}, got {scale!r}")
    return float(scale)


def _validate(out_dir: Path, seed: object, as_of: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(as_of, datetime) or not isinstance(as_of, date):
        raise ValueError(f"as_of must be a date (not a datetime), got {as_of!r}")
    if not 1960 <= as_of.year <= 2039:
        raise ValueError(
            f"as_of must be in 1960-2039 (national ids cannot encode births after 2039), "
            f"got {as_of.isoformat()}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {str(out_dir)!r} exists and is not a directory")


def _stage_rng(seed: int, stage: str) -> random.Random:
    # Seeding with a str hashes it with SHA-512: stable across runs, platforms and PYTHONHASHSEED.
    return random.Random(f"iam.region/{seed}/{stage}")


def generate(
    out_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 1,
    as_of: date = DEFAULT_AS_OF,
    progress: ProgressCallback | None = None,
) -> RegionSummary:
    """Write a synthetic region for ``(seed, scale, as_of)`` into ``out_dir`` (created if missing).

    ``progress(stage, done, total)`` is called as work proceeds; stages are "organisations",
    "staff", "patients", "care_relationships" and "manifest", in that order, each ending with
    ``done == total``. See the module docstring for the full contract.
    """
    out_dir = Path(out_dir)
    scale = validate_scale(scale)
    _validate(out_dir, seed, as_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)

    def reporter(stage: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(stage, done, total)

        return report

    region = build_region(_stage_rng(seed, "organisations"), scale)
    write_organisations(region, out_dir / "organisations.csv")
    reporter("organisations")(len(region.units), len(region.units))

    used_ids: set[str] = set()
    book = AddressBook(region.municipalities, _stage_rng(seed, "addresses"))
    staff = generate_staff(
        rng=_stage_rng(seed, "staff"), region=region, scale=scale, as_of=as_of,
        used_ids=used_ids, book=book, out_dir=out_dir, progress=reporter("staff"),
    )
    patients = generate_patients(
        rng=_stage_rng(seed, "patients"), region=region, scale=scale, as_of=as_of,
        used_ids=used_ids, book=book, staff=staff, out_dir=out_dir,
        progress=reporter("patients"),
    )
    del used_ids, book  # the biggest structures not needed any more
    care = generate_care(
        rng=_stage_rng(seed, "care_relationships"), region=region, as_of=as_of,
        patients=patients, staff=staff, out_dir=out_dir, progress=reporter("care_relationships"),
    )

    counts: dict[str, int] = {**region.counts, **staff.counts, **patients.counts}
    counts["care_relationships"] = care["care_relationships"]
    counts.update({f"care_{kind}": care[kind] for kind in CARE_KINDS})
    summary = RegionSummary(**{f.name: counts[f.name] for f in fields(RegionSummary)})

    report = reporter("manifest")
    files = []
    for done, name in enumerate(FILES):
        report(done, len(FILES))
        digest, lines = file_stats(out_dir / name)
        # Data rows: CSV lines minus the header; JSON feed lines minus the opening and closing line.
        rows = lines - (2 if name.endswith(".json") else 1)
        files.append({"name": name, "rows": rows, "sha256": digest})
    write_json(
        out_dir / "manifest.json",
        {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "generator": "iam.region",
            "seed": seed,
            "scale": scale,
            "as_of": as_of.isoformat(),
            "counts": summary.as_dict(),
            "files": files,
        },
    )
    report(len(FILES), len(FILES))
    return summary
