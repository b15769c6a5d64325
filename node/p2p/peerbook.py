"""The address book: which peers to dial, when, and who is banned.

Holds the static peers from config and the addresses learned by peer
exchange or from inbound peers' Hello, each with its dial backoff
(exponential with jitter, reset by a good connection), plus the ban list
(by node id, by dialled address, by IP). Pure: the time is passed in as
``now_s``, the jitter comes from a ``random.Random`` given at construction.

An address someone names (in a Hello or a ``peers`` answer) is only a
claim. It enters the book as a candidate with no node id; the entry gets
one only from ``connected``, when this node dialled the address and the
node there proved its key. So the node id of an entry is always one that
was proven at that address, and a ban on a node id keeps an address from
being dialled only when that node was found there.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

from node.errors import ConfigError
from node.p2p.messages import MAX_HOST_LEN, Address

_K = TypeVar("_K", bound=Hashable)


def parse_address(text: str) -> Address:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) as ``(host, port)``; ConfigError if not."""
    if not isinstance(text, str):
        raise ConfigError(f"peer address must be a string 'host:port', got {text!r}")
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or len(host) > MAX_HOST_LEN or not port_text.isdigit():
        raise ConfigError(f"peer address {text!r} must look like 'host:port'")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"peer address {text!r}: port must be in [1, 65535]")
    return host, port


def format_address(addr: Address) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost": one machine, many nodes."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def backoff_s(failures: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before the next dial after ``failures`` failures in a row.

    Exponential, capped at ``max_s``, with "equal jitter" (half fixed, half
    random) so that nodes restarted together do not dial in lockstep.
    """
    ceiling = min(max_s, base_s * 2 ** min(failures, 32))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(slots=True)
class BookEntry:
    addr: Address
    static: bool
    node_id: bytes | None = None  # proven here by our dial; None: not yet
    # who is said to be here (by whoever named the address, or by the node
    # that answered our last dial before the handshake ended), unproven:
    # only used not to dial it while that node is connected anyway
    claimed_id: bytes | None = None
    failures: int = 0
    next_dial_s: float = 0.0


class PeerBook:
    """Known addresses with their backoff, and bans with their expiry."""

    def __init__(
        self,
        *,
        static: tuple[Address, ...],
        max_known: int,
        backoff_base_s: float,
        backoff_max_s: float,
        max_failures: int,
        rng: random.Random,
    ) -> None:
        self._entries: dict[Address, BookEntry] = {
            addr: BookEntry(addr=addr, static=True) for addr in static
        }
        self._max_known = max(max_known, len(self._entries))
        self._base_s = backoff_base_s
        self._max_s = backoff_max_s
        self._max_failures = max_failures
        self._rng = rng
        self._banned_ids: dict[bytes, float] = {}
        self._banned_addrs: dict[Address, float] = {}
        self._banned_ips: dict[str, float] = {}

    # -- addresses ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, addr: Address) -> bool:
        return addr in self._entries

    def entries(self) -> list[BookEntry]:
        return list(self._entries.values())

    def get(self, addr: Address) -> BookEntry | None:
        return self._entries.get(addr)

    def learn(self, addr: Address, claimed_id: bytes | None, now_s: float) -> bool:
        """Add ``addr`` as a candidate to dial (if new and there is room); True if added.

        Whoever named it is not believed about who listens there: the entry
        has no node id until a dial proves one (``connected``); the id it
        was named with is only a hint not to dial it while that node is
        connected anyway. A known entry is left as it is.
        """
        if addr in self._entries or len(self._entries) >= self._max_known:
            return False
        self._entries[addr] = BookEntry(
            addr=addr, static=False, claimed_id=claimed_id, next_dial_s=now_s
        )
        return True

    def forget(self, addr: Address) -> None:
        """Drop a learned address (static peers stay)."""
        entry = self._entries.get(addr)
        if entry is not None and not entry.static:
            del self._entries[addr]

    def due(self, now_s: float) -> list[BookEntry]:
        """Entries whose backoff has elapsed and that are not banned."""
        return [
            e
            for e in self._entries.values()
            if e.next_dial_s <= now_s and not self.is_banned(now_s, node_id=e.node_id, addr=e.addr)
        ]

    def dial_failed(self, addr: Address, now_s: float) -> None:
        """Back off; a learned address that keeps failing is forgotten."""
        entry = self._entries.get(addr)
        if entry is None:
            return
        entry.failures += 1
        if not entry.static and entry.failures > self._max_failures:
            del self._entries[addr]
            return
        entry.next_dial_s = now_s + self._delay(entry.failures)

    def connected(self, addr: Address, node_id: bytes) -> None:
        """We dialled ``addr`` and the node there proved ``node_id``: remember
        who is there; the failure count starts again from zero."""
        entry = self._entries.get(addr)
        if entry is not None:
            entry.node_id = entry.claimed_id = node_id
            entry.failures = 0

    def claimed(self, addr: Address, node_id: bytes) -> None:
        """The node that answered our dial of ``addr`` said it is ``node_id``
        (the handshake ended before it proved it)."""
        entry = self._entries.get(addr)
        if entry is not None:
            entry.claimed_id = node_id

    def disconnected(self, addr: Address, now_s: float) -> None:
        """Dial again after a short jittered pause, not in a tight loop."""
        entry = self._entries.get(addr)
        if entry is not None:
            entry.next_dial_s = now_s + self._delay(entry.failures)

    def reset_backoff(self, now_s: float) -> None:
        """Everyone may be dialled now (after a heal)."""
        for entry in self._entries.values():
            entry.failures = 0
            entry.next_dial_s = now_s

    def _delay(self, failures: int) -> float:
        return backoff_s(failures, base_s=self._base_s, max_s=self._max_s, rng=self._rng)

    # -- bans -----------------------------------------------------------------

    def ban(
        self,
        until_s: float,
        *,
        node_id: bytes | None = None,
        addr: Address | None = None,
        ip: str | None = None,
    ) -> None:
        """Ban a node id, an address this node dialled, and an IP (loopback
        IPs never: many nodes of a local testnet share them)."""
        if node_id is not None:
            self._banned_ids[node_id] = until_s
        if addr is not None:
            self._banned_addrs[addr] = until_s
        if ip is not None and not is_loopback(ip):
            self._banned_ips[ip] = until_s

    def is_banned(
        self,
        now_s: float,
        *,
        node_id: bytes | None = None,
        addr: Address | None = None,
        ip: str | None = None,
    ) -> bool:
        return (
            _active(self._banned_ids, node_id, now_s)
            or _active(self._banned_addrs, addr, now_s)
            or _active(self._banned_ips, ip, now_s)
        )

    def bans(self, now_s: float) -> dict[str, list[str]]:
        """Active bans, for the RPC: node ids (hex), addresses and IPs."""
        _expire(self._banned_ids, now_s)
        _expire(self._banned_addrs, now_s)
        _expire(self._banned_ips, now_s)
        return {
            "node_ids": [k.hex() for k in self._banned_ids],
            "addresses": [format_address(a) for a in self._banned_addrs],
            "ips": list(self._banned_ips),
        }

    def unban_all(self) -> None:
        self._banned_ids.clear()
        self._banned_addrs.clear()
        self._banned_ips.clear()


def _active(table: dict[_K, float], key: _K | None, now_s: float) -> bool:
    if key is None:
        return False
    until = table.get(key)
    if until is None:
        return False
    if until <= now_s:
        del table[key]
        return False
    return True


def _expire(table: dict[_K, float], now_s: float) -> None:
    for key in [k for k, until in table.items() if until <= now_s]:
        del table[key]
