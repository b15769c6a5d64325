"""Model files: a tree ensemble saved as plain JSON, loaded without running code.

A model file is one JSON object (UTF-8, keys sorted, no whitespace)::

    {"format": "ordinet-sched-model", "version": 1,
     "features": [FEATURE_NAMES...], "half_life_s": 30.0,
     "target": "utility_per_byte",
     "base": b, "scale": s,
     "trees": [{"left": [...], "right": [...], "feature": [...],
                "threshold": [...], "value": [...]}, ...],
     "training": {...metadata...}}

Each tree is stored as sklearn keeps it: node ``i`` is a leaf when
``left[i] == right[i] == -1``, otherwise a row goes to ``left[i]`` when
``x[feature[i]] <= threshold[i]`` (x as float32, as sklearn compares) and
to ``right[i]`` otherwise. The prediction is
``base + scale * tree_1(x) + scale * tree_2(x) + ...`` summed in tree
order, which is what sklearn's gradient boosting computes, to the bit.

Loading parses JSON (never pickle), checks every field and refuses
anything else with a ``ConfigError``; children must point forward, so
every walk ends. A model is identified by the SHA-256 of its file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.scheduling.features import FEATURE_NAMES

MODEL_FORMAT = "ordinet-sched-model"
MODEL_VERSION = 1
MAX_MODEL_BYTES = 64 * 1024 * 1024
MAX_MODEL_NODES = 2_000_000


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees flattened into shared arrays; ``roots[t]`` is tree t's first node."""

    base: float
    scale: float
    left: np.ndarray  # int64, -1 at leaves
    right: np.ndarray  # int64, -1 at leaves
    feature: np.ndarray  # int64, 0 at leaves
    threshold: np.ndarray  # float64
    value: np.ndarray  # float64
    roots: np.ndarray  # int64
    depth: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        """One prediction per row of ``x``, for all rows and trees at once."""
        x32 = np.asarray(x, dtype=np.float32)
        n = len(x32)
        out = np.full(n, self.base, dtype=np.float64)
        if n == 0 or len(self.roots) == 0:
            return out
        node = np.repeat(self.roots[None, :], n, axis=0)
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            go_left = x32[rows, self.feature[node]] <= self.threshold[node]
            child = np.where(go_left, self.left[node], self.right[node])
            node = np.where(child >= 0, child, node)
        leaf = self.value[node]
        for t in range(leaf.shape[1]):  # tree order, as sklearn sums
            out += self.scale * leaf[:, t]
        return out


@dataclass(frozen=True)
class SchedulingModel:
    """A loaded model: the ensemble plus what it needs to compute its inputs."""

    ensemble: TreeEnsemble
    half_life_s: float
    target: str
    sha256: bytes
    training: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.ensemble.predict(x)


def encode_model(doc: dict[str, Any]) -> bytes:
    """The canonical bytes of a model document: same document, same bytes."""
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()


def export_gradient_boosting(
    gbr: Any, *, half_life_s: float, target: str, training: dict[str, Any]
) -> dict[str, Any]:
    """The model document of a fitted ``GradientBoostingRegressor``."""
    trees = []
    for estimator in gbr.estimators_[:, 0]:
        t = estimator.tree_
        leaf = t.children_left < 0
        trees.append(
            {
                "left": [int(v) for v in t.children_left],
                "right": [int(v) for v in t.children_right],
                "feature": [
                    0 if is_leaf else int(f) for f, is_leaf in zip(t.feature, leaf, strict=True)
                ],
                "threshold": [
                    0.0 if is_leaf else float(v)
                    for v, is_leaf in zip(t.threshold, leaf, strict=True)
                ],
                "value": [float(v) for v in t.value[:, 0, 0]],
            }
        )
    base = float(gbr.init_.predict(np.zeros((1, gbr.n_features_in_)))[0])
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "features": list(FEATURE_NAMES),
        "half_life_s": float(half_life_s),
        "target": target,
        "base": base,
        "scale": float(gbr.learning_rate),
        "trees": trees,
        "training": training,
    }


# -- loading ---------------------------------------------------------------------


