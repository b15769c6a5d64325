"""The node's event stream: the runtime publishes, each /ws client subscribes.

Publishing never waits: every subscriber has its own bounded queue, and a
subscriber that falls behind loses its OLDEST events, then receives one
``lagged`` event saying how many it missed, so a slow websocket client
never slows the node down. With no subscriber for a kind, publishing it
costs a dict lookup (``wants`` lets the publisher skip building the data).

Event kinds the runtime publishes (``data`` is JSON-ready):

- ``block``: a block was committed (``block_committed`` builds it)
- ``tx``: a transaction was committed: id, height, index
- ``consensus``: the engine entered a step: height, round, step (+ extra)
- ``evidence``: double-signing evidence the node recorded
- ``lagged``: sent by the hub itself to a subscriber that lost events

These are ``KNOWN_KINDS``: /ws clients filter on them with ``?kinds=`` (a
filter naming another kind is refused: it would silently match nothing).
The hub itself carries any kind it is given.
All methods run on the node's event loop thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

from node.types import ZERO_HASH, Block

BLOCK = "block"
TX = "tx"
CONSENSUS = "consensus"
EVIDENCE = "evidence"
LAGGED = "lagged"
KNOWN_KINDS = (BLOCK, TX, CONSENSUS, EVIDENCE, LAGGED)

DEFAULT_QUEUE_SIZE = 1024


class Event(NamedTuple):
    """One published event. ``seq`` numbers the events the hub delivered to
    anyone, so gaps in one client's sequence are events it filtered out or
    lost (the latter announced by ``lagged``)."""

    kind: str
    data: dict[str, Any]
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "data": self.data}


class Subscription:
    """One subscriber's bounded queue. Iterate it (``async for``) or ``get``.

    Ends (iteration stops, ``get`` returns None) after ``close`` or when
    the hub closes.
    """

    def __init__(self, hub: EventHub, kinds: frozenset[str] | None, queue_size: int) -> None:
        self._hub = hub
        self.kinds = kinds
        self._queue: deque[Event] = deque(maxlen=queue_size)
        self._ready = asyncio.Event()
        self._closed = False
        #: events lost since the last ``lagged`` notice was handed out
        self._missed = 0
        #: events lost over the subscription's life
        self.missed_total = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def _offer(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self._missed += 1
            self.missed_total += 1
        self._queue.append(event)  # a full deque drops its oldest
        self._ready.set()

    async def get(self) -> Event | None:
        """The next event (a ``lagged`` notice first if events were lost),
        or None once the subscription is closed and drained."""
        while True:
            if self._missed:
                missed, self._missed = self._missed, 0
                next_seq = self._queue[0].seq if self._queue else self._hub.seq
                return Event(LAGGED, {"missed": missed}, next_seq)
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._unsubscribe(self)
            self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    """Fan-out of node events to any number of bounded subscriptions."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self.seq = 0
        self._subs: list[Subscription] = []
        # kind -> number of subscribers that want it; None-filter subscribers
        # are counted in _all
        self._wanted: dict[str, int] = {}
        self._all = 0
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def wants(self, kind: str) -> bool:
        """True when at least one subscriber would receive ``kind``."""
        return self._all > 0 or self._wanted.get(kind, 0) > 0

    def subscribe(
        self, kinds: Iterable[str] | None = None, *, queue_size: int | None = None
    ) -> Subscription:
        """A new subscription to ``kinds`` (None: every kind)."""
        kind_set = frozenset(kinds) if kinds is not None else None
        sub = Subscription(self, kind_set, queue_size or self.queue_size)
        if self._closed:
            sub._closed = True
            return sub
        self._subs.append(sub)
        if kind_set is None:
            self._all += 1
        else:
            for kind in kind_set:
                self._wanted[kind] = self._wanted.get(kind, 0) + 1
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub not in self._subs:
            return
        self._subs.remove(sub)
        if sub.kinds is None:
            self._all -= 1
        else:
            for kind in sub.kinds:
                self._wanted[kind] -= 1

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Hand the event to every subscriber that wants it; never waits."""
        if not self.wants(kind):
            return
        self.seq += 1
        event = Event(kind, data, self.seq)
        for sub in self._subs:
            if sub.wants(kind):
                sub._offer(event)

    def block_committed(self, block: Block) -> None:
        """Publish ``block`` and, if anyone listens, one ``tx`` event per tx."""
        header = block.header
        if self.wants(BLOCK):
            self.publish(
                BLOCK,
                {
                    "height": header.height,
                    "hash": header.hash.hex(),
                    "timestamp_ms": header.timestamp_ms,
                    "proposer": header.proposer.hex(),
                    "tx_count": header.tx_count,
                    "policy": header.policy,
                    "model_hash": (
                        None if header.model_hash == ZERO_HASH else header.model_hash.hex()
                    ),
                },
            )
        if self.wants(TX):
            for index, tx in enumerate(block.txs):
                self.publish(TX, {"id": tx.id.hex(), "height": header.height, "index": index})

    def consensus_step(self, height: int, round_: int, step: str, **extra: Any) -> None:
        """Publish the engine entering ``step`` of (height, round)."""
        if self.wants(CONSENSUS):
            self.publish(CONSENSUS, {"height": height, "round": round_, "step": step, **extra})

    def close(self) -> None:
        """End every subscription (node shutdown: /ws handlers return)."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()
