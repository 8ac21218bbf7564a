"""RFC 8414 authorization server metadata (also served as OpenID discovery): exactly what we support."""

from __future__ import annotations

from typing import Any

from iam.oauth.clients import AUTH_METHODS, GRANT_TYPES
from iam.oauth.rfc7523 import ASSERTION_SIGNING_ALGS
from iam.oauth.rfc9396 import TRUST_FRAMEWORK_TYPE
from iam.oauth.rfc9449 import DPOP_SIGNING_ALGS
from iam.oauth.scopes import SCOPES

__all__ = ["server_metadata"]


def server_metadata(*, issuer: str, signing_algs: list[str]) -> dict[str, Any]:
    """``signing_algs``: the algorithms of the keys we publish (more than one during a rotation)."""
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
        "dpop_signing_alg_values_supported": list(DPOP_SIGNING_ALGS),
        "authorization_details_types_supported": [TRUST_FRAMEWORK_TYPE],
        "scopes_supported": sorted(SCOPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs,
        "access_token_signing_alg_values_supported": signing_algs,
    }
