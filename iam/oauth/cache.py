"""A small in-memory cache whose entries are dropped by change notices, safe against the load race.

The race: a reader loads a record from the database, a change commits and its notice drops the entry,
then the reader stores the value it read before the change, which would then live on forever. Each
invalidation bumps a generation number; a loaded value is stored only if no invalidation happened while it
was being loaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["InvalidatedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class InvalidatedCache(Generic[K, V]):
    """Maps keys to loaded values (``None`` included, meaning "known not to exist"); thread-safe.

    ``max_age`` (seconds) bounds how long an entry is trusted without a notice, for facts that also
    change with the clock (a role that ends at a given time).
    """

    def __init__(self, *, max_entries: int = 100_000, max_age: float | None = None) -> None:
        self._values: dict[K, tuple[float, V | None]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._max_age = max_age

    def get(self, key: K, load: Callable[[], V | None]) -> V | None:
        """The cached value, else ``load()``'s, stored unless an invalidation raced with it."""
        found, value = self.peek(key)
        if found:
            return value
        generation = self._generation
        value = load()
        with self._lock:
            if generation == self._generation:
                if len(self._values) >= self._max_entries:
                    self._values.clear()  # crude, but bounded; entries are cheap to reload
                self._values[key] = (time.monotonic(), value)
        return value

    def peek(self, key: K) -> tuple[bool, V | None]:
        """(found, value) without loading: lets an async caller take the fast path."""
        try:
            stored_at, value = self._values[key]
        except KeyError:
            return False, None
        if self._max_age is not None and time.monotonic() - stored_at > self._max_age:
            return False, None
        return True, value

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._generation += 1
            self._values.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._values.clear()
