"""Gossip over the live connections: de-duplication both ways, tx batching.

Two seen caches: ``known`` holds every item received or sent (a copy that
arrives again is not handed to the handler twice), ``relayed`` holds every
item sent (it is not broadcast twice). An item's key is the caller's key,
or the SHA-256 of its payload; for a transaction that is its id, the
SHA-256 of its encoding, as node/types.py defines it.

Transactions queued with ``queue_txs`` are coalesced into Txs batches,
flushed on a short timer or as soon as a batch is full, and not sent back
to the peer they came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence

from node import crypto
from node.p2p.config import P2PConfig
from node.p2p.connection import Connection
from node.p2p.messages import (
    ITEM_OVERHEAD,
    Consensus,
    Message,
    NewBlock,
    Status,
    Txs,
    encode_frame,
)
from node.p2p.metrics import P2PMetrics
from node.p2p.seen import SeenCache

# room left in a frame for the envelope around a Txs list
_BATCH_HEADROOM = 1024
_SENDABLE = (Txs, NewBlock, Consensus, Status)


def encode_sendable(msg: Message, max_msg_bytes: int) -> bytes:
    """The frame of a message that may be sent unsolicited; ValueError if not."""
    if not isinstance(msg, _SENDABLE):
        raise ValueError(f"{msg.KIND} cannot be sent or broadcast (requests use request())")
    frame = encode_frame(msg)
    if len(frame) > max_msg_bytes:
        raise ValueError(f"{msg.KIND} of {len(frame)} bytes exceeds max_msg_bytes")
    return frame


def payload_of(msg: NewBlock | Consensus) -> bytes:
    return msg.block if isinstance(msg, NewBlock) else msg.data


class Gossip:
    """Broadcasts to ``connections`` (the transport's live map) and filters
    what comes in."""

    def __init__(
        self,
        *,
        config: P2PConfig,
        metrics: P2PMetrics,
        connections: Mapping[bytes, Connection],
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._conns = connections
        self.known = SeenCache(config.seen_cache_size)
        self.relayed = SeenCache(config.seen_cache_size)
        self._pending: list[tuple[bytes, bytes | None]] = []
        self._pending_bytes = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._closed = False

    def close(self) -> None:
        """Drop the pending batch and its timer (the transport is stopping)."""
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending, self._pending_bytes = [], 0

    # -- outbound ---------------------------------------------------------------

    def broadcast(
        self,
        msg: Message,
        *,
        exclude: Collection[bytes] = (),
        key: bytes | None = None,
        dedup: bool = True,
    ) -> int:
        if isinstance(msg, Txs):
            txs = tuple(self._mark_sent(msg.txs)) if dedup else msg.txs
            if not txs:
                return 0
            msg = Txs(txs)
        frame = encode_sendable(msg, self._config.max_msg_bytes)
        if dedup and isinstance(msg, NewBlock | Consensus):
            payload_key = crypto.sha256(payload_of(msg))
            self.known.add(payload_key)
            if not self.relayed.add(key if key is not None else payload_key):
                self._metrics.dropped["already_relayed"] += 1
                return 0
        sent = 0
        for peer_id, conn in list(self._conns.items()):
            if peer_id not in exclude and conn.enqueue(frame, msg.KIND):
                sent += 1
        return sent

    def queue_txs(self, encodings: Sequence[bytes], origin: bytes | None) -> int:
        if self._closed or not self._conns or not encodings:
            return 0
        config = self._config
        budget = min(config.tx_batch_max_bytes, config.max_msg_bytes - _BATCH_HEADROOM)
        added = 0
        for tx in self._mark_sent(encodings):
            size = len(tx) + ITEM_OVERHEAD
            if self._pending and self._pending_bytes + size > budget:
                self.flush_txs()
            self._pending.append((tx, origin))
            self._pending_bytes += size
            added += 1
            if len(self._pending) >= config.tx_batch_max_txs:
                self.flush_txs()
        if self._pending and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(
                config.tx_batch_interval_ms / 1000, self.flush_txs
            )
        return added

    def flush_txs(self) -> None:
        """Send the pending batch now: one frame for all, minus each origin's own txs."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        if not batch:
            return
        origins = {origin for _, origin in batch if origin is not None}
        full_frame: bytes | None = None
        for peer_id, conn in list(self._conns.items()):
            if peer_id in origins:
                txs = tuple(tx for tx, origin in batch if origin != peer_id)
                if txs:
                    conn.enqueue(encode_frame(Txs(txs)), Txs.KIND)
                continue
            if full_frame is None:
                full_frame = encode_frame(Txs(tuple(tx for tx, _ in batch)))
            conn.enqueue(full_frame, Txs.KIND)

    def _mark_sent(self, txs: Sequence[bytes]) -> list[bytes]:
        """The txs not broadcast before; all of them become known and sent."""
        ids = crypto.sha256_many(list(txs))
        fresh = []
        for tx, tx_id in zip(txs, ids, strict=True):
            self.known.add(tx_id)
            if self.relayed.add(tx_id):
                fresh.append(tx)
        return fresh

    # -- inbound ----------------------------------------------------------------

    def fresh(self, msg: Txs | NewBlock | Consensus) -> Txs | NewBlock | Consensus | None:
        """What of an incoming gossip message is new (None: nothing is)."""
        if isinstance(msg, Txs):
            ids = crypto.sha256_many(list(msg.txs))
            txs = tuple(tx for tx, tx_id in zip(msg.txs, ids, strict=True) if self.known.add(tx_id))
            self._metrics.dropped["duplicate"] += len(msg.txs) - len(txs)
            if not txs:
                return None
            return msg if len(txs) == len(msg.txs) else Txs(txs)
        if self.known.add(crypto.sha256(payload_of(msg))):
            return msg
        self._metrics.dropped["duplicate"] += 1
        return None
