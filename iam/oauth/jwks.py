"""Fetching other parties' public keys: OIDC discovery documents and JWK Sets, cached, with rotation.

A :class:`RemoteKeySet` keeps the keys of one ``jwks_uri``. It refetches when a token names a ``kid`` it
does not know (the signer rotated), but at most once per ``min_refetch_seconds``, so tokens with made-up
kids cannot turn into a flood of requests to the other party; and it refetches when its copy is older
than ``max_age_seconds``. Fetching is synchronous (callers run in worker threads).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from iam.oauth.rfc7523 import PublicJWK, candidate_keys, keys_from_jwks

__all__ = ["FetchError", "Fetcher", "RemoteKeySet", "fetch_json"]

_MAX_DOCUMENT_BYTES = 512 * 1024


class FetchError(Exception):
    """A remote document could not be fetched or is not JSON; the message names the URL."""


def fetch_json(url: str, *, timeout: float = 5.0) -> Any:
    """GET a JSON document over http(s); raise FetchError."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (checked above)
            body = response.read(_MAX_DOCUMENT_BYTES + 1)
    except (URLError, OSError) as exc:
        raise FetchError(f"cannot fetch {url}: {exc}") from None
    if len(body) > _MAX_DOCUMENT_BYTES:
        raise FetchError(f"{url} returned more than {_MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"{url} did not return JSON") from None


Fetcher = Callable[[str], Any]


class RemoteKeySet:
    """The signing keys published at one URL; thread-safe."""

    def __init__(self, url: str, *, fetch: Fetcher = fetch_json, min_refetch_seconds: float = 10.0,
                 max_age_seconds: float = 3600.0) -> None:
        self.url = url
        self._fetch = fetch
        self._min_refetch = min_refetch_seconds
        self._max_age = max_age_seconds
        self._keys: list[PublicJWK] = []
        self._fetched_at: float | None = None
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()

    def candidates(self, *, kid: str | None, alg: str) -> list[PublicJWK]:
        """Keys that may verify a JWS with this header, refetching (rate-limited) when none match.

        Raises FetchError only when there is no copy at all to fall back on.
        """
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at > self._max_age:
            self._refresh(now, required=self._fetched_at is None)
        found = candidate_keys(self._keys, kid=kid, alg=alg)
        if not found:
            self._refresh(now, required=False)
            found = candidate_keys(self._keys, kid=kid, alg=alg)
        return found

    def _refresh(self, now: float, *, required: bool) -> None:
        with self._lock:
            if now - self._attempted_at < self._min_refetch:
                if required and self._fetched_at is None:
                    raise FetchError(f"the keys at {self.url} could not be fetched a moment ago")
                return  # another thread just did it, or the other party failed a moment ago
            self._attempted_at = now
            try:
                keys = keys_from_jwks(self._fetch(self.url))
            except FetchError:
                if required:
                    raise
                return  # keep the old copy; try again after min_refetch
            self._keys = keys
            self._fetched_at = now
