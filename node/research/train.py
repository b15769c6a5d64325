"""Training the learned policy's model on a labelled trace.

The training set is made by replaying the trace through the real mempool
(``replay.py``) under each behaviour policy (``fee`` and ``fifo``),
recording every batch the pool scores: its features, computed by the
same ``FeatureTracker`` the learned policy uses, and its target,
``oracle.label_priority`` (utility per byte) from the hidden labels. So
the model learns from exactly the inputs it will see when it serves.

The model is scikit-learn's ``GradientBoostingRegressor`` (squared error:
it predicts the expected utility per byte), fitted on the first
``1 - holdout_frac`` of each replay's rows in admission order and scored
on the rest, then exported to the JSON model format (``model.py``). Everything is
seeded: the same trace and seed give the same file, byte for byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingRegressor

from node.errors import ConfigError
from node.research.replay import BlockProduction, Replayer
from node.research.trace import Trace
from node.scheduling.features import DEFAULT_HALF_LIFE_S, FeatureTracker
from node.scheduling.model import encode_model, export_gradient_boosting
from node.scheduling.oracle import label_priority
from node.scheduling.policy import Policy, TxColumns, make_policy

TARGET = "utility_per_byte"
#: Share of the highest-ranked held-out rows the capture metric looks at.
TOP_SHARE = 0.25


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    holdout_frac: float = 0.2
    trees: int = 100
    max_depth: int = 4
    learning_rate: float = 0.1
    min_samples_leaf: int = 20
    max_rows: int = 100_000
    behaviours: tuple[str, ...] = ("fee", "fifo")
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
        self.values: list[np.ndarray] = []
        self.fee_rates: list[np.ndarray] = []

    def score(self, txs: TxColumns) -> np.ndarray:
        assert txs.labels is not None
        self.features.append(self.tracker.features(txs))
        target = label_priority(txs.labels["value"], txs.labels["deadline_s"], txs.size)
        self.targets.append(target)
        self.values.append(target * np.maximum(txs.size, 1))
        self.fee_rates.append(np.asarray(txs.fee_rate, dtype=np.float64))
        return self.behaviour.score(txs)


@dataclass(frozen=True)
class TrainingSet:
    """Rows of every behaviour's replay; ``held_out`` marks each replay's last rows."""

    features: np.ndarray
    target: np.ndarray
    value: np.ndarray  # the utility a row is worth (label_priority * size)
    fee_rate: np.ndarray
    held_out: np.ndarray  # bool


def training_set(trace: Trace, config: TrainConfig) -> TrainingSet:
    """Replay the trace once per behaviour policy and record what it scored.

    Several behaviours show the model more of the states it may meet:
    under ``fee`` a low-fee flood stays in the pool and is mostly refused,
    under ``fifo`` it flows; the learned policy may meet either. The last
    ``holdout_frac`` of each replay's rows (in admission order) is held out.
    """
    replayer = Replayer(trace.sorted_by_arrival())
    parts: list[TrainingSet] = []
    for name in config.behaviours:
        recorder = _Recorder(make_policy(name), config.half_life_s)
        replayer.run(recorder, config.production)
        if not recorder.features:
            raise ConfigError("the trace has no transactions to train on", code="bad_trace")
        n = sum(len(f) for f in recorder.features)
        held_out = np.arange(n) >= int(n * (1.0 - config.holdout_frac))
        parts.append(
            TrainingSet(
                features=np.concatenate(recorder.features),
                target=np.concatenate(recorder.targets),
                value=np.concatenate(recorder.values),
                fee_rate=np.concatenate(recorder.fee_rates),
                held_out=held_out,
            )
        )
    return TrainingSet(
        features=np.concatenate([p.features for p in parts]),
        target=np.concatenate([p.target for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        fee_rate=np.concatenate([p.fee_rate for p in parts]),
        held_out=np.concatenate([p.held_out for p in parts]),
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


def train(trace: Trace, config: TrainConfig, *, source: str = "") -> TrainResult:
    """Fit, evaluate on the held-out tail, export; deterministic given the config."""
    if not 0.0 < config.holdout_frac < 1.0:
        raise ConfigError(f"holdout fraction must be in (0, 1), got {config.holdout_frac}")
    data = training_set(trace, config)
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
    gbr = GradientBoostingRegressor(
        n_estimators=config.trees,
        max_depth=config.max_depth,
        learning_rate=config.learning_rate,
        min_samples_leaf=config.min_samples_leaf,
        random_state=config.seed,
    )
    gbr.fit(x[fit_rows], y[fit_rows])
    metrics = holdout_metrics(
        gbr.predict(x[test_rows]), y[test_rows], data.value[test_rows], data.fee_rate[test_rows]
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
        "holdout_metrics": metrics,
        "sklearn": sklearn.__version__,
    }
    doc = export_gradient_boosting(
        gbr, half_life_s=config.half_life_s, target=TARGET, training=training
    )
    raw = encode_model(doc)
    return TrainResult(
        model_bytes=raw,
        sha256=hashlib.sha256(raw).digest(),
        metrics=metrics,
        train_rows=len(fit_rows),
        holdout_rows=len(test_rows),
    )
