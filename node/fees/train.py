"""Training the fee model on replayed workloads.

Each training trace is replayed once under the fee policy (``tape.py``).
After each block, for every target N of ``TARGETS``, one row: the
market's features (``features.market_features``, what the estimator will
compute when it serves) and the target ``log1p(lowest sufficient rate /
reference rate)`` for a tx arriving before the next block, weighted by how
many txs did arrive then (so the fit, like the bench, counts txs). One
``HistGradientBoostingRegressor(loss="quantile")`` per level of
``QUANTILES``, monotonic where the market's logic is clear: never a lower
rate for a deeper pool or a busier market, never a higher one for a
longer target. The first ``1 - holdout_frac`` of each tape's blocks are
fitted, the rest scored (the share of held-out rows each level covers).
Everything is seeded: the same traces and config give the same file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor

from node.errors import ConfigError
from node.fees.estimator import Market
from node.fees.features import FEATURE_NAMES, market_features
from node.fees.model import fee_model_document
from node.fees.tape import Tape, record
from node.research.replay import BlockProduction
from node.research.trace import Trace
from node.scheduling.model import encode_model, export_trees

#: The levels the model predicts (the estimator interpolates between them).
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.85, 0.9, 0.95, 0.98, 0.99)
#: The targets rows are made for; longer ones are answered as the longest.
TARGETS = (1, 2, 3, 4, 6, 8, 12, 16, 24)
MONOTONIC = {
    "blocks": -1,
    "pool_blocks": 1,
    "depth_rate_1": 1,
    "depth_rate_n": 1,
    "depth_rate_2n": 1,
    "arrival_load": 1,
}

Log = Callable[[str], None]


@dataclass(frozen=True)
class FeeTrainConfig:
    seed: int = 0
    holdout_frac: float = 0.2
    trees: int = 120
    max_depth: int = 5
    learning_rate: float = 0.1
    min_samples_leaf: int = 40
    quantiles: tuple[float, ...] = QUANTILES
    targets: tuple[int, ...] = TARGETS
    production: BlockProduction = field(default_factory=BlockProduction)


@dataclass(frozen=True)
class FeeTrainResult:
    model_bytes: bytes
    sha256: bytes
    coverage: dict[str, float]  # held-out share of rows at or below each level's prediction
    train_rows: int
    holdout_rows: int


@dataclass(frozen=True)
class Rows:
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    held_out: np.ndarray

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        return Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in _ROW_FIELDS))


_ROW_FIELDS = ("x", "y", "weight", "held_out")


def tape_rows(tape: Tape, config: FeeTrainConfig) -> Rows:
    """One row per block and target: features after the block, the outcome after it."""
    lowest = {n: tape.lowest_rates(n) for n in config.targets}
    market = Market()
    xs, ys, ws, held = [], [], [], []
    cut = int(len(tape) * (1.0 - config.holdout_frac))
    for k in range(1, len(tape)):
        tape.feed(market, k)
        arrivals = len(tape.sizes[k])  # the txs arriving for block k + 1
        reference = market.reference_rate()
        if arrivals == 0 or reference <= 0:
            continue
        for n in config.targets:
            need = lowest[n][k]
            if np.isnan(need):
                continue
            xs.append(market_features(market, n, reference))
            ys.append(np.log1p(need / reference))
            ws.append(float(arrivals))
            held.append(k >= cut)
    if not xs:
        return Rows(np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), np.zeros(0), np.zeros(0, bool))
    return Rows(np.array(xs), np.array(ys), np.array(ws), np.array(held))


def train_fee_model(
    traces: Trace | Sequence[Trace],
    config: FeeTrainConfig,
    *,
    source: str = "",
    log: Log | None = None,
) -> FeeTrainResult:
    """Fit one quantile ensemble per level on the traces' tapes, export to JSON."""
    if not 0.0 < config.holdout_frac < 1.0:
        raise ConfigError(f"holdout fraction must be in (0, 1), got {config.holdout_frac}")
    traces = [traces] if isinstance(traces, Trace) else list(traces)
    parts = []
    for i, trace in enumerate(traces):
        parts.append(tape_rows(record(trace, config.production), config))
        if log is not None:
            log(f"replayed trace {i + 1}/{len(traces)}: {len(parts[-1].y)} rows")
    rows = Rows.concat(parts)
    fit, test = ~rows.held_out, rows.held_out
    if fit.sum() < 2 or test.sum() < 1:
        raise ConfigError(
            f"the traces give {len(rows.y)} rows: too few to train and hold some out",
            code="bad_trace",
        )
    models, coverage = [], {}
    for level in config.quantiles:
        hgb = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=level,
            max_iter=config.trees,
            max_depth=config.max_depth,
            learning_rate=config.learning_rate,
            min_samples_leaf=config.min_samples_leaf,
            monotonic_cst=[MONOTONIC.get(name, 0) for name in FEATURE_NAMES],
            early_stopping=False,
            random_state=config.seed,
        )
        hgb.fit(rows.x[fit], rows.y[fit], sample_weight=rows.weight[fit])
        predicted = hgb.predict(rows.x[test])
        w = rows.weight[test]
        coverage[f"{level:g}"] = round(float((w * (rows.y[test] <= predicted)).sum() / w.sum()), 6)
        models.append(export_trees(hgb))
        if log is not None:
            log(f"quantile {level:g}: held-out coverage {coverage[f'{level:g}']:.3f}")
    training: dict[str, Any] = {
        "source": source,
        "seed": config.seed,
        "rows": int(fit.sum()),
        "holdout_rows": int(test.sum()),
        "trees": config.trees,
        "max_depth": config.max_depth,
        "learning_rate": config.learning_rate,
        "min_samples_leaf": config.min_samples_leaf,
        "targets": list(config.targets),
        "production": asdict(config.production),
        "monotonic": dict(MONOTONIC),
        "holdout_coverage": coverage,
        "sklearn": sklearn.__version__,
    }
    doc = fee_model_document(
        list(config.quantiles), models, max_blocks=max(config.targets), training=training
    )
    raw = encode_model(doc)
    return FeeTrainResult(
        model_bytes=raw,
        sha256=hashlib.sha256(raw).digest(),
        coverage=coverage,
        train_rows=int(fit.sum()),
        holdout_rows=int(test.sum()),
    )
