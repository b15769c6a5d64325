"""Model files: a tree ensemble saved as plain JSON, loaded without running code.

A model file is one JSON object (UTF-8, keys sorted, no whitespace)::

    {"format": "ordinet-sched-model", "version": 2,
     "features": [FEATURE_NAMES...], "half_life_s": 30.0,
     "target": "utility_per_byte", "base": b,
     "trees": [{"left": [...], "right": [...], "feature": [...],
                "threshold": [...], "value": [...]}, ...],
     "training": {...metadata...}}

Each tree is stored as sklearn keeps it: node ``i`` is a leaf when
``left[i] == right[i] == -1``, otherwise a row goes to ``left[i]`` when
``x[feature[i]] <= threshold[i]`` (in float64, as sklearn's histogram
gradient boosting compares) and to ``right[i]`` otherwise. A leaf's value
already carries the learning rate. The prediction is
``base + tree_1(x) + tree_2(x) + ...`` summed in tree order, which is what
``HistGradientBoostingRegressor.predict`` computes, to the bit.

Loading parses JSON (never pickle) and checks every field strictly: an
integer is a JSON integer (not a bool, a float or a string), a number is
finite, strings appear only where the format has them, a tree is at most
MAX_TREE_DEPTH deep, and trees and nodes are capped. Anything else is a
``ConfigError`` naming the file and the field (``m.json:
trees[3].threshold[17]: expected a finite number, got 'x'``). Children
must point forward, so every walk ends. A model is identified by the
SHA-256 of its file.
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
MODEL_VERSION = 2
MAX_MODEL_BYTES = 64 * 1024 * 1024
# Bounds on what a file may ask of predict: per row, at most trees x depth steps.
MAX_MODEL_NODES = 2_000_000
MAX_MODEL_TREES = 10_000
MAX_TREE_DEPTH = 64
# Rows x trees walked at once by predict (bounds its memory to a few tens of MB).
_PREDICT_CELLS = 1 << 20


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees flattened into shared arrays; ``roots[t]`` is tree t's first node."""

    base: float
    left: np.ndarray  # int64, -1 at leaves
    right: np.ndarray  # int64, -1 at leaves
    feature: np.ndarray  # int64, 0 at leaves
    threshold: np.ndarray  # float64
    value: np.ndarray  # float64
    roots: np.ndarray  # int64
    depth: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        """One prediction per row of ``x``: all trees at once, rows in slices."""
        x = np.asarray(x, dtype=np.float64)
        n = len(x)
        out = np.full(n, self.base, dtype=np.float64)
        if n == 0 or len(self.roots) == 0:
            return out
        step = max(1, _PREDICT_CELLS // len(self.roots))
        for start in range(0, n, step):
            self._add_leaves(x[start : start + step], out[start : start + step])
        return out

    def _add_leaves(self, x: np.ndarray, out: np.ndarray) -> None:
        node = np.repeat(self.roots[None, :], len(x), axis=0)
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            child = np.where(go_left, self.left[node], self.right[node])
            node = np.where(child >= 0, child, node)
        leaf = self.value[node]
        for t in range(leaf.shape[1]):  # tree order, as sklearn sums
            out += leaf[:, t]


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


def export_hist_gradient_boosting(
    hgb: Any, *, half_life_s: float, target: str, training: dict[str, Any]
) -> dict[str, Any]:
    """The model document of a fitted ``HistGradientBoostingRegressor``
    (numeric features, squared error; no categorical features)."""
    base, trees = export_trees(hgb)
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "features": list(FEATURE_NAMES),
        "half_life_s": float(half_life_s),
        "target": target,
        "base": base,
        "trees": trees,
        "training": training,
    }


def export_trees(hgb: Any) -> tuple[float, list[dict[str, Any]]]:
    """The base prediction and the trees of a fitted ``HistGradientBoostingRegressor``
    (identity link: squared error or quantile loss; numeric features only)."""
    if hgb.n_trees_per_iteration_ != 1:
        raise ValueError("only a single-output regressor can be exported")
    trees = []
    for (predictor,) in hgb._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits cannot be exported")
        threshold = np.where(leaf, 0.0, nodes["num_threshold"])
        if not np.isfinite(threshold).all():
            raise ValueError("a split on missing values only cannot be exported")
        trees.append(
            {
                "left": np.where(leaf, -1, nodes["left"].astype(np.int64)).tolist(),
                "right": np.where(leaf, -1, nodes["right"].astype(np.int64)).tolist(),
                "feature": np.where(leaf, 0, nodes["feature_idx"]).tolist(),
                "threshold": threshold.tolist(),
                "value": np.where(leaf, nodes["value"], 0.0).tolist(),
            }
        )
    return float(np.asarray(hgb._baseline_prediction).ravel()[0]), trees


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
    raw, digest = read_model_file(path, expected_sha256, "model")
    model = _PARSED.get(digest)
    if model is None:
        model = parse_model(raw, str(path), digest)
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[digest] = model
    return model


