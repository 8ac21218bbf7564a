"""Deterministic synthetic health region: organisations, staff (HR feed, HPR), patients, care.

    from iam.region import generate
    summary = generate(Path("region"), scale=0.01, seed=7)

See ``generator.generate`` for the contract and FORMATS.md for the files. The click command group
lives in ``iam.region.cli`` (``region_cli``) so importing this package does not import click.
"""

from __future__ import annotations

from .generator import (
    DEFAULT_AS_OF,
    FILES,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_SCALE,
    ProgressCallback,
    RegionSummary,
    generate,
    validate_scale,
)

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
