"""Change-bus channels the decision engine listens on (see iam/notify.py for delivery semantics).

* ``identity``: provisioning's ``person:<id>`` (grants, account status, licences) or ``*``;
* ``authz``: our own fact changes, ``patient:<national id>``, ``person:<id>`` (care teams) or ``*``;
* ``policy``: ``<policy version id>`` after ``iam policy publish``.
"""

from __future__ import annotations

__all__ = ["AUTHZ_CHANNEL", "IDENTITY_CHANNEL", "POLICY_CHANNEL"]

AUTHZ_CHANNEL = "authz"
IDENTITY_CHANNEL = "identity"
POLICY_CHANNEL = "policy"
