"""Counters of the transport, as plain attributes for the RPC to export.

Counters only grow; gauges (connected peers, known addresses, active bans)
are read from the transport when a snapshot is taken. Keys of the
per-kind and per-reason dicts are the wire kinds and the reason codes of
docs/P2P.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class P2PMetrics:
    msgs_in: Counter[str] = field(default_factory=Counter)  # by kind
    msgs_out: Counter[str] = field(default_factory=Counter)  # by kind, per peer sent
    bytes_in: Counter[str] = field(default_factory=Counter)
    bytes_out: Counter[str] = field(default_factory=Counter)
    # messages not delivered: throttled, duplicate, inbox_full, outbox_full,
    # unknown_response
    dropped: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # handshakes, by reason
    penalties: Counter[str] = field(default_factory=Counter)  # by reason
    disconnects: Counter[str] = field(default_factory=Counter)  # by reason
    requests: Counter[str] = field(default_factory=Counter)  # ok, timeout, refused, ...
    connections: int = 0  # handshakes completed
    bans: int = 0
    dials: int = 0
    dial_failures: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every counter."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = dict(value) if isinstance(value, Counter) else value
        return out
