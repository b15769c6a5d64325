"""Replaying a trace through the real mempool under fixed block production.

The bench and the trainer drive the very ``Mempool`` the node runs: a
deterministic event-driven simulation with one block every ``interval_s``
seconds. Before each block, the trace's arrivals since the previous block
are admitted as one batch (``now_s`` = the block time; signatures are not
made, so admission runs with ``signatures_checked=True``); then the block
takes ``mempool.select(limits, now)``, the simulated state advances each
included sender's nonce, and the pool gets ``on_block`` and ``expire``.

Trace names become addresses (SHA-256 of the name); a row becomes an
unsigned transfer of amount 1 whose encoded size is the row's ``size``
(padded with data bytes; clamped to what a transaction can be on the
bench chain). Every account holds plenty of funds, so the balance rule
never binds. Nothing here reads the clock except ``time.process_time``
around mempool calls, which measures the scheduler's CPU time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from node.mempool import Mempool, MempoolConfig
from node.research.trace import (
    BENCH_CHAIN_ID,
    MAX_BENCH_TX_SIZE,
    MIN_BENCH_TX_SIZE,
    Trace,
    address_of,
)
from node.scheduling.policy import BlockLimits, Policy
from node.types import Transaction

#: Every simulated account's balance: more than any trace can spend.
BENCH_BALANCE = 10**15
#: Default block byte limit per tx of the count limit: both limits bind.
DEFAULT_BYTES_PER_TX = 350


@dataclass(frozen=True)
class BlockProduction:
    """When blocks are made and what each may hold."""

    interval_s: float = 1.0
    block_txs: int = 100
    block_bytes: int = 0  # 0: block_txs * DEFAULT_BYTES_PER_TX
    blocks: int = 0  # 0: enough blocks to cover the trace's arrivals

    @property
    def limits(self) -> BlockLimits:
        max_bytes = self.block_bytes or self.block_txs * DEFAULT_BYTES_PER_TX
        return BlockLimits(max_txs=self.block_txs, max_bytes=max_bytes)

    def block_count(self, trace: Trace) -> int:
        if self.blocks:
            return self.blocks
        if len(trace) == 0:
            return 0
        span = float(trace.arrival_s.max() - trace.arrival_s.min())
        return math.floor(span / self.interval_s) + 1


def build_transactions(
    trace: Trace,
    *,
    chain_id: str = BENCH_CHAIN_ID,
    keys: Callable[[str], tuple[bytes, bytes]] | None = None,
) -> list[Transaction]:
    """One transaction per trace row, its encoding ``size`` bytes long.

    Unsigned, from the address of each sender's name, unless ``keys`` maps
    a sender's name to its (seed, address): then each is signed by its
    sender (the simulator's network checks every signature).
    """
    addresses: dict[str, bytes] = {}
    seeds: dict[bytes, bytes] = {}

    def addr(name: str) -> bytes:
        a = addresses.get(name)
        if a is None:
            a = addresses[name] = address_of(name)
        return a

    def sender(name: str) -> bytes:
        if keys is None:
            return addr(name)
        a = addresses.get(name)
        if a is None or a not in seeds:
            seed, a = keys(name)
            addresses[name] = a
            seeds[a] = seed
        return a

    # the encoding's fixed part grows with the chain id: keep every size
    low = MIN_BENCH_TX_SIZE - len(BENCH_CHAIN_ID) + len(chain_id)
    sizes = np.clip(trace.size, low, low + MAX_BENCH_TX_SIZE - MIN_BENCH_TX_SIZE) - low
    pads = {n: bytes(n) for n in np.unique(sizes).tolist()}
    txs = [
        Transaction(
            chain_id=chain_id,
            sender=sender(s),
            nonce=n,
            recipient=addr(r),
            amount=1,
            fee=f,
            data=pads[p],
        )
        for s, r, n, f, p in zip(
            trace.sender,
            trace.recipient,
            trace.nonce.tolist(),
            trace.fee.tolist(),
            sizes.tolist(),
            strict=True,
        )
    ]
    if keys is not None:
        txs = [tx.signed(seeds[tx.sender]) for tx in txs]
    return txs


class BlockWatcher(Protocol):
    """Sees the pool around each block of a replay (the fee bench's tap)."""

    def before_block(self, pool: Mempool, now_s: float) -> None:
        """The arrivals up to ``now_s`` were admitted; the block is not yet taken."""

    def after_block(self, pool: Mempool, block: list[Transaction], now_s: float) -> None:
        """``block`` was taken and the pool updated (``on_block``, ``expire``)."""


@dataclass(frozen=True)
class ReplayResult:
    """What happened to each trace row, and what the scheduler cost."""

    admitted: np.ndarray  # bool: in the pool when its admit() returned
    included_s: np.ndarray  # float64: block time that included it, NaN if none
    blocks: int
    cpu_s: float  # process time in admit (scoring) and select, summed


class Replayer:
    """A trace, its transactions and labels, ready to replay under any policy.

    The trace must be in arrival order (``Trace.sorted_by_arrival``).
    Every account starts at nonce 0, or at ``start_nonces[name]`` (the
    state after an earlier part of the trace, see ``Trace.next_nonces``).
    """

    def __init__(self, trace: Trace, start_nonces: Mapping[str, int] | None = None) -> None:
        assert np.all(np.diff(trace.arrival_s) >= 0), "replay needs a trace in arrival order"
        self.trace = trace
        self.start_nonces = {
            address_of(name): nonce for name, nonce in (start_nonces or {}).items()
        }
        self.txs = build_transactions(trace)
        self.row_of: dict[bytes, int] = {}
        for i, tx in enumerate(self.txs):
            self.row_of.setdefault(tx.id, i)
        self.labels: Mapping[str, np.ndarray] = {
            "value": trace.value,
            "deadline_s": trace.deadline_s,
            "class": np.asarray(trace.tx_class),
            "row": np.arange(len(trace)),
            "arrival_s": trace.arrival_s,  # the trace's own: the pool stamps admission
        }

    def run(
        self,
        policy: Policy,
        production: BlockProduction,
        *,
        config: MempoolConfig | None = None,
        progress: Callable[[int], None] | None = None,
        watch: BlockWatcher | None = None,
    ) -> ReplayResult:
        """Replay the whole trace; ``progress(k)`` after each block k, and
        ``watch`` told before and after each block."""
        trace = self.trace
        n = len(trace)
        admitted = np.zeros(n, dtype=bool)
        included = np.full(n, np.nan)
        next_nonce: dict[bytes, int] = dict(self.start_nonces)

        def accounts(address: bytes) -> tuple[int, int]:
            return BENCH_BALANCE, next_nonce.get(address, 0)

        pool = Mempool(
            chain_id=BENCH_CHAIN_ID,
            accounts=accounts,
            policy=policy,
            config=config if config is not None else MempoolConfig(),
        )
        limits = production.limits
        blocks = production.block_count(trace)
        start = float(trace.arrival_s[0]) if n else 0.0
        arrival = trace.arrival_s
        cpu = 0.0
        done = 0
        for k in range(1, blocks + 1):
            now = start + k * production.interval_s
            upto = int(np.searchsorted(arrival, now, side="right"))
            if upto > done:
                labels = {name: col[done:upto] for name, col in self.labels.items()}
                t = time.process_time()
                results = pool.admit(
                    self.txs[done:upto], now, signatures_checked=True, labels=labels
                )
                cpu += time.process_time() - t
                admitted[done:upto] = [r.accepted for r in results]
                done = upto
            if watch is not None:
                watch.before_block(pool, now)
            t = time.process_time()
            block = pool.select(limits, now)
            cpu += time.process_time() - t
            for tx in block:
                included[self.row_of[tx.id]] = now
                next_nonce[tx.sender] = tx.nonce + 1
            pool.on_block(block, now)
            pool.expire(now)
            if watch is not None:
                watch.after_block(pool, block, now)
            if progress is not None:
                progress(k)
        return ReplayResult(admitted=admitted, included_s=included, blocks=blocks, cpu_s=cpu)
