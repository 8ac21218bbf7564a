"""Purpose-of-use codes as data (``policies/purposes.yaml``): their code system and plain-language names.

Read once and cached. An unknown code (a purpose added to the policy later, or one a clinical app reports)
is shown as its code: the log never refuses an access record for an unfamiliar purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

__all__ = ["ACT_REASON", "PurposeName", "purpose_name", "purpose_system"]

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_ACT_REASON_OID = "2.16.840.1.113883.5.8"
_FILE = Path(__file__).resolve().parents[1] / "policies" / "purposes.yaml"


@dataclass(frozen=True)
class PurposeName:
    code: str
    system: str
    nb: str
    en: str


@cache
def _purposes() -> dict[str, PurposeName]:
    try:
        data = yaml.safe_load(_FILE.read_text(encoding="utf-8")) or {}
    except OSError:
        return {}
    found = {}
    for entry in data.get("purposes", []):
        system = str(entry.get("system", _ACT_REASON_OID))
        url = ACT_REASON if system == _ACT_REASON_OID else (system if ":" in system else f"urn:oid:{system}")
        names = entry.get("name", {})
        code = str(entry["code"])
        found[code] = PurposeName(code, url, str(names.get("nb", code)), str(names.get("en", code)))
    return found


def purpose_name(code: str | None) -> PurposeName | None:
    if code is None:
        return None
    return _purposes().get(code) or PurposeName(code, ACT_REASON, code, code)


def purpose_system(code: str) -> str:
    found = _purposes().get(code)
    return found.system if found else ACT_REASON