def read_model_file(
    path: str | Path, expected_sha256: bytes | str | None, what: str
) -> tuple[bytes, bytes]:
    """A model file's bytes and SHA-256 (``what``: "model", "fee model"),
    bounded in size, refused unless its hash is the expected one; every
    failure a ConfigError naming the file."""
    path = Path(path)
    expected = parse_hash(expected_sha256, f"{what} hash") if expected_sha256 else None
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ConfigError(
                f"{path}: {what} file of {size} bytes exceeds {MAX_MODEL_BYTES}", code="bad_model"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}", code="bad_model") from None
    digest = hashlib.sha256(raw).digest()
    if expected is not None and digest != expected:
        raise ConfigError(
            f"{path}: {what} file has SHA-256 {digest.hex()} but the configuration expects "
            f"{expected.hex()}: refusing to load it (the file was changed or is not the "
            "configured model; retrain it or update the configured hash)",
            code="model_hash_mismatch",
        )
    return raw, digest


def write_hash_file(model: Path, hash_out: Path) -> bytes:
    """Record ``model``'s SHA-256 beside it (``HEX  NAME``, as sha256sum) and return it."""
    digest = hashlib.sha256(model.read_bytes()).digest()
    hash_out.write_text(f"{digest.hex()}  {model.name}\n", encoding="ascii")
    return digest


# Models parsed by ``load_model``, by SHA-256: a simulated network's nodes
# (or a bench's policies) share one immutable model instead of parsing it
# once each.
_PARSED: dict[bytes, SchedulingModel] = {}
_MAX_PARSED = 8


def parse_model(raw: bytes, source: str, digest: bytes | None = None) -> SchedulingModel:
    """Validate model bytes; anything wrong is a ConfigError naming ``source`` and the field."""
    check = FieldChecks(source)
    doc = check.object(parse_json(raw, source), "", _TOP_KEYS, optional=("training",))
    if doc["format"] != MODEL_FORMAT:
        raise check.fail("format", repr(MODEL_FORMAT), doc["format"])
    if type(doc["version"]) is not int or doc["version"] != MODEL_VERSION:
        raise check.fail(
            "version", f"{MODEL_VERSION} (the version this node reads)", doc["version"]
        )
    if doc["features"] != list(FEATURE_NAMES):
        raise check.fail(
            "features",
            f"the features this node computes, {list(FEATURE_NAMES)} (retrain the model)",
            doc["features"],
        )
    half_life = check.number(doc["half_life_s"], "half_life_s", "a finite number > 0")
    if half_life <= 0:
        raise check.fail("half_life_s", "a finite number > 0", doc["half_life_s"])
    target = doc["target"]
    if not isinstance(target, str):
        raise check.fail("target", "a string", target)
    training = check.object(doc.get("training", {}), "training")
    check.plain_json(training, "training")
    ensemble = read_ensemble(
        check, doc["trees"], check.number(doc["base"], "base"), len(FEATURE_NAMES)
    )
    return SchedulingModel(
        ensemble=ensemble,
        half_life_s=half_life,
        target=target,
        sha256=digest if digest is not None else hashlib.sha256(raw).digest(),
        training=training,
    )


_TOP_KEYS = ("base", "features", "format", "half_life_s", "target", "trees", "version")
_TREE_KEYS = ("left", "right", "feature", "threshold", "value")
# int64 needs at most 19 digits; a longer literal is kept as a _LongInt so that
# the field it sits in is named (int() of 4301+ digits raises a bare ValueError).
_MAX_INT_DIGITS = 20
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class _LongInt:
    """An integer literal too long for any field of a model file."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _LongInt:
    digits = len(text.lstrip("-"))
    return _LongInt(digits) if digits > _MAX_INT_DIGITS else int(text)


def parse_json(raw: bytes, source: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_parse_int)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"{source}: not JSON ({why})", code="bad_model") from None


def _show(value: Any) -> str:
    """A short, safe rendering of a value from the file, for an error message."""
    if isinstance(value, _LongInt):
        return f"an integer of {value.digits} digits"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class FieldChecks:
    """The checks of one file; every failure names the file and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(
            f"{self.source}: {where}: expected {expected}, got {_show(value)}", code="bad_model"
        )

    def object(
        self,
        value: Any,
        where: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """A JSON object; with ``required``, exactly those keys (plus ``optional``)."""
        if not isinstance(value, dict):
            raise self.fail(where or "the file", "an object", value)
        if required:
            prefix = f"{where}." if where else ""
            for key in required:
                if key not in value:
                    raise ConfigError(f"{self.source}: {prefix}{key}: missing", code="bad_model")
            for key in value:
                if key not in required and key not in optional:
                    raise ConfigError(
                        f"{self.source}: {prefix}{key}: unknown key (expected "
                        f"{', '.join(required + optional)})",
                        code="bad_model",
                    )
        return value

    def number(self, value: Any, where: str, expected: str = "a finite number") -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise self.fail(where, expected, value)
        return float(value)

    def array(self, value: Any, where: str, length: int | None) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "a list", value)
        if length is None and not value:
            raise self.fail(where, "a list of at least 1 item", value)
        if length is not None and len(value) != length:
            raise self.fail(where, f"a list of {length} items (one per node)", value)
        return value

    def ints(self, items: list[Any], where: str, expected: str) -> np.ndarray:
        """The items as int64 (the common case in one pass; the bad one named otherwise)."""
        if all(type(v) is int for v in items):
            try:
                return np.array(items, dtype=np.int64)
            except OverflowError:
                pass
        for i, v in enumerate(items):
            if type(v) is not int or not _INT64_MIN <= v <= _INT64_MAX:
                raise self.fail(f"{where}[{i}]", expected, v)
        raise AssertionError("unreachable")

    def numbers(self, items: list[Any], where: str) -> np.ndarray:
        """The items as finite float64."""
        if all(type(v) is float or type(v) is int for v in items):
            out = np.array(items, dtype=np.float64)
            bad = ~np.isfinite(out)
            if not bad.any():
                return out
            i = int(np.argmax(bad))
            raise self.fail(f"{where}[{i}]", "a finite number", items[i])
        for i, v in enumerate(items):
            self.number(v, f"{where}[{i}]")
        raise AssertionError("unreachable")

    def plain_json(self, value: Any, where: str) -> None:
        """Metadata: any JSON, but numbers are finite and integers of sane size."""
        stack: list[tuple[Any, str]] = [(value, where)]
        while stack:
            item, at = stack.pop()
            if isinstance(item, dict):
                stack.extend((v, f"{at}.{k}") for k, v in item.items())
            elif isinstance(item, list):
                stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))
            elif isinstance(item, _LongInt):
                raise self.fail(at, f"an integer of at most {_MAX_INT_DIGITS} digits", item)
            elif isinstance(item, float) and not math.isfinite(item):
                raise self.fail(at, "a finite number", item)


