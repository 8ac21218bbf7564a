"""The scope catalogue: every scope a client can be given, and what it allows.

Other product areas register their scopes here, so ``iam client create`` can refuse a misspelt scope.
"""

from __future__ import annotations

__all__ = ["SCOPES", "unknown_scopes"]

SCOPES: dict[str, str] = {
    "admin": "Manage clients, persons, accounts and grants.",
    "scim": "Provision staff over SCIM 2.0.",
    "authz": "Ask for access decisions (AuthZEN) and maintain care relationships and restrictions.",
    "emergency": "Declare emergency (break the glass) access for a clinician.",
    "audit:write": "Report journal accesses to the access log.",
    "audit:read": "Search and export the access log (privacy officers).",
    "audit:review": "Review emergency access and questioned accesses (privacy officers).",
    "patient": "Read one's own access report and question accesses (patient portal).",
    "token-exchange": "Exchange a user's token for a token carrying care context (RFC 8693).",
    "introspect": "Introspect tokens (RFC 7662).",
}


def unknown_scopes(requested: list[str]) -> list[str]:
    return [scope for scope in requested if scope not in SCOPES]
