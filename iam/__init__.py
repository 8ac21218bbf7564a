"""IAM for a shared regional patient record.

Product areas: ``iam`` (service, OAuth 2.0 authorization server, decisions), ``provisioning`` (HR feeds),
``audit`` (the access log) and ``policies`` (Casbin model and policy data).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
