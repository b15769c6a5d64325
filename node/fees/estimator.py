"""The one interface of the fee estimators, what they see, and what they answer.

An estimator is told about each committed block (``observe_block``) and
about the pool after it (``observe_pool``), in that order, with the time in
the views; ``estimate(blocks, confidence)`` then answers the fee rate a tx
should pay to be included within ``blocks`` blocks (the next block is 1)
with probability ``confidence``. Estimators never read a clock or a
random source: the same views give the same answers.

The shared ``Market`` keeps what every answer reports as its basis: the
pool's size and bytes, how full the recent blocks were, and the arrival
rate (from the pool's admission counter). Fee rates are fee per encoded
byte, as ``Transaction.fee_rate``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from node.errors import OrdinetError

#: The largest target an estimator answers for (Bitcoin Core's, a week of its blocks).
MAX_BLOCKS = 1008
DEFAULT_BLOCKS = 3
DEFAULT_CONFIDENCE = 0.9
#: Blocks the basis looks back over (fullness, clearing rates).
RECENT_BLOCKS = 20
#: Seconds of admissions the arrival rate is measured over.
ARRIVAL_WINDOW_S = 30.0


class BadFeeQuery(OrdinetError):
    """A fee question that has no answer: blocks < 1, confidence outside (0, 1), ..."""

    code = "bad_fee_query"


def check_query(blocks: object, confidence: object) -> tuple[int, float]:
    """``(blocks, confidence)`` as an int in [1, MAX_BLOCKS] and a float in (0, 1),
    or BadFeeQuery (code ``bad_blocks`` or ``bad_confidence``)."""
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= MAX_BLOCKS:
        raise BadFeeQuery(
            f"blocks must be an integer from 1 to {MAX_BLOCKS}, got {_show(blocks)}",
            code="bad_blocks",
        )
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not math.isfinite(confidence)
        or not 0.0 < confidence < 1.0
    ):
        raise BadFeeQuery(
            f"confidence must be a number strictly between 0 and 1, got {_show(confidence)}",
            code="bad_confidence",
        )
    return blocks, float(confidence)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class BlockView:
    """A committed block as the estimators see it: its txs' fee rates and sizes."""

    height: int
    time_s: float
    fee_rates: np.ndarray  # float64, one per included tx
    sizes: np.ndarray  # int64
    max_txs: int
    max_bytes: int
    #: the included txs' ids (the bucket estimator follows txs from pool to block)
    tx_ids: tuple[Hashable, ...] = ()

    @property
    def fullness(self) -> float:
        """The larger of the count and byte shares of the block's limits used."""
        used = float(self.sizes.sum()) / self.max_bytes if self.max_bytes else 0.0
        return min(1.0, max(len(self.fee_rates) / self.max_txs if self.max_txs else 0.0, used))

    @property
    def clearing_rate(self) -> float:
        """What a newcomer had to pay more than to get in: the lowest fee rate
        in the block when it was full, 0 when it had room for one more tx."""
        n = len(self.fee_rates)
        if n == 0:
            return 0.0
        room = self.max_bytes - int(self.sizes.sum())
        if n < self.max_txs and room >= float(self.sizes.mean()):
            return 0.0
        return float(self.fee_rates.min())


@dataclass(frozen=True)
class PoolView:
    """The pool at ``time_s``: its executable txs' fee rates and sizes, and counters."""

    time_s: float
    fee_rates: np.ndarray  # float64, the pending (executable) txs
    sizes: np.ndarray  # int64
    size: int  # every pooled tx, queued ones too
    bytes: int
    #: txs the pool admitted since it started (a counter: the arrival rate)
    admitted_total: int
    tx_ids: tuple[Hashable, ...] = ()

    @staticmethod
    def empty(time_s: float = 0.0) -> PoolView:
        return PoolView(time_s, np.zeros(0), np.zeros(0, dtype=np.int64), 0, 0, 0)


@dataclass(frozen=True)
class Basis:
    """What an estimate was made from."""

    pool_txs: int
    pool_bytes: int
    pending_txs: int
    block_fullness: float  # mean over the recent blocks, 0..1
    recent_blocks: int
    arrival_tps: float
    height: int
    time_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "pool_txs": self.pool_txs,
            "pool_bytes": self.pool_bytes,
            "pending_txs": self.pending_txs,
            "block_fullness": round(self.block_fullness, 6),
            "recent_blocks": self.recent_blocks,
            "arrival_tps": round(self.arrival_tps, 6),
            "height": self.height,
        }