def file_sha256(path: str | Path) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def parse_hash(text: bytes | str, what: str = "model hash") -> bytes:
    """A SHA-256 given as 32 bytes or 64 hex characters (ConfigError otherwise)."""
    if isinstance(text, bytes) and len(text) == 32:
        return text
    try:
        raw = bytes.fromhex(text.decode() if isinstance(text, bytes) else text.strip())
    except (ValueError, UnicodeDecodeError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{what} must be 64 hex characters, got {text!r}", code="bad_model")
    return raw


def load_model(path: str | Path, *, expected_sha256: bytes | str | None = None) -> SchedulingModel:
    """Load a model file, refusing it if its SHA-256 is not the expected one."""
    path = Path(path)
    expected = parse_hash(expected_sha256) if expected_sha256 is not None else None
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ConfigError(
                f"{path}: model file of {size} bytes exceeds {MAX_MODEL_BYTES}", code="bad_model"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model: {exc.strerror}", code="bad_model") from None
    digest = hashlib.sha256(raw).digest()
    if expected is not None and digest != expected:
        raise ConfigError(
            f"{path}: model file has SHA-256 {digest.hex()} but the configuration expects "
            f"{expected.hex()}: refusing to load it (the file was changed or is not the "
            "configured model; retrain it or update the configured hash)",
            code="model_hash_mismatch",
        )
    return parse_model(raw, str(path), digest)


def parse_model(raw: bytes, source: str, digest: bytes | None = None) -> SchedulingModel:
    """Validate model bytes (ConfigError naming what is wrong)."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{source}: not a valid model file: {why}", code="bad_model")

    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise bad(f"'format' is not {MODEL_FORMAT!r}")
    if doc.get("version") != MODEL_VERSION:
        raise bad(
            f"version {doc.get('version')!r} is not supported (this node reads "
            f"version {MODEL_VERSION})"
        )
    if doc.get("features") != list(FEATURE_NAMES):
        raise bad(
            f"it was trained on features {doc.get('features')!r}, but this node computes "
            f"{list(FEATURE_NAMES)}: retrain it"
        )
    half_life = _finite(doc.get("half_life_s"), "half_life_s", bad)
    if half_life <= 0:
        raise bad("'half_life_s' must be > 0")
    target = doc.get("target")
    if not isinstance(target, str):
        raise bad("'target' must be a string")
    training = doc.get("training", {})
    if not isinstance(training, dict):
        raise bad("'training' must be an object")
    trees = doc.get("trees")
    if not isinstance(trees, list):
        raise bad("'trees' must be a list")
    ensemble = _ensemble(
        trees, _finite(doc.get("base"), "base", bad), _finite(doc.get("scale"), "scale", bad), bad
    )
    return SchedulingModel(
        ensemble=ensemble,
        half_life_s=half_life,
        target=target,
        sha256=digest if digest is not None else hashlib.sha256(raw).digest(),
        training=training,
    )


def _finite(value: Any, name: str, bad: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(f"{name!r} must be a finite number, got {value!r}")
    return float(value)


def _ensemble(trees: list[Any], base: float, scale: float, bad: Any) -> TreeEnsemble:
    keys = ("left", "right", "feature", "threshold", "value")
    lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
    offset = 0
    depth = 0
    for t, tree in enumerate(trees):
        if not isinstance(tree, dict) or sorted(tree) != sorted(keys):
            raise bad(f"tree {t} must have exactly the arrays {', '.join(keys)}")
        arrays = [tree[k] for k in keys]
        n = len(arrays[0]) if isinstance(arrays[0], list) else -1
        if n < 1 or any(not isinstance(a, list) or len(a) != n for a in arrays):
            raise bad(f"tree {t}: arrays must be non-empty lists of equal length")
        offset_next = offset + n
        if offset_next > MAX_MODEL_NODES:
            raise bad(f"more than {MAX_MODEL_NODES} nodes")
        try:
            left = np.array(arrays[0], dtype=np.int64)
            right = np.array(arrays[1], dtype=np.int64)
            feat = np.array(arrays[2], dtype=np.int64)
            thr = np.array(arrays[3], dtype=np.float64)
            val = np.array(arrays[4], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise bad(f"tree {t}: arrays hold values of the wrong type") from None
        if any(isinstance(v, bool) or not isinstance(v, int) for a in arrays[:3] for v in a):
            raise bad(f"tree {t}: left, right and feature must hold integers")
        if not (np.isfinite(thr).all() and np.isfinite(val).all()):
            raise bad(f"tree {t}: thresholds and values must be finite")
        idx = np.arange(n)
        leaf = (left == -1) & (right == -1)
        inner = ~leaf
        # Children point strictly forward within the tree: every walk ends.
        if (
            not (((left > idx) & (left < n)) | leaf).all()
            or not (((right > idx) & (right < n)) | leaf).all()
        ):
            raise bad(f"tree {t}: a child index is out of range or points backwards")
        if ((feat < 0) | (feat >= len(FEATURE_NAMES)))[inner].any():
            raise bad(f"tree {t}: a feature index is out of range")
        depth = max(depth, _depth(left, right))
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        features.append(np.where(leaf, 0, feat))
        thresholds.append(thr)
        values.append(val)
        roots.append(offset)
        offset = offset_next

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return TreeEnsemble(
        base=base,
        scale=scale,
        left=cat(lefts, np.int64),
        right=cat(rights, np.int64),
        feature=cat(features, np.int64),
        threshold=cat(thresholds, np.float64),
        value=cat(values, np.float64),
        roots=np.array(roots, dtype=np.int64),
        depth=depth,
    )


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Longest root-to-leaf path (children point forward, so one pass suffices)."""
    level = np.zeros(len(left), dtype=np.int64)
    for i in range(len(left)):
        if left[i] >= 0:
            level[left[i]] = max(level[left[i]], level[i] + 1)
            level[right[i]] = max(level[right[i]], level[i] + 1)
    return int(level.max())
