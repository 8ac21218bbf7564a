"""SCIM 2.0 server (RFC 7643 / RFC 7644) over the provisioning engine; see ``README.md`` here.

Protocol modules (no FastAPI): ``resources`` (schemas as scim2-models classes), ``discovery``, ``filters``
(filter -> SQLAlchemy), ``search`` (list responses), ``bulk``, ``etag``, ``errors``. Services owning the
transaction: ``users`` (through ``build_plan``/``apply_plan``) and ``groups``. ``routes`` is the HTTP binding.
"""