@dataclass(frozen=True)
class Estimate:
    """The answer: pay ``fee_rate`` per byte to be in within ``blocks`` blocks
    with probability ``confidence``."""

    fee_rate: float
    blocks: int
    confidence: float
    estimator: str
    basis: Basis
    #: the model's SHA-256 (hex) when a model answered
    model_sha256: str | None = None

    @property
    def answered(self) -> bool:
        """False when the estimator had too little data to answer (a NaN rate)."""
        return not math.isnan(self.fee_rate)

    def fee(self, size: int) -> int | None:
        """The fee of a tx of ``size`` bytes at this rate (rounded up); None unanswered."""
        if not self.answered:
            return None
        return math.ceil(self.fee_rate * size - 1e-9) if self.fee_rate > 0 else 0

    def to_json(self, size: int) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "confidence": self.confidence,
            "fee_rate": round(self.fee_rate, 9) if self.answered else None,
            "fee": self.fee(size),
            "size": size,
            "estimator": self.estimator,
            "model_sha256": self.model_sha256,
            "basis": self.basis.to_json(),
        }


@dataclass
class Market:
    """The recent blocks, the last pool view and the arrival rate; every
    estimator keeps one for its basis (and the model for its features)."""

    recent: int = RECENT_BLOCKS
    blocks: deque[BlockView] = field(default_factory=deque)
    pool: PoolView = field(default_factory=PoolView.empty)
    _admissions: deque[tuple[float, int]] = field(default_factory=deque)

    def observe_block(self, block: BlockView) -> None:
        self.blocks.append(block)
        while len(self.blocks) > self.recent:
            self.blocks.popleft()

    def observe_pool(self, pool: PoolView) -> None:
        self.pool = pool
        counts = self._admissions
        if counts and (pool.admitted_total < counts[-1][1] or pool.time_s < counts[-1][0]):
            counts.clear()  # a new pool (the node restarted): start over
        counts.append((pool.time_s, pool.admitted_total))
        while len(counts) > 2 and pool.time_s - counts[1][0] >= ARRIVAL_WINDOW_S:
            counts.popleft()

    @property
    def height(self) -> int:
        return self.blocks[-1].height if self.blocks else 0

    @property
    def arrival_tps(self) -> float:
        counts = self._admissions
        if len(counts) < 2 or counts[-1][0] <= counts[0][0]:
            return 0.0
        return (counts[-1][1] - counts[0][1]) / (counts[-1][0] - counts[0][0])

    def fullness(self, last: int | None = None) -> float:
        blocks = list(self.blocks)[-(last or self.recent) :]
        return float(np.mean([b.fullness for b in blocks])) if blocks else 0.0

    def clearing_rates(self) -> np.ndarray:
        """The recent blocks' clearing rates, oldest first."""
        return np.array([b.clearing_rate for b in self.blocks], dtype=np.float64)

    def reference_rate(self) -> float:
        """The median fee rate of the txs in the recent blocks (else of the
        pool; 0 with neither): the scale the model's features are in."""
        rates = [b.fee_rates for b in self.blocks if len(b.fee_rates)]
        if rates:
            return float(np.median(np.concatenate(rates)))
        if len(self.pool.fee_rates):
            return float(np.median(self.pool.fee_rates))
        return 0.0

    def basis(self) -> Basis:
        pool = self.pool
        return Basis(
            pool_txs=pool.size,
            pool_bytes=pool.bytes,
            pending_txs=len(pool.fee_rates),
            block_fullness=self.fullness(),
            recent_blocks=len(self.blocks),
            arrival_tps=self.arrival_tps,
            height=self.height,
            time_s=pool.time_s,
        )


class FeeEstimator(ABC):
    """Watches blocks and the pool; answers fee rates for (blocks, confidence)."""

    name: str = ""

    def __init__(self) -> None:
        self.market = Market()

    def observe_block(self, block: BlockView) -> None:
        """A block was committed (call before ``observe_pool`` of the pool after it)."""
        self.market.observe_block(block)

    def observe_pool(self, pool: PoolView) -> None:
        """The pool as it is now."""
        self.market.observe_pool(pool)

    def estimate(
        self, blocks: int = DEFAULT_BLOCKS, confidence: float = DEFAULT_CONFIDENCE
    ) -> Estimate:
        """The fee rate for inclusion within ``blocks`` with probability
        ``confidence`` (BadFeeQuery for a question with no answer)."""
        blocks, confidence = check_query(blocks, confidence)
        rate = float(self.fee_rate(blocks, confidence))
        if not math.isnan(rate):
            rate = max(0.0, rate)
        return Estimate(
            fee_rate=rate,
            blocks=blocks,
            confidence=confidence,
            estimator=self.name,
            basis=self.market.basis(),
            model_sha256=self.model_sha256,
        )

    @property
    def model_sha256(self) -> str | None:
        return None

    @abstractmethod
    def fee_rate(self, blocks: int, confidence: float) -> float:
        """The estimator's answer for a checked question."""
