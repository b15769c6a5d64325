"""The learned policy: a trained tree model predicts each tx's priority.

At admission the policy turns the batch into features (``features.py``,
with its own history of every tx it has scored, in admission order) and
calls the model ONCE for the whole batch; the mempool caches the scores.
A block is built by the package walk (``baselines.package_by_score``) over the
predicted worth, so a tx that unlocks a valuable successor is worth the
pair, as Bitcoin Core's ancestor-package score. The model predicts what
a tx is worth (its value weighted by how little it can wait:
``oracle.label_worth``) from observable features only; the score is that
prediction per byte of block space.

The model comes from a file (``model.py``: JSON, never code), identified
by its SHA-256. Without a path the policy loads the model shipped in
``models/default.json`` and checks it against ``models/default.json.sha256``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from node.errors import ConfigError
from node.scheduling.baselines import package_by_score
from node.scheduling.features import FeatureTracker
from node.scheduling.model import SchedulingModel, load_model, parse_hash
from node.scheduling.policy import BlockLimits, Policy, TxColumns, register

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "default.json"
#: ``sha256sum`` format ("HEX  default.json"): `sha256sum -c` checks it.
DEFAULT_MODEL_HASH_PATH = MODELS_DIR / "default.json.sha256"
#: What a model must predict: the utility a tx is worth (what training fits).
MODEL_TARGET = "utility"


def default_model_sha256() -> bytes:
    """The recorded SHA-256 of the shipped default model."""
    try:
        text = DEFAULT_MODEL_HASH_PATH.read_text(encoding="ascii")
    except OSError as exc:
        raise ConfigError(
            f"{DEFAULT_MODEL_HASH_PATH}: cannot read the default model's hash: {exc.strerror}",
            code="bad_model",
        ) from None
    return parse_hash(text.split()[0] if text.split() else "", str(DEFAULT_MODEL_HASH_PATH))


@register
class LearnedPolicy(Policy):
    """Scores by a model's predicted utility per byte."""

    name = "learned"
    uses_model: ClassVar[bool] = True

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model_hash: bytes | str | None = None,
        model: SchedulingModel | None = None,
    ) -> None:
        if model is None:
            if model_path is None:
                model_path = DEFAULT_MODEL_PATH
                if model_hash is None:
                    model_hash = default_model_sha256()
            model = load_model(model_path, expected_sha256=model_hash)
        if model.target != MODEL_TARGET:
            raise ConfigError(
                f"model {model.sha256.hex()[:16]} predicts {model.target!r}, the learned policy "
                f"ranks by {MODEL_TARGET!r} (retrain it with `ordinet sched train`)",
                code="bad_model",
            )
        self.model = model
        self.model_hash = model.sha256
        self._tracker = FeatureTracker(model.half_life_s)

    def score(self, txs: TxColumns) -> np.ndarray:
        worth = self.model.predict(self._tracker.features(txs))
        return worth / np.maximum(np.asarray(txs.size, dtype=np.float64), 1.0)

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int] | None:
        # successor-aware: a tx that unlocks a valuable successor is worth the pair
        return package_by_score(pending, scores, limits)
