"""P2PConfig: every knob of the transport, checked when built.

The runtime builds it from the ``[p2p]`` table of configs/node.toml with
``P2PConfig.from_mapping``; tests build it directly. A bad value raises
``ConfigError`` naming the field: every number is checked by the rules of
``node.tomlfile.check_fields`` (finite, int-not-bool, within its range and
the cap), with the ranges that differ from the default in ``_RANGES``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.errors import ConfigError
from node.p2p.messages import Address
from node.p2p.peerbook import parse_address
from node.tomlfile import AT_LEAST_1, PORT, POSITIVE, Range, check_fields

MIB = 1024 * 1024

# Fields whose range is not the default (a number >= 0, up to the cap
# node.tomlfile applies to every config number).
_RANGES: dict[str, Range] = {
    "port": PORT,
    "max_peers": AT_LEAST_1,
    "max_msg_bytes": AT_LEAST_1,
    "seen_cache_size": AT_LEAST_1,
    "tx_batch_max_txs": AT_LEAST_1,
    "flood_strikes": AT_LEAST_1,
    "msgs_per_s": POSITIVE,
    "burst_msgs": POSITIVE,
    "bytes_per_s": POSITIVE,
    "flood_window_s": POSITIVE,
    "handshake_timeout_s": POSITIVE,
    "write_timeout_s": POSITIVE,
}


@dataclass(frozen=True, slots=True)
class P2PConfig:
    # where to listen; ``advertise_host`` is what peers are told to dial
    host: str = "127.0.0.1"
    port: int = 0
    advertise_host: str | None = None
    path: str = "/p2p"
    # peers
    static_peers: tuple[str, ...] = ()
    max_peers: int = 32
    max_known_addresses: int = 1000
    max_dial_failures: int = 8  # a learned address is forgotten after this many
    dial_interval_s: float = 0.5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    pex_interval_s: float = 10.0  # 0 turns peer exchange off
    status_interval_s: float = 2.0  # 0: no periodic Status
    # connections
    max_msg_bytes: int = 8 * MIB
    handshake_timeout_s: float = 5.0
    heartbeat_s: float = 10.0
    close_timeout_s: float = 2.0
    request_timeout_s: float = 10.0
    max_pending_requests: int = 64  # our requests in flight to one peer
    max_served_requests: int = 4  # a peer's requests we answer at once
    max_inbox: int = 4096  # gossip messages waiting for the handler, per peer
    max_outbox: int = 16_384  # frames waiting to be written, per peer
    # bytes waiting to be written, per peer: past it the peer is a slow reader
    max_outbox_bytes: int = 16 * MIB
    write_timeout_s: float = 20.0  # one frame not taken by the socket: slow reader
    # misbehaviour
    ban_s: float = 300.0
    msgs_per_s: float = 2000.0
    burst_msgs: float = 4000.0
    bytes_per_s: float = 32.0 * MIB
    burst_bytes: float = 64.0 * MIB
    flood_strikes: int = 2000  # throttled messages tolerated per flood window
    flood_window_s: float = 10.0
    # gossip
    seen_cache_size: int = 200_000
    tx_batch_interval_ms: float = 5.0
    tx_batch_max_txs: int = 4096
    tx_batch_max_bytes: int = 1 * MIB

    def __post_init__(self) -> None:
        check_fields(self, "p2p", _RANGES)
        if not self.path.startswith("/"):
            raise ConfigError(f"p2p.path must start with '/', got {self.path!r}")
        if self.burst_bytes < self.max_msg_bytes:
            raise ConfigError("p2p.burst_bytes must be at least p2p.max_msg_bytes")
        if self.max_outbox_bytes < self.max_msg_bytes:
            raise ConfigError("p2p.max_outbox_bytes must be at least p2p.max_msg_bytes")
        if self.backoff_max_s < self.backoff_base_s:
            raise ConfigError("p2p.backoff_max_s must be at least p2p.backoff_base_s")
        self.static_addresses()  # raises ConfigError on a malformed entry

    def static_addresses(self) -> tuple[Address, ...]:
        if isinstance(self.static_peers, str):
            raise ConfigError("p2p.static_peers must be a list of 'host:port' strings")
        addresses = []
        for entry in self.static_peers:
            try:
                addresses.append(parse_address(entry))
            except ValueError:  # int() of a port of thousands of digits
                raise ConfigError(
                    f"p2p.static_peers: {str(entry)[:40]!r}... must look like 'host:port'"
                ) from None
        return tuple(addresses)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> P2PConfig:
        """Build from a config table; an unknown key is a ConfigError, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"p2p: unknown option(s) {', '.join(unknown)}")
        args = dict(values)
        if "static_peers" in args and isinstance(args["static_peers"], list | tuple):
            args["static_peers"] = tuple(args["static_peers"])
        return cls(**args)