def read_ensemble(
    check: FieldChecks, trees_value: Any, base: float, n_features: int, where: str = "trees"
) -> TreeEnsemble:
    """The trees of a model document (``where`` names them in errors), checked."""
    trees = check.array(trees_value, where, None)
    if len(trees) > MAX_MODEL_TREES:
        raise check.fail(where, f"a list of at most {MAX_MODEL_TREES} trees", trees)
    lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
    offset = 0
    depth = 0
    for t, tree_value in enumerate(trees):
        tree = check.object(tree_value, f"{where}[{t}]", _TREE_KEYS)
        n = len(check.array(tree["left"], f"{where}[{t}].left", None))
        if offset + n > MAX_MODEL_NODES:
            raise ConfigError(
                f"{check.source}: {where}[{t}]: the model has more than {MAX_MODEL_NODES} nodes",
                code="bad_model",
            )
        items = {k: check.array(tree[k], f"{where}[{t}].{k}", n) for k in _TREE_KEYS}
        child = "-1 (a leaf, with -1 on both sides) or the index of a later node of the tree"
        left = check.ints(items["left"], f"{where}[{t}].left", child)
        right = check.ints(items["right"], f"{where}[{t}].right", child)
        feature_index = f"a feature index in [0, {n_features})"
        feat = check.ints(items["feature"], f"{where}[{t}].feature", feature_index)
        thr = check.numbers(items["threshold"], f"{where}[{t}].threshold")
        val = check.numbers(items["value"], f"{where}[{t}].value")
        idx = np.arange(n)
        leaf = (left == -1) & (right == -1)
        inner = ~leaf
        # Children point strictly forward within the tree: every walk ends.
        for name, side in (("left", left), ("right", right)):
            bad = ~(leaf | ((side > idx) & (side < n)))
            if bad.any():
                i = int(np.argmax(bad))
                raise check.fail(f"{where}[{t}].{name}[{i}]", child, int(side[i]))
        bad = inner & ((feat < 0) | (feat >= n_features))
        if bad.any():
            i = int(np.argmax(bad))
            raise check.fail(f"{where}[{t}].feature[{i}]", feature_index, int(feat[i]))
        tree_depth = _depth(left, right)
        if tree_depth > MAX_TREE_DEPTH:
            raise ConfigError(
                f"{check.source}: {where}[{t}]: the tree is deeper than {MAX_TREE_DEPTH} levels",
                code="bad_model",
            )
        depth = max(depth, tree_depth)
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        features.append(np.where(leaf, 0, feat))
        thresholds.append(thr)
        values.append(val)
        roots.append(offset)
        offset += n

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return TreeEnsemble(
        base=base,
        left=cat(lefts, np.int64),
        right=cat(rights, np.int64),
        feature=cat(features, np.int64),
        threshold=cat(thresholds, np.float64),
        value=cat(values, np.float64),
        roots=np.array(roots, dtype=np.int64),
        depth=depth,
    )


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Edges on the longest path from node 0, or MAX_TREE_DEPTH + 1 if it is longer.

    One level at a time (children point forward, so every path ends), and
    never more than MAX_TREE_DEPTH + 1 levels: a deep chain costs nothing.
    """
    frontier = np.zeros(1, dtype=np.int64)
    for level in range(MAX_TREE_DEPTH + 1):
        inner = frontier[left[frontier] >= 0]
        if len(inner) == 0:
            return level
        frontier = np.unique(np.concatenate([left[inner], right[inner]]))
    return MAX_TREE_DEPTH + 1
