"""The live I/O of a node: real timers, a real network, a real nonce search.

``ConsensusDriver`` is the runtime's ``NodeIO`` (node/core/io.py): the
twin of the simulator's, with timers on the event loop (``loop.call_at``
on the monotonic clock), the P2P transport behind ``Network`` and the
nonce search in a thread, in batches, so that it can be interrupted.
Everything that reaches the node's ``NodeCore`` goes through ONE queue
drained by ONE task, so the engine never sees two events at once and the
ledger changes only inside a step. What an action means is ``NodeCore``'s
business (its one interpreter); this module only moves events in and
I/O out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol

from node import crypto
from node.consensus.events import (
    MessageReceived,
    MinedNonce,
    PeerId,
    TimerFired,
    TimerKey,
)
from node.core.catchup import Blocks, BlocksReceived, GetBlocks, NodeEvent
from node.errors import OrdinetError
from node.runtime.clock import Clock
from node.types import Transaction

if TYPE_CHECKING:
    from node.core import NodeCore

log = logging.getLogger("node.consensus")

# Yield to the loop after this many events in a row, so that the network
# and the API keep moving while a backlog drains.
_EVENTS_PER_TURN = 64


class Network(Protocol):
    """The node's side of the P2P network, as the driver uses it."""

    def broadcast(self, message: Any) -> None: ...

    def send(self, peer: PeerId, message: Any) -> None: ...

    def relay_txs(self, txs: Sequence[Transaction], origin: PeerId | None) -> None: ...

    def penalise(self, peer: PeerId, reason: str) -> None: ...

    async def request_blocks(self, peer: PeerId, request: GetBlocks) -> Blocks:
        """Ask ``peer`` (OrdinetError if it fails or does not answer in time)."""
        ...

    def on_message_done(self, peer: PeerId, message: Any, raw: bytes, accepted: bool) -> None:
        """After the node took a peer's consensus message (``raw``: its
        encoding); ``accepted``: the engine found no fault in it."""
        ...

    def after_event(self) -> None:
        """After every event the node handled (its engine may have moved)."""
        ...


class _Item:
    """One queued event: what it is, and whom to tell when it was handled."""

    __slots__ = ("done", "event", "raw", "timer_seq")

    def __init__(
        self,
        event: NodeEvent,
        *,
        raw: bytes | None = None,
        timer_seq: int = 0,
        done: asyncio.Future[None] | None = None,
    ) -> None:
        self.event = event
        self.raw = raw
        self.timer_seq = timer_seq
        self.done = done


class _MiningJob:
    __slots__ = ("job", "stop", "task")

    def __init__(self, job: int) -> None:
        self.job = job
        self.stop = threading.Event()
        self.task: asyncio.Task[None] | None = None


