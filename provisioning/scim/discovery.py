"""Discovery documents (RFC 7644 §4, RFC 7643 §5-§7): what this service supports, told truthfully.

* ``ServiceProviderConfig``: PATCH, Bulk (with the limits :class:`Limits` enforces), filtering (with the
  most results one page returns), sorting and ETags are supported; password change is not; clients
  authenticate with OAuth 2.0 bearer tokens carrying the ``scim`` scope. Index pagination only.
* ``ResourceTypes``: ``User`` (core User; the Enterprise extension optional, our HealthStaff extension
  required, because a person cannot exist without a national id) and ``Group``.
* ``Schemas``: generated from :mod:`provisioning.scim.resources`, the same classes that validate requests,
  so the published schema and the accepted payloads cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim2_models import Context, ResourceType, Schema, ServiceProviderConfig

from provisioning.scim.resources import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    HEALTH_STAFF_SCHEMA,
    USER_SCHEMA,
    EnterpriseUser,
    Group,
    HealthStaff,
    User,
)

__all__ = ["Limits", "resource_types", "schemas", "service_provider_config"]

_SCIM_SPEC = "https://www.rfc-editor.org/rfc/rfc7644"
_BEARER_SPEC = "https://www.rfc-editor.org/rfc/rfc6750"


@dataclass(frozen=True)
class Limits:
    """The limits we announce and enforce. ``max_results`` caps ``count`` (a larger count is lowered, as
    RFC 7644 §3.4.2.4 allows); ``max_operations`` and ``max_payload_size`` bound a Bulk request (413)."""

    max_operations: int = 1000
    max_payload_size: int = 1_048_576
    max_results: int = 1000
    default_count: int = 100


def _dump(document: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = document.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return dumped


def service_provider_config(*, base_url: str, limits: Limits) -> dict[str, Any]:
    config = ServiceProviderConfig.model_validate({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": _SCIM_SPEC,
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": limits.max_operations,
                 "maxPayloadSize": limits.max_payload_size},
        "filter": {"supported": True, "maxResults": limits.max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "pagination": {"cursor": False, "index": True, "defaultPaginationMethod": "index",
                       "defaultPageSize": limits.default_count, "maxPageSize": limits.max_results},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
            "description": "A JWT access token from this service's POST /oauth2/token with the 'scim' scope.",
            "specUri": _BEARER_SPEC,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    })
    return _dump(config)


def resource_types(*, base_url: str) -> list[dict[str, Any]]:
    user = ResourceType.model_validate({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User", "name": "User", "endpoint": "/Users", "schema": USER_SCHEMA,
        "description": "Health staff, provisioned through the same engine as the HR file feed and LDAP.",
        "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": False},
                             {"schema": HEALTH_STAFF_SCHEMA, "required": True}],
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"},
    })
    group = ResourceType.model_validate({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": GROUP_SCHEMA,
        "description": "Groups of Users; they grant no roles.", "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/Group"},
    })
    return [_dump(user), _dump(group)]


def schemas(*, base_url: str) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for model in (User, Group, EnterpriseUser, HealthStaff):
        schema: Schema = model.to_schema()
        dumped = _dump(schema)
        dumped["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"}
        documents.append(dumped)
    return documents
