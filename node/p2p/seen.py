"""A bounded least-recently-used set of ids: what gossip has already seen.

Keys are whatever the caller uses to name an item (a tx id, a block hash,
the SHA-256 of a payload). When full, the least recently touched key is
forgotten, so memory stays bounded however much traffic passes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class SeenCache:
    """``add(key)`` answers "is this new?" and remembers the key."""

    __slots__ = ("_keys", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: bytes) -> bool:
        return key in self._keys

    def add(self, key: bytes) -> bool:
        """Remember ``key``; True when it was not known before."""
        keys = self._keys
        if key in keys:
            keys.move_to_end(key)
            return False
        keys[key] = None
        if len(keys) > self.capacity:
            keys.popitem(last=False)
        return True

    def add_many(self, keys: Iterable[bytes]) -> list[bool]:
        """``add`` each key in order; a key repeated within ``keys`` is new once."""
        return [self.add(key) for key in keys]
