"""The learned estimator: quantile regression of the lowest sufficient fee rate,
recalibrated online against what happened.

For a target of N blocks, the model (``model.py``) predicts quantiles of
the lowest fee rate that would have got a tx arriving now in within N
blocks, from the market's features (``features.py``). Between the model's
levels the rate is linear in the level, and level 0 is rate 0.

The model's levels are conditional: "in a market like this one, 90% of
txs paying this got in". Over a stretch of quiet blocks, where any fee
gets in, that makes the share of txs that get in far above 90%. So the
estimator also keeps, for each target of the training grid, what each
block's prediction would have needed (Kuleshov et al., "Accurate
uncertainties for deep learning using calibrated regression", 2018): once
the N blocks after a prediction are seen, the lowest level u whose rate
would have got a tx in (0 when a block had room). The answer for
confidence P is then the predicted rate at the level reached by a share P
of the recent u values (weighted by the txs that arrived), so that a share
P of recent txs paying the answer would have got in. Until
``MIN_RECORDS`` predictions are resolved, the level is P itself. Beyond the
model's ``max_blocks`` the answer is the one for ``max_blocks`` (a rate
that gets a tx in within fewer blocks also does within more).

Before any block is seen there is no market to read: the answer is the
best rate in the pool (0 for an empty pool), which is what a tx must
outbid to be next.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from node.fees.estimator import BlockView, FeeEstimator, PoolView
from node.fees.features import market_features
from node.fees.model import FeeModel, load_default_fee_model

#: Resolved predictions kept per target (blocks).
RECALIBRATION_WINDOW = 200
#: Resolved predictions needed before the levels are recalibrated.
MIN_RECORDS = 30


@dataclass
class _Prediction:
    height: int  # made after this block
    admitted_total: int  # the pool's counter then: the txs that follow weight it
    curves: np.ndarray  # targets x levels (level 0 included): predicted rates
    weight: float = 0.0


def first_hit_level(levels: np.ndarray, rates: np.ndarray, need: float) -> float:
    """The lowest level whose rate (linear between levels) beats ``need``:
    0 when nothing was needed, 1 when no level would have."""
    if need <= 0:
        return 0.0
    above = np.flatnonzero(rates > need)
    if len(above) == 0:
        return 1.0
    i = int(above[0])
    if i == 0:
        return float(levels[0])
    r0, r1 = rates[i - 1], rates[i]
    return float(levels[i - 1] + (levels[i] - levels[i - 1]) * (need - r0) / (r1 - r0))


def weighted_level(u: np.ndarray, w: np.ndarray, share: float) -> float:
    """The smallest u reached by a weighted ``share`` of the values."""
    order = np.argsort(u, kind="stable")
    cum = np.cumsum(w[order])
    if cum[-1] <= 0:
        return share
    i = int(np.searchsorted(cum, share * cum[-1], side="left"))
    return float(u[order][min(i, len(u) - 1)])


class QuantileEstimator(FeeEstimator):
    name = "model"

    def __init__(self, model: FeeModel | None = None, *, recalibrate: bool = True) -> None:
        super().__init__()
        self.model = model if model is not None else load_default_fee_model()
        self.recalibrate = recalibrate
        if not recalibrate:
            self.name = "model-raw"
        self.levels = np.concatenate([[0.0], self.model.quantiles])
        targets = self.model.training.get("targets") or [self.model.max_blocks]
        self.targets = np.array(sorted({int(t) for t in targets}), dtype=np.int64)
        self._clearing: deque[tuple[int, float]] = deque()
        self._open: deque[_Prediction] = deque()
        self._resolved = [deque[tuple[float, float]]() for _ in self.targets]
        self._predicted_at = -1

    @property
    def model_sha256(self) -> str | None:
        return self.model.sha256.hex()

    # -- recalibration ----------------------------------------------------------

    def observe_block(self, block: BlockView) -> None:
        super().observe_block(block)
        if self.recalibrate:
            self._clearing.append((block.height, block.clearing_rate))
            while len(self._clearing) > int(self.targets.max()):
                self._clearing.popleft()

    def observe_pool(self, pool: PoolView) -> None:
        """After a new block: weigh the last prediction by the txs admitted
        since, resolve the predictions whose targets just ended, predict."""
        super().observe_pool(pool)
        market = self.market
        if not self.recalibrate or not market.blocks or market.height == self._predicted_at:
            return
        self._predicted_at = market.height
        if self._open and self._open[-1].weight == 0.0:
            self._open[-1].weight = float(pool.admitted_total - self._open[-1].admitted_total)
        self._resolve()
        reference = market.reference_rate()
        if reference > 0:
            curves = np.array([self._curve(int(n), reference) for n in self.targets])
            self._open.append(_Prediction(market.height, pool.admitted_total, curves))

    def _resolve(self) -> None:
        height = self.market.height
        rates = dict(self._clearing)
        for p in self._open:
            for t, n in enumerate(self.targets.tolist()):
                window = [rates.get(h) for h in range(p.height + 1, p.height + n + 1)]
                if p.height + n != height or p.weight <= 0 or None in window:
                    continue
                need = min(r for r in window if r is not None)
                resolved = self._resolved[t]
                resolved.append((first_hit_level(self.levels, p.curves[t], need), p.weight))
                if len(resolved) > RECALIBRATION_WINDOW:
                    resolved.popleft()
        while self._open and self._open[0].height + int(self.targets.max()) <= height:
            self._open.popleft()

    def level(self, blocks: int, confidence: float) -> float:
        """The model level that answers ``confidence`` for ``blocks`` now."""
        t = max(0, int(np.searchsorted(self.targets, blocks, side="right")) - 1)
        resolved = self._resolved[t]
        if not self.recalibrate or len(resolved) < MIN_RECORDS:
            return confidence
        u, w = np.array(list(resolved)).T
        return weighted_level(u, w, confidence)

    # -- answering ----------------------------------------------------------------

    def _curve(self, blocks: int, reference: float) -> np.ndarray:
        """The predicted rates at each level (level 0: rate 0) for ``blocks``."""
        row = market_features(self.market, min(blocks, self.model.max_blocks), reference)
        predicted = np.maximum(np.expm1(self.model.predict(row[None, :])[0]), 0.0) * reference
        return np.concatenate([[0.0], predicted])

    def fee_rate(self, blocks: int, confidence: float) -> float:
        market = self.market
        reference = market.reference_rate()
        if not market.blocks or reference <= 0:
            rates = market.pool.fee_rates
            return float(rates.max()) if len(rates) and not market.blocks else 0.0
        n = min(blocks, self.model.max_blocks)
        curve = self._curve(n, reference)
        return float(np.interp(self.level(n, confidence), self.levels, curve))
