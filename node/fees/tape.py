"""A replay recorded for the fee estimators: the pool and each block, and the outcomes.

``record(trace, production)`` replays a trace through the real mempool
(``node.research.replay``, under the ``fee`` policy: highest fee rate
first, the market every estimator assumes) and keeps, for each block k at
time t_k: the pool once the arrivals up to t_k are in, the block, and the
pool after it. ``Tape.feed(estimator, k)`` shows an estimator those three
in that order; its estimate then serves the txs that arrive before the next
block.

The outcome of a fee rate is read off the tape: one more tx (a marginal
one) arriving for block k with rate r is in within N blocks iff some block
k .. k+N-1 had room, or r beats that block's clearing rate (the lowest
rate it took, when full). So the lowest sufficient rate is
``min(clearing[k .. k+N-1])`` (0 if one of them had room), and a fee
estimate is judged against it without replaying again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from node.fees.estimator import BlockView, PoolView
from node.fees.views import block_view, pool_view
from node.mempool import Mempool
from node.research.replay import BlockProduction, Replayer
from node.research.trace import MAX_BENCH_TX_SIZE, MIN_BENCH_TX_SIZE, Trace
from node.scheduling.policy import FeePolicy
from node.types import Transaction

#: Blocks of arrivals a burst is judged over.
BURST_WINDOW_BLOCKS = 5


class Observer(Protocol):
    """What the tape feeds: an estimator, or a bare ``Market``."""

    def observe_block(self, block: BlockView) -> None: ...

    def observe_pool(self, pool: PoolView) -> None: ...


@dataclass(frozen=True)
class Step:
    before: PoolView  # arrivals admitted, block not yet taken
    block: BlockView
    after: PoolView


@dataclass(frozen=True)
class Tape:
    """Block k of the replay is ``steps[k - 1]``; ``arrivals[k - 1]`` the rows
    admitted for it (their sizes in ``sizes[k - 1]``)."""

    steps: list[Step]
    sizes: list[np.ndarray]
    production: BlockProduction

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def clearing(self) -> np.ndarray:
        return np.array([s.block.clearing_rate for s in self.steps], dtype=np.float64)

    def feed(self, estimator: Observer, k: int) -> None:
        """Show ``estimator`` block k (1-based) and the pool around it."""
        step = self.steps[k - 1]
        estimator.observe_pool(step.before)
        estimator.observe_block(step.block)
        estimator.observe_pool(step.after)

    def lowest_rates(self, blocks: int) -> np.ndarray:
        """For each block k, the lowest rate that gets a tx arriving for k in
        within ``blocks`` blocks (NaN where the tape ends first)."""
        clearing = self.clearing
        n = len(clearing)
        out = np.full(n, np.nan)
        for k in range(n - blocks + 1):
            out[k] = clearing[k : k + blocks].min()
        return out

    def bursts(self) -> np.ndarray:
        """Per block, whether the arrivals of the last BURST_WINDOW_BLOCKS
        blocks exceed their capacity in txs or bytes (the pool is growing)."""
        limits = self.production.limits
        count = np.array([len(s) for s in self.sizes], dtype=np.float64)
        size = np.array([float(s.sum()) for s in self.sizes])
        w = BURST_WINDOW_BLOCKS
        kernel = np.ones(w)
        demand_txs = np.convolve(count, kernel)[: len(count)]
        demand_bytes = np.convolve(size, kernel)[: len(size)]
        window = np.minimum(np.arange(1, len(count) + 1), w)
        return (demand_txs > window * limits.max_txs) | (demand_bytes > window * limits.max_bytes)


class _Recorder:
    def __init__(self, production: BlockProduction) -> None:
        self.limits = production.limits
        self.before: list[PoolView] = []
        self.steps: list[Step] = []

    def before_block(self, pool: Mempool, now_s: float) -> None:
        self.before.append(pool_view(pool, now_s))

    def after_block(self, pool: Mempool, block: list[Transaction], now_s: float) -> None:
        k = len(self.steps) + 1
        view = block_view(k, now_s, block, self.limits)
        self.steps.append(Step(self.before[-1], view, pool_view(pool, now_s)))


def record(
    trace: Trace,
    production: BlockProduction,
    *,
    start_nonces: dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Tape:
    """Replay ``trace`` (in arrival order) under the fee policy and keep the tape."""
    trace = trace.sorted_by_arrival()
    recorder = _Recorder(production)
    Replayer(trace, start_nonces).run(FeePolicy(), production, progress=progress, watch=recorder)
    start = float(trace.arrival_s[0]) if len(trace) else 0.0
    times = start + production.interval_s * np.arange(1, len(recorder.steps) + 1)
    edges = np.searchsorted(trace.arrival_s, times, side="right")
    lows = np.concatenate([[0], edges[:-1]])
    clipped = np.clip(trace.size, MIN_BENCH_TX_SIZE, MAX_BENCH_TX_SIZE)
    sizes = [clipped[a:b] for a, b in zip(lows.tolist(), edges.tolist(), strict=True)]
    return Tape(recorder.steps, sizes, production)
