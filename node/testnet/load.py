"""The load generator: signed transfers at a target rate, followed to commit.

``LoadGenerator`` signs transfers from funded accounts (real Ed25519
signatures, each sender's nonces in order), spreads them over the nodes'
``POST /txs`` (each sender pinned to one node, so its txs reach one pool
in nonce order), and ``ChainFollower`` reads every new block to see which
of them were committed, and when.

It behaves like a careful wallet, which is what makes "no accepted tx is
lost" a property of the whole system rather than luck:

- a refused tx (pool full, sender cap, nonce too far ahead) is sent again
  after a short backoff with the same bytes, so a sender's nonces never
  skip and every tx keeps one id;
- a node that does not answer (killed, paused, partitioned away) is set
  aside for a while; its senders move to another node and their open txs
  are sent there at once, since the pool they were in may be gone;
- an accepted tx not committed after ``rebroadcast_s`` is sent again
  (nodes answer ``duplicate`` while they hold it, ``nonce_too_low`` once a
  block has it). ``readmitted`` counts the resends that a node accepted as
  new: txs the network had accepted and then lost, e.g. with a killed pool.

Each sender has at most ``window`` txs open (sent, not yet committed), the
back-pressure a real client has; when every sender is full the generator
falls behind its target instead of flooding, and reports how far.

With a workload (a labelled trace or a workload description), rows are
replayed in arrival order: the trace's senders map onto the funded
accounts (first seen, first mapped), fees and sizes are the trace's, and
``tps`` rescales the arrival times to that mean rate (0: the trace's own).

Commit latency is measured from a tx's first send to the moment the
follower sees its block (it polls every 0.1 s, so add up to that much).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from node.client import ApiError, AsyncClient
from node.errors import OrdinetError
from node.fees.live import transfer_size
from node.research.trace import MIN_BENCH_TX_SIZE, Trace, address_of
from node.testnet.proposers import TxFacts
from node.types import MAX_TX_DATA, Transaction
from node.wallet import Wallet

REQUEST_TIMEOUT_S = 5.0
NODE_DOWN_S = 2.0
RETRY_S = 0.5
TICK_S = 0.02
FOLLOW_POLL_S = 0.1
FEE_REFRESH_S = 1.0
MAX_BATCH = 2000

# Mempool answers that mean "the network has this tx" (in a pool, or committed).
HELD_CODES = ("duplicate", "nonce_too_low")
_NETWORK_ERRORS = (OrdinetError, OSError, TimeoutError)


@dataclass(eq=False)
class _Tx:
    tx: Transaction
    raw_hex: str
    sender: _Sender
    sends: int = 0
    first_sent_s: float | None = None
    last_sent_s: float = -math.inf
    retry_at_s: float = 0.0
    accepted: bool = False
    committed_s: float | None = None
    row: int | None = None  # the workload row it replays


@dataclass(eq=False)
class _Sender:
    wallet: Wallet
    home_node: int
    next_nonce: int = 0
    open: list[_Tx] = field(default_factory=list)  # nonce order, not yet committed


@dataclass
class LoadSnapshot:
    """Counters so far (for a live display)."""

    elapsed_s: float
    built: int
    accepted: int
    committed: int
    open: int
    behind: int  # due at the last tick but not built: every sender's window was full
    committed_tps_5s: float


@dataclass
class LoadReport:
    """What the load did, for the summary and for tests."""

    duration_s: float
    target_tps: float
    built: int
    sends: int
    accepted: int
    committed: int
    committed_in_window: int
    committed_tps: float
    lost: int  # accepted, never committed
    never_accepted: int
    duplicates: int  # our txs seen committed more than once
    readmitted: int
    unreachable_sends: int
    refused: dict[str, int]
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_ms_max: float | None
    accepted_ids: list[str] = field(repr=False, default_factory=list)

    def to_json(self, *, with_ids: bool = False) -> dict[str, Any]:
        doc = dict(self.__dict__)
        if not with_ids:
            doc.pop("accepted_ids")
        return doc


async def nap(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class ChainFollower:
    """Reads every block after ``start_height`` from the highest node it can
    reach, undoing blocks a reorg (PoW) replaced; tells the generator."""

    def __init__(self, clients: Sequence[AsyncClient], generator: LoadGenerator) -> None:
        self.clients = list(clients)
        self.generator = generator
        self.height = 0
        self.hashes: dict[int, str] = {}
        self.block_txs: dict[int, list[str]] = {}
        self.tx_counts: Counter[str] = Counter()  # tx id -> blocks holding it
        self._source = 0
        self._last_scan_s = -math.inf

    async def start(self) -> None:
        heights = await self._heights()
        best = max((h for h in heights if h is not None), default=0)
        self._source = heights.index(best) if best else 0
        self.height = best
        if best:
            block = await self.clients[self._source].block(best)
            self.hashes[best] = block["hash"]

    async def _heights(self) -> list[int | None]:
        async def one(c: AsyncClient) -> int | None:
            try:
                return int((await c.status())["height"])
            except _NETWORK_ERRORS:
                return None

        return list(await asyncio.gather(*(one(c) for c in self.clients)))

    async def poll(self, now_s: float) -> None:
        """Pick the highest node now and then; fetch the blocks it has beyond ours."""
        if now_s - self._last_scan_s >= 1.0:
            self._last_scan_s = now_s
            heights = await self._heights()
            known = [(h, i) for i, h in enumerate(heights) if h is not None]
            if known:
                self._source = max(known)[1]
        client = self.clients[self._source]
        try:
            head = int((await client.status())["height"])
            fetched = 0
            while self.height < head and fetched < 64:
                block = await client.block(self.height + 1)
                fetched += 1
                parent = self.hashes.get(self.height)
                if parent is not None and block["prev_hash"] != parent:
                    self._revert_top()
                    continue
                self.height += 1
                self.hashes[self.height] = block["hash"]
                self.block_txs[self.height] = block["txs"]
                self.tx_counts.update(block["txs"])
                self.generator.on_committed(block["txs"], asyncio.get_running_loop().time())
        except _NETWORK_ERRORS:
            self._last_scan_s = -math.inf  # pick another node next time

    def _revert_top(self) -> None:
        """The block at our height was replaced (a reorg): forget it."""
        self.hashes.pop(self.height, None)
        ids = self.block_txs.pop(self.height, [])
        self.tx_counts.subtract(ids)
        self.height -= 1
        self.generator.on_reverted(ids)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await self.poll(loop.time())
            await nap(stop, FOLLOW_POLL_S)


class LoadGenerator:
    """Signs and submits transfers; see the module docstring. Use as an async
    context manager, then ``run`` and ``drain``, then ``report``."""

    def __init__(
        self,
        urls: Sequence[str],
        wallets: Sequence[Wallet],
        *,
        tps: float,
        duration_s: float,
        trace: Trace | None = None,
        window: int = 16,
        rebroadcast_s: float = 5.0,
        seed: int = 1,
        fee_estimate: bool = False,
    ) -> None:
        if not urls:
            raise OrdinetError("load: no node URL to send to")
        if not wallets:
            raise OrdinetError("load: no funded account to sign with")
        if len(wallets) < 2 and trace is None:
            raise OrdinetError(
                "load: at least two funded accounts are needed (they pay each other)"
            )
        self.urls = list(urls)
        self.clients = [AsyncClient(u, timeout=REQUEST_TIMEOUT_S) for u in self.urls]
        self.tps = tps
        self.duration_s = duration_s
        self.window = window
        self.rebroadcast_s = rebroadcast_s
        self._rng = random.Random(seed)
        self._senders = [_Sender(w, home_node=i % len(urls)) for i, w in enumerate(wallets)]
        self._arrivals, self._rows = self._schedule(trace, tps, duration_s)
        self._trace = trace
        self._row = 0
        self._next_sender = 0
        self._trace_senders: dict[str, _Sender] = {}
        self.chain_id = ""
        self._by_id: dict[str, _Tx] = {}
        self._committed: dict[str, _Tx] = {}
        self._outbox: deque[_Tx] = deque()
        self._busy: set[int] = set()
        self._down_until = [0.0] * len(urls)
        self._tasks: set[asyncio.Task[None]] = set()
        self._follow: asyncio.Task[None] | None = None
        self._follower_stop = asyncio.Event()
        self._last_rebroadcast_s = -math.inf
        self._commit_times: deque[float] = deque()
        self._start_s = 0.0
        self._end_s = 0.0
        self.started = False
        self._built = 0
        self._behind = 0
        self._sends = 0
        self._accepted = 0
        self._readmitted = 0
        self._unreachable = 0
        self._latencies_s: list[float] = []
        self._refused: Counter[str] = Counter()
        self.follower = ChainFollower(self.clients, self)
        #: pay the nodes' fee estimate (GET /fees/estimate) instead of the usual fees
        self.fee_estimate = fee_estimate
        self._fee_rate: float | None = None
        self._fees: asyncio.Task[None] | None = None

    # -- set-up -------------------------------------------------------------------

    @staticmethod
    def _schedule(
        trace: Trace | None, tps: float, duration_s: float
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The replay times of the trace rows (rescaled to ``tps``), cut at the duration."""
        if trace is None:
            return None, None
        order = np.argsort(trace.arrival_s, kind="stable")
        times = trace.arrival_s[order] - float(trace.arrival_s.min(initial=0.0))
        span = float(times[-1]) if len(times) else 0.0
        if tps > 0 and span > 0:
            times = times * ((len(times) / span) / tps)
        keep = times <= duration_s if duration_s > 0 else np.ones(len(times), dtype=bool)
        return times[keep], order[keep]

    async def __aenter__(self) -> LoadGenerator:
        try:
            await self._prepare()
        except BaseException:
            await self.__aexit__()  # the clients' sessions are open: close them
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self.clients:
            await client.close()

    async def _prepare(self) -> None:
        """The chain id, and every sender's next nonce (after its pooled txs)."""
        for client in self.clients:
            try:
                self.chain_id = (await client.status())["chain_id"]
                break
            except _NETWORK_ERRORS:
                continue
        else:
            raise OrdinetError(f"load: no node answers at {', '.join(self.urls)}")
        sem = asyncio.Semaphore(16)

        async def nonce(s: _Sender) -> None:
            async with sem:
                for k in range(len(self.clients)):
                    try:
                        client = self.clients[(s.home_node + k) % len(self.clients)]
                        s.next_nonce = await client.next_nonce(s.wallet.address)
                        return
                    except _NETWORK_ERRORS:
                        continue
                raise OrdinetError("load: no node answers account queries")

        await asyncio.gather(*(nonce(s) for s in self._senders))
        await self.follower.start()

    # -- the run ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Generate until the duration ends (0: until ``stop``) or ``stop`` is set."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        self._start_s = loop.time()
        self.started = True
        self._follow = asyncio.create_task(self.follower.run(self._follower_stop))
        if self.fee_estimate:
            self._fees = asyncio.create_task(self._follow_fees(stop))
        while not stop.is_set():
            now = loop.time()
            elapsed = now - self._start_s
            if self.duration_s and elapsed >= self.duration_s:
                break
            if self._rows is not None and self._row >= len(self._rows):
                break
            self._build(elapsed)
            self._pump(now)
            await nap(stop, TICK_S)
        self._end_s = loop.time()
        self._behind = 0
        if self._fees is not None:
            self._fees.cancel()
            await asyncio.gather(self._fees, return_exceptions=True)

    async def _follow_fees(self, stop: asyncio.Event) -> None:
        """Ask the nodes for the fee estimate every FEE_REFRESH_S (the first that answers)."""
        while not stop.is_set():
            for client in self.clients:
                try:
                    answer = await client.estimate_fee()
                except _NETWORK_ERRORS:
                    continue
                if answer.get("fee_rate") is not None:
                    self._fee_rate = float(answer["fee_rate"])
                    break
            await nap(stop, FEE_REFRESH_S)

    def _fee(self, data_bytes: int, usual: int) -> int:
        """The fee of a new tx: the estimate for its size, or ``usual``."""
        if not self.fee_estimate or self._fee_rate is None:
            return usual
        return max(0, math.ceil(self._fee_rate * transfer_size(self.chain_id, data_bytes)))

    async def drain(self, timeout_s: float, stop: asyncio.Event | None = None) -> None:
        """Stop building; keep sending until every built tx is committed,
        ``timeout_s`` passes, or ``stop`` is set."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        stop = stop or asyncio.Event()
        while self.open_count() and loop.time() < end and not stop.is_set():
            self._pump(loop.time())
            await nap(stop, TICK_S * 5)
        # one last look at the chain, then stop following
        await self.follower.poll(loop.time())
        self._follower_stop.set()
        if self._follow is not None:
            await self._follow

    def open_count(self) -> int:
        return sum(len(s.open) for s in self._senders)

    def _due(self, elapsed: float) -> int:
        if self._arrivals is not None:
            return int(np.searchsorted(self._arrivals, elapsed, side="right"))
        return int(self.tps * elapsed)

    def _build(self, elapsed: float) -> None:
        due = self._due(elapsed) - self._built
        for k in range(due):
            item = self._next_trace_tx() if self._trace is not None else self._next_transfer()
            if item is None:
                self._behind = due - k  # every sender (or the next row's) is full
                return
            self._outbox.append(item)
            self._built += 1
        self._behind = 0

    def _has_room(self, sender: _Sender) -> bool:
        return len(sender.open) < self.window

    def _new_tx(self, sender: _Sender, to: bytes, amount: int, fee: int, data: bytes) -> _Tx:
        tx = sender.wallet.transfer(
            to=to,
            amount=amount,
            fee=fee,
            nonce=sender.next_nonce,
            chain_id=self.chain_id,
            data=data,
        )
        sender.next_nonce += 1
        item = _Tx(tx, tx.encode().hex(), sender)
        sender.open.append(item)
        self._by_id[tx.id.hex()] = item
        return item

    def _next_transfer(self) -> _Tx | None:
        n = len(self._senders)
        for k in range(n):
            index = (self._next_sender + k) % n
            sender = self._senders[index]
            if self._has_room(sender):
                self._next_sender = (index + 1) % n
                other = self._senders[(index + self._rng.randrange(1, n)) % n]
                amount = self._rng.randrange(1, 1000)
                fee = self._fee(0, self._rng.randrange(1, 20))
                return self._new_tx(sender, other.wallet.address, amount, fee, b"")
        return None

    def _next_trace_tx(self) -> _Tx | None:
        assert self._trace is not None and self._rows is not None
        row = int(self._rows[self._row])
        name = self._trace.sender[row]
        sender = self._trace_senders.get(name)
        if sender is None:
            sender = self._senders[len(self._trace_senders) % len(self._senders)]
            self._trace_senders[name] = sender
        if not self._has_room(sender):
            return None
        self._row += 1
        pad = int(np.clip(self._trace.size[row] - MIN_BENCH_TX_SIZE, 0, MAX_TX_DATA))
        to = address_of(self._trace.recipient[row])
        fee = self._fee(pad, int(self._trace.fee[row]))
        item = self._new_tx(sender, to, 1, fee, bytes(pad))
        item.row = row
        return item

    # -- sending ------------------------------------------------------------------

    def _node_for(self, sender: _Sender, now: float) -> int | None:
        n = len(self.clients)
        for k in range(n):
            node = (sender.home_node + k) % n
            if now >= self._down_until[node]:
                return node
        return None

    def _pump(self, now: float) -> None:
        """Queue resends that are due, then post each node's share of the outbox."""
        self._queue_rebroadcasts(now)
        waiting: deque[_Tx] = deque()
        batches: dict[int, list[_Tx]] = {}
        while self._outbox:
            item = self._outbox.popleft()
            if item.committed_s is not None:
                continue
            node = self._node_for(item.sender, now)
            if node is None or node in self._busy or item.retry_at_s > now:
                waiting.append(item)
                continue
            batch = batches.setdefault(node, [])
            if len(batch) < MAX_BATCH:
                batch.append(item)
            else:
                waiting.append(item)
        self._outbox = waiting
        for node, batch in batches.items():
            self._busy.add(node)
            task = asyncio.create_task(self._post(node, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _queue_rebroadcasts(self, now: float) -> None:
        if now - self._last_rebroadcast_s < 1.0:
            return
        self._last_rebroadcast_s = now
        for sender in self._senders:
            for item in sender.open:
                if item.accepted and now - item.last_sent_s >= self.rebroadcast_s:
                    item.last_sent_s = now  # queued once until this send is answered
                    self._outbox.append(item)

    async def _post(self, node: int, batch: list[_Tx]) -> None:
        loop = asyncio.get_running_loop()
        sent_s = loop.time()
        for item in batch:
            item.sends += 1
            item.last_sent_s = sent_s
            if item.first_sent_s is None:
                item.first_sent_s = sent_s
        self._sends += len(batch)
        try:
            results = await self.clients[node].submit([item.raw_hex for item in batch])
        except _NETWORK_ERRORS as exc:
            self._busy.discard(node)
            self._node_down(node, loop.time(), batch, exc)
            return
        self._busy.discard(node)
        now = loop.time()
        for item, result in zip(batch, results, strict=True):
            self._answered(item, result, now)

    def _answered(self, item: _Tx, result: dict[str, Any], now: float) -> None:
        code = result.get("code")
        if result.get("accepted") or code in HELD_CODES:
            if not item.accepted:
                item.accepted = True
                self._accepted += 1
            elif result.get("accepted"):
                self._readmitted += 1  # it had been accepted, and the network lost it
            return
        if item.committed_s is not None:
            return
        self._refused[str(code)] += 1
        item.retry_at_s = now + RETRY_S
        self._outbox.append(item)

    def _node_down(self, node: int, now: float, batch: list[_Tx], exc: Exception) -> None:
        """Set the node aside; its senders' open txs go elsewhere, now."""
        if isinstance(exc, ApiError) and exc.status < 500:
            self._refused[f"api_{exc.code}"] += len(batch)
        else:
            self._unreachable += len(batch)
        self._down_until[node] = now + NODE_DOWN_S
        resend = set(batch)
        for sender in self._senders:
            if sender.home_node == node:
                resend.update(sender.open)
        for item in resend:
            if item.committed_s is None:
                item.retry_at_s = 0.0
                self._outbox.append(item)

    # -- what the chain says --------------------------------------------------------

    def on_committed(self, ids: list[str], now: float) -> None:
        for tx_id in ids:
            item = self._by_id.pop(tx_id, None)
            if item is None:
                continue  # not ours, or ours again (the follower counts duplicates)
            item.committed_s = now
            item.sender.open.remove(item)
            self._committed[tx_id] = item
            self._commit_times.append(now)
            if item.first_sent_s is not None:
                self._latencies_s.append(now - item.first_sent_s)

    def on_reverted(self, ids: list[str]) -> None:
        """A block we counted was replaced: its txs are open again."""
        for tx_id in ids:
            item = self._committed.pop(tx_id, None)
            if item is None:
                continue
            item.committed_s = None
            self._by_id[tx_id] = item
            item.sender.open.append(item)
            item.sender.open.sort(key=lambda t: t.tx.nonce)
            self._outbox.append(item)

    # -- reporting --------------------------------------------------------------------

    @property
    def labelled(self) -> bool:
        """Whether the load replays a workload (its rows carry values and deadlines)."""
        return self._trace is not None

    def committed_facts(self) -> dict[str, TxFacts]:
        """Fee, size and earned value of each of our committed txs, by id: a
        workload row's ``value`` counts if the tx was committed within the
        row's ``deadline_s`` of its first send (no deadline: any time)."""
        facts: dict[str, TxFacts] = {}
        for tx_id, item in self._committed.items():
            utility = None
            if self._trace is not None and item.row is not None:
                deadline = float(self._trace.deadline_s[item.row])
                sent, seen = item.first_sent_s, item.committed_s
                late = sent is None or seen is None or seen - sent > deadline
                on_time = math.isnan(deadline) or not late
                utility = float(self._trace.value[item.row]) if on_time else 0.0
            facts[tx_id] = TxFacts(fee=item.tx.fee, size=item.tx.size, utility=utility)
        return facts

    def snapshot(self) -> LoadSnapshot:
        now = asyncio.get_running_loop().time()
        elapsed = now - self._start_s if self._start_s else 0.0
        while self._commit_times and self._commit_times[0] < now - 5.0:
            self._commit_times.popleft()
        window = min(5.0, elapsed) or 1.0
        return LoadSnapshot(
            elapsed_s=elapsed,
            built=self._built,
            accepted=self._accepted,
            committed=len(self._committed),
            open=self.open_count(),
            behind=self._behind,
            committed_tps_5s=len(self._commit_times) / window,
        )

    def report(self) -> LoadReport:
        duration = max(self._end_s - self._start_s, 1e-9)
        in_window = sum(
            1
            for item in self._committed.values()
            if item.committed_s is not None and item.committed_s <= self._end_s
        )
        accepted = [i for i in (*self._committed.values(), *self._by_id.values()) if i.accepted]
        lost = sum(1 for item in self._by_id.values() if item.accepted)
        latencies = np.asarray(self._latencies_s) * 1000.0
        counts = self.follower.tx_counts

        def pct(q: float) -> float | None:
            return float(np.percentile(latencies, q)) if len(latencies) else None

        return LoadReport(
            duration_s=duration,
            target_tps=self.tps,
            built=self._built,
            sends=self._sends,
            accepted=self._accepted,
            committed=len(self._committed),
            committed_in_window=in_window,
            committed_tps=in_window / duration,
            lost=lost,
            never_accepted=sum(1 for item in self._by_id.values() if not item.accepted),
            duplicates=sum(max(0, counts[i] - 1) for i in self._committed),
            readmitted=self._readmitted,
            unreachable_sends=self._unreachable,
            refused=dict(self._refused),
            latency_ms_p50=pct(50),
            latency_ms_p99=pct(99),
            latency_ms_max=float(latencies.max()) if len(latencies) else None,
            accepted_ids=[i.tx.id.hex() for i in accepted],
        )
