"""Values made on first use, one per key, shared by every thread of the instance.

The one lazy-registry pattern of the project (clients, row codecs, Write API streams): a read
without the lock on the hot path, and under a race the value is still made exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class OncePerKey[K, V]:
    def __init__(self) -> None:
        self._lock = threading.RLock()  # a value may be made from another one (same thread)
        self._values: dict[K, V] = {}

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The value of ``key``, made by ``make()`` on first use (by one thread only)."""
        value = self._values.get(key)
        if value is None:
            with self._lock:
                value = self._values.get(key)
                if value is None:
                    value = make()
                    self._values[key] = value
        return value

    def clear(self) -> list[V]:
        """Forget every value; returns them (so the caller can close them)."""
        with self._lock:
            values = list(self._values.values())
            self._values.clear()
        return values
