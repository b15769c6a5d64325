"""P2PConfig: every knob of the transport, checked when built.

The runtime builds it from the ``[p2p]`` table of configs/node.toml with
``P2PConfig.from_mapping``; tests build it directly. A bad value raises
``ConfigError`` naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.errors import ConfigError
from node.p2p.messages import Address
from node.p2p.peerbook import parse_address

MIB = 1024 * 1024


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
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_s") or f.name.endswith("_ms") or f.type == "float":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"p2p.{f.name} must be a non-negative number, got {value!r}")
            elif f.type == "int" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigError(f"p2p.{f.name} must be a non-negative integer, got {value!r}")
        if not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise ConfigError(f"p2p.port must be in [0, 65535], got {self.port!r}")
        if not self.path.startswith("/"):
            raise ConfigError(f"p2p.path must start with '/', got {self.path!r}")
        for name in ("max_peers", "max_msg_bytes", "seen_cache_size", "tx_batch_max_txs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"p2p.{name} must be at least 1")
        for name in ("msgs_per_s", "burst_msgs", "bytes_per_s", "flood_window_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"p2p.{name} must be positive")
        if self.flood_strikes < 1:
            raise ConfigError("p2p.flood_strikes must be at least 1")
        if self.burst_bytes < self.max_msg_bytes:
            raise ConfigError("p2p.burst_bytes must be at least p2p.max_msg_bytes")
        if self.max_outbox_bytes < self.max_msg_bytes:
            raise ConfigError("p2p.max_outbox_bytes must be at least p2p.max_msg_bytes")
        if self.write_timeout_s <= 0:
            raise ConfigError("p2p.write_timeout_s must be positive")
        if self.handshake_timeout_s <= 0:
            raise ConfigError("p2p.handshake_timeout_s must be positive")
        if self.backoff_max_s < self.backoff_base_s:
            raise ConfigError("p2p.backoff_max_s must be at least p2p.backoff_base_s")
        self.static_addresses()  # raises ConfigError on a malformed entry

    def static_addresses(self) -> tuple[Address, ...]:
        if isinstance(self.static_peers, str):
            raise ConfigError("p2p.static_peers must be a list of 'host:port' strings")
        return tuple(parse_address(p) for p in self.static_peers)

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
