"""Fee model files: quantile tree ensembles as plain JSON, loaded without running code.

A fee model is one JSON object (UTF-8, keys sorted, no whitespace)::

    {"format": "ordinet-fee-model", "version": 1,
     "features": [FEATURE_NAMES...], "max_blocks": 24,
     "target": "log1p_rate_over_reference",
     "quantiles": [0.05, ..., 0.99],
     "models": [{"base": b, "trees": [...]}, ...],   # one per quantile
     "training": {...metadata...}}

Each entry of ``models`` predicts the quantile of the same index of
``log1p(lowest sufficient rate / reference rate)``, in the tree layout of
the scheduling model (``node.scheduling.model``, whose checks this reuses:
strict types, finite numbers, capped trees, children pointing forward).
Quantiles are strictly increasing in (0, 1). Anything else is a
``ConfigError`` naming the file and the field. A model is identified by the
SHA-256 of its file; loading never unpickles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.fees.features import FEATURE_NAMES
from node.scheduling.model import (
    FieldChecks,
    TreeEnsemble,
    parse_json,
    read_ensemble,
    read_model_file,
)

FEE_MODEL_FORMAT = "ordinet-fee-model"
FEE_MODEL_VERSION = 1
FEE_MODEL_TARGET = "log1p_rate_over_reference"
MAX_QUANTILES = 64

DEFAULT_FEE_MODEL_PATH = Path(__file__).resolve().parent / "models" / "default.json"
DEFAULT_FEE_MODEL_HASH_PATH = DEFAULT_FEE_MODEL_PATH.with_name("default.json.sha256")

_TOP_KEYS = ("features", "format", "max_blocks", "models", "quantiles", "target", "version")


@dataclass(frozen=True)
class FeeModel:
    """A loaded fee model: one ensemble per quantile level."""

    quantiles: np.ndarray  # float64, strictly increasing in (0, 1)
    ensembles: tuple[TreeEnsemble, ...]
    max_blocks: int
    sha256: bytes
    training: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Rows x quantiles of predicted targets, non-decreasing along each row."""
        out = np.column_stack([e.predict(x) for e in self.ensembles])
        return np.maximum.accumulate(out, axis=1)


def fee_model_document(
    quantiles: list[float],
    models: list[tuple[float, list[dict[str, Any]]]],
    *,
    max_blocks: int,
    training: dict[str, Any],
) -> dict[str, Any]:
    """The document of fitted quantile ensembles (``scheduling.model.export_trees`` each)."""
    return {
        "format": FEE_MODEL_FORMAT,
        "version": FEE_MODEL_VERSION,
        "features": list(FEATURE_NAMES),
        "max_blocks": max_blocks,
        "target": FEE_MODEL_TARGET,
        "quantiles": [float(q) for q in quantiles],
        "models": [{"base": base, "trees": trees} for base, trees in models],
        "training": training,
    }


def load_fee_model(path: str | Path, *, expected_sha256: bytes | str | None = None) -> FeeModel:
    """Load a fee model file, refusing it unless its SHA-256 is the expected one."""
    raw, digest = read_model_file(path, expected_sha256, "fee model")
    return parse_fee_model(raw, str(path), digest)


def load_default_fee_model() -> FeeModel:
    """The shipped model, checked against its recorded hash."""
    recorded = DEFAULT_FEE_MODEL_HASH_PATH.read_text(encoding="ascii").split()[0]
    return load_fee_model(DEFAULT_FEE_MODEL_PATH, expected_sha256=recorded)


def parse_fee_model(raw: bytes, source: str, digest: bytes | None = None) -> FeeModel:
    """Validate fee model bytes (ConfigError naming ``source`` and the field)."""
    check = FieldChecks(source)
    doc = check.object(parse_json(raw, source), "", _TOP_KEYS, optional=("training",))
    if doc["format"] != FEE_MODEL_FORMAT:
        raise check.fail("format", repr(FEE_MODEL_FORMAT), doc["format"])
    if type(doc["version"]) is not int or doc["version"] != FEE_MODEL_VERSION:
        raise check.fail(
            "version", f"{FEE_MODEL_VERSION} (the version this node reads)", doc["version"]
        )
    if doc["features"] != list(FEATURE_NAMES):
        raise check.fail(
            "features", f"the features this node computes, {list(FEATURE_NAMES)}", doc["features"]
        )
    if doc["target"] != FEE_MODEL_TARGET:
        raise check.fail("target", repr(FEE_MODEL_TARGET), doc["target"])
    max_blocks = doc["max_blocks"]
    if type(max_blocks) is not int or not 1 <= max_blocks <= 1008:
        raise check.fail("max_blocks", "an integer from 1 to 1008", max_blocks)
    levels = check.array(doc["quantiles"], "quantiles", None)
    if len(levels) > MAX_QUANTILES:
        raise check.fail("quantiles", f"a list of at most {MAX_QUANTILES} levels", levels)
    quantiles = check.numbers(levels, "quantiles")
    if not (np.all((quantiles > 0) & (quantiles < 1)) and np.all(np.diff(quantiles) > 0)):
        raise check.fail("quantiles", "strictly increasing levels in (0, 1)", levels)
    models = check.array(doc["models"], "models", len(levels))
    ensembles = []
    for i, entry in enumerate(models):
        item = check.object(entry, f"models[{i}]", ("base", "trees"))
        base = check.number(item["base"], f"models[{i}].base")
        ensembles.append(
            read_ensemble(check, item["trees"], base, len(FEATURE_NAMES), f"models[{i}].trees")
        )
    training = check.object(doc.get("training", {}), "training")
    check.plain_json(training, "training")
    return FeeModel(
        quantiles=quantiles,
        ensembles=tuple(ensembles),
        max_blocks=max_blocks,
        sha256=digest if digest is not None else hashlib.sha256(raw).digest(),
        training=training,
    )
