"""Training the learned policy's model on a labelled trace.

The training set is made by replaying the trace through the real mempool
(``replay.py``) under each behaviour policy (``fee``, ``fifo`` and
``fair-fee``), recording every batch the pool scores: its features,
computed by the same ``FeatureTracker`` the learned policy uses, and its
target, the utility the tx is worth (``oracle.label_worth``: its value,
weighted by how little it can wait) from the hidden labels. So the
model learns from exactly the inputs it will see when it serves; the
learned policy divides the prediction by the size to rank by utility per
byte.

The model is scikit-learn's ``HistGradientBoostingRegressor`` (squared
error: it predicts the expected utility), with monotonic constraints where
the economics is clear (``MONOTONIC``): the prediction never falls when the
fee or the fee rate rises, and never rises when the sender sends more (its
recent rate, its long-run count, how far ahead of its state the nonce
runs). Sending more can therefore never buy priority, whatever the
training data said. It is fitted on the first ``1 - holdout_frac`` of each
replay's rows in admission order and scored on the rest, then exported to
the JSON model format (``model.py``). Everything is seeded: the same trace
and seed give the same file, byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor

from node.errors import ConfigError
from node.research.replay import BlockProduction, Replayer
from node.research.trace import Trace
from node.scheduling.features import DEFAULT_HALF_LIFE_S, FEATURE_NAMES, FeatureTracker
from node.scheduling.learned import MODEL_TARGET
from node.scheduling.model import encode_model, export_hist_gradient_boosting
from node.scheduling.oracle import label_worth
from node.scheduling.policy import Policy, TxColumns, make_policy

#: +1: the prediction is non-decreasing in the feature, -1: non-increasing.
MONOTONIC = {
    "log_fee": 1,
    "log_fee_rate": 1,
    "fee_rate_vs_recent": 1,
    "nonce_gap": -1,
    "sender_log_count": -1,
    "sender_rate_tps": -1,
}
#: Share of the highest-ranked held-out rows the capture metric looks at.
TOP_SHARE = 0.25


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    holdout_frac: float = 0.2
    trees: int = 300
    max_depth: int = 8
    learning_rate: float = 0.1
    min_samples_leaf: int = 20
    max_rows: int = 600_000
    behaviours: tuple[str, ...] = ("fee", "fifo", "fair-fee")
    cold_starts: bool = True
    half_life_s: float = DEFAULT_HALF_LIFE_S
    production: BlockProduction = field(default_factory=BlockProduction)


@dataclass(frozen=True)
class TrainResult:
    model_bytes: bytes
    sha256: bytes
    metrics: dict[str, float]
    train_rows: int
    holdout_rows: int


class _Recorder(Policy):
    """A behaviour policy, keeping the features and target of each batch it scores."""

    name = "recorder"

    def __init__(self, behaviour: Policy, half_life_s: float) -> None:
        self.behaviour = behaviour
        self.tracker = FeatureTracker(half_life_s)
        self.features: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.sizes: list[np.ndarray] = []
        self.fee_rates: list[np.ndarray] = []

    def score(self, txs: TxColumns) -> np.ndarray:
        assert txs.labels is not None
        self.features.append(self.tracker.features(txs))
        size = np.maximum(np.asarray(txs.size, dtype=np.float64), 1.0)
        self.targets.append(label_worth(txs.labels["value"], txs.labels["deadline_s"]))
        self.sizes.append(size)
        self.fee_rates.append(np.asarray(txs.fee_rate, dtype=np.float64))
        return self.behaviour.score(txs)


@dataclass(frozen=True)
class TrainingSet:
    """Rows of every behaviour's replay; ``held_out`` marks each replay's last rows."""

    features: np.ndarray
    target: np.ndarray  # the utility a row is worth (its weighted value)
    size: np.ndarray  # its bytes (>= 1): ranking is by target / size
    fee_rate: np.ndarray
    held_out: np.ndarray  # bool

    @staticmethod
    def concat(parts: list[TrainingSet]) -> TrainingSet:
        return TrainingSet(
            **{f: np.concatenate([getattr(p, f) for p in parts]) for f in _SET_FIELDS}
        )


_SET_FIELDS = ("features", "target", "size", "fee_rate", "held_out")


def training_set(traces: Sequence[Trace], config: TrainConfig) -> TrainingSet:
    """Replay each trace once per behaviour policy and record what it scored.

    Several behaviours show the model more of the states it may meet:
    under ``fee`` a low-fee flood stays in the pool and is mostly refused,
    under ``fifo`` it flows, under ``fair-fee`` a flooding sender waits;
    the learned policy may meet any of them. With ``cold_starts`` each
    trace is also replayed from its middle with an empty history, as a
    node restarted mid-flood meets it. The last ``holdout_frac`` of each
    replay's rows (in admission order) is held out.
    """
    parts: list[TrainingSet] = []
    for trace in traces:
        ordered = trace.sorted_by_arrival()
        replayers = [Replayer(ordered)]
        if config.cold_starts and len(ordered) >= 2:
            replayers.append(Replayer(*ordered.second_half()))
        for replayer in replayers:
            for name in config.behaviours:
                parts.append(_record(replayer, make_policy(name), config))
    return TrainingSet.concat(parts)


def _record(replayer: Replayer, behaviour: Policy, config: TrainConfig) -> TrainingSet:
    recorder = _Recorder(behaviour, config.half_life_s)
    replayer.run(recorder, config.production)
    if not recorder.features:
        raise ConfigError("the trace has no transactions to train on", code="bad_trace")
    n = sum(len(f) for f in recorder.features)
    return TrainingSet(
        features=np.concatenate(recorder.features),
        target=np.concatenate(recorder.targets),
        size=np.concatenate(recorder.sizes),
        fee_rate=np.concatenate(recorder.fee_rates),
        held_out=np.arange(n) >= int(n * (1.0 - config.holdout_frac)),
    )


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    return ranks


def _capture(ranking: np.ndarray, value: np.ndarray, best: float) -> float:
    top = max(1, int(len(ranking) * TOP_SHARE))
    picked = np.argsort(-ranking, kind="stable")[:top]
    return float(value[picked].sum() / best) if best > 0 else 0.0


def holdout_metrics(
    predicted: np.ndarray, target: np.ndarray, value: np.ndarray, fee_rate: np.ndarray
) -> dict[str, float]:
    """R2, Spearman, and the value in the top quarter ranked by model / fee vs the oracle."""
    resid = float(((target - predicted) ** 2).sum())
    spread = float(((target - target.mean()) ** 2).sum())
    rp, rt = _ranks(predicted), _ranks(target)
    spearman = float(np.corrcoef(rp, rt)[0, 1]) if len(target) > 1 and rt.std() > 0 else 0.0
    top = max(1, int(len(target) * TOP_SHARE))
    best = float(value[np.argsort(-target, kind="stable")[:top]].sum())
    return {
        "r2": round(1.0 - resid / spread, 6) if spread > 0 else 0.0,
        "spearman": round(spearman if np.isfinite(spearman) else 0.0, 6),
        "top_quarter_capture_model": round(_capture(predicted, value, best), 6),
        "top_quarter_capture_fee_rate": round(_capture(fee_rate, value, best), 6),
    }


def train(traces: Trace | Sequence[Trace], config: TrainConfig, *, source: str = "") -> TrainResult:
    """Fit on one trace or several, evaluate on each replay's held-out tail,
    export; deterministic given the traces and the config."""
    if not 0.0 < config.holdout_frac < 1.0:
        raise ConfigError(f"holdout fraction must be in (0, 1), got {config.holdout_frac}")
    data = training_set([traces] if isinstance(traces, Trace) else list(traces), config)
    fit_rows = np.flatnonzero(~data.held_out)
    test_rows = np.flatnonzero(data.held_out)
    if len(fit_rows) < 2 or len(test_rows) < 1:
        raise ConfigError(
            f"the trace gives {len(data.target)} training rows: too few to train and hold some out",
            code="bad_trace",
        )
    rng = np.random.default_rng(config.seed)
    if len(fit_rows) > config.max_rows:
        fit_rows = np.sort(rng.choice(fit_rows, size=config.max_rows, replace=False))
    x, y = data.features, data.target
    hgb = HistGradientBoostingRegressor(
        max_iter=config.trees,
        max_depth=config.max_depth,
        learning_rate=config.learning_rate,
        min_samples_leaf=config.min_samples_leaf,
        monotonic_cst=[MONOTONIC.get(name, 0) for name in FEATURE_NAMES],
        early_stopping=False,
        random_state=config.seed,
    )
    hgb.fit(x[fit_rows], y[fit_rows])
    size = data.size[test_rows]
    metrics = holdout_metrics(
        hgb.predict(x[test_rows]) / size,
        y[test_rows] / size,
        y[test_rows],
        data.fee_rate[test_rows],
    )
    training: dict[str, Any] = {
        "source": source,
        "seed": config.seed,
        "rows": len(fit_rows),
        "holdout_rows": len(test_rows),
        "trees": config.trees,
        "max_depth": config.max_depth,
        "learning_rate": config.learning_rate,
        "min_samples_leaf": config.min_samples_leaf,
        "production": asdict(config.production),
        "behaviour_policies": list(config.behaviours),
        "cold_starts": config.cold_starts,
        "monotonic": dict(MONOTONIC),
        "holdout_metrics": metrics,
        "sklearn": sklearn.__version__,
    }
    doc = export_hist_gradient_boosting(
        hgb, half_life_s=config.half_life_s, target=MODEL_TARGET, training=training
    )
    raw = encode_model(doc)
    return TrainResult(
        model_bytes=raw,
        sha256=hashlib.sha256(raw).digest(),
        metrics=metrics,
        train_rows=len(fit_rows),
        holdout_rows=len(test_rows),
    )
