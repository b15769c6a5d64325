"""The Bitcoin Core-style baseline: fee-rate buckets and how long their txs waited.

Bitcoin Core's ``CBlockPolicyEstimator`` (src/policy/fees.cpp, behind
``estimatesmartfee``), kept to its rules and its constants:

- Fee rates fall into exponentially spaced buckets (``FEE_SPACING`` = 1.05
  apart). Each tx is tracked from the first pool view it appears in, at
  the height of the chain then.
- When a tracked tx is included, after ``d`` blocks, every target ``t >=
  d`` of its bucket counts one success (``conf[t][bucket]``) and the bucket
  one confirmed tx; when it leaves the pool otherwise, every target it had
  already waited past counts one failure. Txs still pooled longer than a
  target count against it too (Core's ``extraNum``). All counts decay by a
  horizon's factor each block: short (targets up to 12, 0.962), medium (up
  to 48, 0.9952, periods of 2 blocks), long (up to 1008, 0.99931, periods
  of 24).
- ``EstimateMedianVal``: walk the buckets from the highest fee rate down,
  grouping buckets until the group holds enough data (``SUFFICIENT_TXS /
  (1 - decay)`` decayed txs); a group passes when its share of txs
  included within the target is at least the asked confidence. The walk
  stops at the first failing group; the answer is the average fee rate of
  the bucket holding the median tx of the last passing range. No passing
  range: no answer (NaN; Core says "Insufficient data or no feerate found").

Core asks 60%, 85% or 95% depending on the target and mode; here the
confidence is the question's.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from node.fees.estimator import BlockView, FeeEstimator, PoolView

FEE_SPACING = 1.05
MIN_BUCKET_RATE = 1e-3
MAX_BUCKET_RATE = 1e6
SUFFICIENT_TXS = 0.5  # Core's SUFFICIENT_TXS_SHORT; it is 0.1 per block for the others


@dataclass(frozen=True)
class Horizon:
    max_target: int  # in blocks
    decay: float
    scale: int  # blocks per period
    sufficient: float


SHORT = Horizon(max_target=12, decay=0.962, scale=1, sufficient=SUFFICIENT_TXS)
MEDIUM = Horizon(max_target=48, decay=0.9952, scale=2, sufficient=0.1)
LONG = Horizon(max_target=1008, decay=0.99931, scale=24, sufficient=0.1)


def bucket_bounds() -> np.ndarray:
    """Upper bounds of the buckets, geometric from MIN to MAX, then infinity."""
    count = math.ceil(math.log(MAX_BUCKET_RATE / MIN_BUCKET_RATE) / math.log(FEE_SPACING))
    bounds = MIN_BUCKET_RATE * FEE_SPACING ** np.arange(count + 1)
    return np.append(bounds, np.inf)


class _ConfirmStats:
    """One horizon's decayed counts (Core's ``TxConfirmStats``)."""

    def __init__(self, horizon: Horizon, buckets: int) -> None:
        self.horizon = horizon
        self.periods = math.ceil(horizon.max_target / horizon.scale)
        self.conf = np.zeros((self.periods, buckets))
        self.fail = np.zeros((self.periods, buckets))
        self.confirmed = np.zeros(buckets)
        self.rate_sum = np.zeros(buckets)

    def period(self, blocks: int) -> int:
        return math.ceil(blocks / self.horizon.scale)

    def decay(self) -> None:
        d = self.horizon.decay
        for a in (self.conf, self.fail, self.confirmed, self.rate_sum):
            a *= d

    def confirm(self, blocks: int, bucket: int, rate: float) -> None:
        first = self.period(max(blocks, 1)) - 1
        if first < self.periods:
            self.conf[first:, bucket] += 1.0
        self.confirmed[bucket] += 1.0
        self.rate_sum[bucket] += rate

    def give_up(self, waited: int, bucket: int) -> None:
        passed = min(waited // self.horizon.scale, self.periods)
        if passed > 0:
            self.fail[:passed, bucket] += 1.0

    def median_rate(self, target: int, confidence: float, waiting: np.ndarray) -> float:
        """``EstimateMedianVal``: ``waiting[b]`` are the txs of bucket b still
        pooled for at least ``target`` blocks."""
        p = self.period(target) - 1
        enough = self.horizon.sufficient / (1.0 - self.horizon.decay)
        conf, fail, confirmed = self.conf[p], self.fail[p], self.confirmed
        n_conf = total = failed = extra = 0.0
        near = len(confirmed) - 1
        best: tuple[int, int] | None = None
        for b in range(len(confirmed) - 1, -1, -1):
            n_conf += conf[b]
            total += confirmed[b]
            failed += fail[b]
            extra += waiting[b]
            if total < enough:
                continue
            if n_conf / (total + failed + extra) < confidence:
                break
            best = (b, near)
            n_conf = total = failed = extra = 0.0
            near = b - 1
        if best is None:
            return math.nan
        low, high = best
        counts = confirmed[low : high + 1]
        if counts.sum() <= 0:
            return math.nan
        middle = low + int(np.searchsorted(np.cumsum(counts), counts.sum() / 2.0))
        return float(self.rate_sum[middle] / confirmed[middle])


class BucketEstimator(FeeEstimator):
    name = "buckets"

    def __init__(self) -> None:
        super().__init__()
        self.bounds = bucket_bounds()
        self.stats = [_ConfirmStats(h, len(self.bounds)) for h in (SHORT, MEDIUM, LONG)]
        # tracked txs: id -> (height when first seen pooled, bucket, fee rate)
        self._tracked: dict[Hashable, tuple[int, int, float]] = {}
        self._ages = np.zeros(0, dtype=np.int64)
        self._buckets = np.zeros(0, dtype=np.int64)

    def bucket_of(self, rates: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, rates, side="left")

    def observe_block(self, block: BlockView) -> None:
        super().observe_block(block)
        for s in self.stats:
            s.decay()
        for tx_id in block.tx_ids:
            entry = self._tracked.pop(tx_id, None)
            if entry is None:
                continue  # never seen pooled: Core does not count it either
            seen_at, bucket, rate = entry
            for s in self.stats:
                s.confirm(block.height - seen_at, bucket, rate)

    def observe_pool(self, pool: PoolView) -> None:
        super().observe_pool(pool)
        height = self.market.height
        pooled = set(pool.tx_ids)
        for tx_id in [i for i in self._tracked if i not in pooled]:
            seen_at, bucket, _ = self._tracked.pop(tx_id)
            for s in self.stats:
                s.give_up(height - seen_at, bucket)
        buckets = self.bucket_of(pool.fee_rates)
        for tx_id, bucket, rate in zip(
            pool.tx_ids, buckets.tolist(), pool.fee_rates.tolist(), strict=True
        ):
            if tx_id not in self._tracked:
                self._tracked[tx_id] = (height, bucket, rate)
        entries = list(self._tracked.values())
        self._ages = np.array([height - e[0] for e in entries], dtype=np.int64)
        self._buckets = np.array([e[1] for e in entries], dtype=np.int64)

    def fee_rate(self, blocks: int, confidence: float) -> float:
        stats = next(s for s in self.stats if blocks <= s.horizon.max_target)
        waiting = np.bincount(
            self._buckets[self._ages >= blocks], minlength=len(self.bounds)
        ).astype(np.float64)
        return stats.median_rate(blocks, confidence, waiting)
