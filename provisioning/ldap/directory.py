"""Reading people from an LDAP v3 directory with ldap3: bind, then a paged search (RFC 2696).

* TLS: ``ldaps://`` URLs use TLS from the start; ``start_tls: true`` upgrades ``ldap://`` before the bind
  (RFC 4513 §3), so the password never crosses the network in clear. The server certificate is verified
  against ``ca_file`` (or the system CAs) unless ``verify_certificate`` is false.
* Bind: simple bind with the configured DN and password, or anonymous when no DN is configured.
* Search: paged, ``page_size`` entries a page, so a directory's size limit (OpenLDAP's default is 500,
  Active Directory's MaxPageSize 1000) never truncates the result. Incremental searches add
  ``(modifyTimestamp>=MARK)`` or ``(uSNChanged>=MARK)`` to the configured filter.

Entries come back decoded from the raw values (UTF-8) rather than through ldap3's schema-driven formatters:
we read no schema (``get_info=NONE``), which keeps the 40,000-entry page-through close to the raw cost.
Every failure is a :class:`DirectoryError` with one line saying what failed (never the password).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import ldap3  # type: ignore[import-untyped]  # ldap3 ships no type information
from ldap3.core.exceptions import LDAPException  # type: ignore[import-untyped]
from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped]

from provisioning.ldap.config import LdapConfig
from provisioning.ldap.mapping import LdapEntry

__all__ = ["DirectoryError", "change_mark", "connect", "search_people"]

_PAGED_RESULTS = "1.2.840.113556.1.4.319"


class DirectoryError(Exception):
    """The directory cannot be reached, refuses the bind or TLS, or the search fails."""


def _tls(config: LdapConfig) -> ldap3.Tls | None:
    connection = config.connection
    if not connection.uses_tls:
        return None
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED if connection.verify_certificate else ssl.CERT_NONE,
        ca_certs_file=str(connection.ca_file) if connection.ca_file else None,
        version=ssl.PROTOCOL_TLS_CLIENT,
    )


@contextmanager
def connect(config: LdapConfig) -> Iterator[ldap3.Connection]:
    """An open, bound connection (closed on exit); raise :class:`DirectoryError` on any failure."""
    settings = config.connection
    password = settings.password()
    try:
        server = ldap3.Server(settings.url, use_ssl=settings.url.startswith("ldaps://"), tls=_tls(config),
                              get_info=ldap3.NONE, connect_timeout=settings.timeout)
        connection = ldap3.Connection(server, user=settings.bind_dn, password=password,
                                      authentication=ldap3.SIMPLE if settings.bind_dn else ldap3.ANONYMOUS,
                                      # ldap3 packs this into a socket option as whole seconds.
                                      receive_timeout=math.ceil(settings.timeout), read_only=True,
                                      raise_exceptions=False)
        connection.open()  # raises LDAPSocketOpenError when the server cannot be reached
        if settings.start_tls and not connection.start_tls():
            raise DirectoryError(f"StartTLS with {settings.url} failed: {connection.result.get('description')}")
        if not connection.bind():
            result = connection.result or {}
            who = settings.bind_dn or "anonymous"
            raise DirectoryError(f"bind as '{who}' to {settings.url} failed: {result.get('description')}")
    except LDAPException as exc:
        raise DirectoryError(f"LDAP connection to {settings.url} failed: {exc}") from None
    try:
        yield connection
    finally:
        connection.unbind()


def change_mark(config: LdapConfig, mark: str | int) -> str:
    """The filter term selecting entries changed at or after ``mark``."""
    return f"({config.search.change_attribute}>={escape_filter_chars(str(mark))})"


def search_people(connection: ldap3.Connection, config: LdapConfig, *,
                  since: str | int | None = None) -> Iterator[LdapEntry]:
    """Every entry the configured search selects (changed at or after ``since`` when given), page by page."""
    search = config.search
    query = search.filter if since is None else f"(&{search.filter}{change_mark(config, since)})"
    scope = ldap3.SUBTREE if search.scope == "subtree" else ldap3.LEVEL
    attributes = config.requested_attributes()
    cookie: bytes | None = None
    while True:
        try:
            ok = connection.search(search.base, query, search_scope=scope, attributes=attributes,
                                   paged_size=search.page_size, paged_cookie=cookie)
        except LDAPException as exc:
            raise DirectoryError(f"search under '{search.base}' failed: {exc}") from None
        result = connection.result or {}
        if not ok and result.get("result") not in (0, None):
            raise DirectoryError(f"search under '{search.base}' with {query} failed: "
                                 f"{result.get('description')} {result.get('message') or ''}".strip())
        for response in connection.response or ():
            if response.get("type") != "searchResEntry":
                continue
            raw = response["raw_attributes"]
            yield LdapEntry(dn=response["dn"], attributes={
                name.lower(): [value.decode("utf-8") for value in values] for name, values in raw.items()
            })
        controls = result.get("controls") or {}
        cookie = controls.get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
        if not cookie:
            return