class ConsensusDriver:
    """Runs one node's core on the event loop. ``run()`` is its one long-lived task.

    Built before the core it drives (the core needs its I/O): ``attach``
    the core before ``run``.
    """

    def __init__(
        self,
        *,
        net: Network,
        clock: Clock,
        executor: Executor,
        mine_batch: int = 200_000,
        max_network_backlog: int = 4096,
    ) -> None:
        self.net = net
        self._core: NodeCore | None = None
        self.clock = clock
        self.executor = executor
        self.mine_batch = mine_batch
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._net_slots = asyncio.Semaphore(max_network_backlog)
        self._timers: dict[TimerKey, tuple[int, asyncio.TimerHandle]] = {}
        self._timer_seq = 0
        self._mining: _MiningJob | None = None
        self._mine_tasks: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # catch-up requests in flight
        self._stopping = False
        self.events = 0
        self.step_s_total = 0.0

    def attach(self, core: NodeCore) -> None:
        self._core = core

    @property
    def core(self) -> NodeCore:
        assert self._core is not None, "attach the core first"
        return self._core

    # -- NodeIO: the clock and the network ------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def now_s(self) -> float:
        return self.clock.now_s()

    def perf_s(self) -> float:
        return self.clock.monotonic_s()

    def broadcast(self, message: Any) -> None:
        self.net.broadcast(message)

    def send(self, peer: PeerId, message: Any) -> None:
        self.net.send(peer, message)

    def relay_txs(self, txs: Sequence[Transaction], origin: PeerId | None) -> None:
        self.net.relay_txs(txs, origin)

    def penalise(self, peer: PeerId, reason: str) -> None:
        self.net.penalise(peer, reason)

    def request_blocks(self, peer: PeerId, request: GetBlocks) -> None:
        if self._stopping:
            return
        task = asyncio.get_running_loop().create_task(
            self._request_blocks(peer, request), name="catch-up-request"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request_blocks(self, peer: PeerId, request: GetBlocks) -> None:
        try:
            reply = await self.net.request_blocks(peer, request)
        except OrdinetError as exc:
            log.info(
                "sync.request_failed peer=%s start=%d reason=%s",
                peer.hex()[:16] if isinstance(peer, bytes) else peer,
                request.start,
                getattr(exc, "reason", None) or exc.code,
            )
            reply = None
        self._push(_Item(BlocksReceived(peer, reply)))

    def queue(self, event: NodeEvent) -> None:
        self._push(_Item(event))

    # -- feeding --------------------------------------------------------------------

    async def message(self, peer: PeerId, message: Any, raw: bytes) -> None:
        """A consensus message from a peer (``raw``: its encoding); waits while the
        backlog is full, which holds back that peer's connection (its inbox
        then sheds gossip)."""
        await self._net_slots.acquire()
        self._push(_Item(MessageReceived(peer, message), raw=raw))

    def feed(self, event: NodeEvent) -> asyncio.Future[None]:
        """Queue an event; the future completes once the engine has handled it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push(_Item(event, done=done))
        return done

    def fire_now(self, key: TimerKey) -> None:
        """Deliver a pending timer now instead of at its time (nothing if it is
        not set). The node uses it for the engine's gossip timer when a peer
        connects, so a new or restarted peer hears the current round at once."""
        entry = self._timers.get(key)
        if entry is None:
            return
        entry[1].cancel()
        self._push(_Item(TimerFired(key), timer_seq=entry[0]))

    def _push(self, item: _Item) -> None:
        self._queue.append(item)
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Start the engine, then handle events until cancelled."""
        try:
            self.core.start()
            while True:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                for _ in range(_EVENTS_PER_TURN):
                    if not self._queue:
                        break
                    self._handle(self._queue.popleft())
                await asyncio.sleep(0)
        finally:
            self._shutdown()

    def _handle(self, item: _Item) -> None:
        event = item.event
        try:
            if isinstance(event, TimerFired):
                current = self._timers.get(event.key)
                if current is None or current[0] != item.timer_seq:
                    return  # cancelled or moved after it fired
                del self._timers[event.key]
            self.events += 1
            start_s = self.clock.monotonic_s()
            misbehaved = self.core.step(event)
            self.step_s_total += self.clock.monotonic_s() - start_s
            if item.raw is not None:
                assert isinstance(event, MessageReceived)
                self.net.on_message_done(event.peer, event.message, item.raw, not misbehaved)
            self.net.after_event()
        finally:
            if item.raw is not None:
                self._net_slots.release()
            if item.done is not None and not item.done.done():
                item.done.set_result(None)

    # -- NodeIO: timers ---------------------------------------------------------------

    def set_timer(self, key: TimerKey, at_ms: int) -> None:
        self._set_timer(key, at_ms)

    def cancel_timer(self, key: TimerKey) -> None:
        entry = self._timers.pop(key, None)
        if entry is not None:
            entry[1].cancel()

    def _set_timer(self, key: TimerKey, at_ms: int) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old[1].cancel()
        if self._stopping:
            return
        self._timer_seq += 1
        seq = self._timer_seq
        loop = asyncio.get_running_loop()
        handle = loop.call_at(self.clock.loop_time(at_ms), self._timer_due, key, seq)
        self._timers[key] = (seq, handle)

    def _timer_due(self, key: TimerKey, seq: int) -> None:
        self._push(_Item(TimerFired(key), timer_seq=seq))

    # -- NodeIO: the nonce search ----------------------------------------------------------

    def mine(self, job_id: int, prefix: bytes, target: bytes) -> None:
        self._stop_mining()
        if self._stopping:
            return
        job = _MiningJob(job_id)
        job.task = asyncio.get_running_loop().create_task(
            self._mine(job, prefix, target), name=f"mine-{job_id}"
        )
        self._mine_tasks.add(job.task)
        job.task.add_done_callback(self._mine_tasks.discard)
        self._mining = job

    def stop_mining(self, job: int) -> None:
        if self._mining is not None and self._mining.job == job:
            self._stop_mining()

    def _stop_mining(self) -> None:
        job, self._mining = self._mining, None
        if job is not None:
            job.stop.set()

    async def _mine(self, job: _MiningJob, prefix: bytes, target: bytes) -> None:
        """Search nonces in batches in the executor; between batches, stop if asked."""
        loop = asyncio.get_running_loop()
        search: Callable[[bytes, bytes, int, int], int | None] = crypto.pow_search
        start = 0
        while not job.stop.is_set():
            nonce = await loop.run_in_executor(
                self.executor, search, prefix, target, start, self.mine_batch
            )
            if job.stop.is_set():
                return
            if nonce is not None:
                if self._mining is job:
                    self._mining = None
                self._push(_Item(MinedNonce(job.job, nonce)))
                return
            start += self.mine_batch
            if start >= 1 << 64:
                log.warning("consensus.mining_exhausted job=%d", job.job)
                return

    # -- stopping -----------------------------------------------------------------------

    def _shutdown(self) -> None:
        self._stopping = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._stop_mining()
        for task in self._tasks:
            task.cancel()
        for item in self._queue:
            if item.done is not None and not item.done.done():
                item.done.cancel()
        self._queue.clear()

    async def close(self) -> None:
        """After ``run`` ended: wait for nonce searches in flight (a batch in a
        thread cannot be interrupted mid-call; it sees the stop flag after)
        and for the cancelled block requests."""
        self._shutdown()
        tasks = [*self._mine_tasks, *self._tasks]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
