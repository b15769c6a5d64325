"""Loading model files from untrusted hands: every bad file is a ConfigError
naming the file and the field; types are strict; depth, trees and nodes are bounded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.errors import ConfigError
from node.scheduling import model as model_module
from node.scheduling.features import FEATURE_NAMES
from node.scheduling.model import (
    MAX_MODEL_TREES,
    MAX_TREE_DEPTH,
    encode_model,
    load_model,
    parse_model,
)

HUGE = "9" * 5000  # beyond Python's int string-conversion limit (4300 digits)


def _doc(tiny_model: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(tiny_model.read_bytes())
    return doc


def _refused(raw: bytes | str, *, field: str, expected: str = "") -> ConfigError:
    data = raw.encode() if isinstance(raw, str) else raw
    with pytest.raises(ConfigError) as info:
        parse_model(data, "model.json")
    message = str(info.value)
    assert info.value.code == "bad_model"
    assert message.startswith(f"model.json: {field}: "), message
    assert expected in message, message
    assert "\n" not in message
    return info.value


def _chain(depth: int) -> dict[str, Any]:
    """A tree that is a chain ``depth`` deep: each inner node has a leaf on the left."""
    n = 2 * depth + 1
    left, right = [-1] * n, [-1] * n
    for level in range(depth):
        inner = 2 * level
        left[inner] = inner + 1  # a leaf
        right[inner] = inner + 2  # the next inner node (or the last leaf)
    return {
        "left": left,
        "right": right,
        "feature": [0] * n,
        "threshold": [0.5] * n,
        "value": [1.0] * n,
    }


def _model_text(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _with(text: str, key: str, literal: str) -> str:
    """The model text with the first value of ``key`` (or its list's first item) replaced."""
    pattern = rf'"{key}":(\[?)[^,\]}}]+'
    changed, count = re.subn(pattern, lambda m: f'"{key}":{m.group(1)}{literal}', text, count=1)
    assert count == 1, key
    return changed


def test_a_5000_digit_integer_is_a_config_error_naming_its_field(tiny_model: Path) -> None:
    text = tiny_model.read_text()
    expected = "an integer of 5000 digits"
    _refused(_with(text, "version", HUGE), field="version", expected=expected)
    _refused(_with(text, "left", HUGE), field="trees[0].left[0]", expected=expected)
    _refused(_with(text, "threshold", "-" + HUGE), field="trees[0].threshold[0]", expected=expected)
    _refused(_with(text, "rows", HUGE), field="training.rows", expected=expected)


@pytest.mark.parametrize(
    ("where", "value", "field", "expected"),
    [
        (("trees", 3, "threshold", 2), "x", "trees[3].threshold[2]", "got 'x'"),
        (("trees", 3, "threshold", 2), "0.5", "trees[3].threshold[2]", "a finite number"),
        (("trees", 0, "value", 1), "1.0", "trees[0].value[1]", "a finite number"),
        (("trees", 0, "value", 1), True, "trees[0].value[1]", "got true"),
        (("trees", 1, "left", 0), "1", "trees[1].left[0]", "got '1'"),
        (("trees", 1, "right", 0), 2.0, "trees[1].right[0]", "got 2.0"),
        (("trees", 1, "feature", 0), False, "trees[1].feature[0]", "got false"),
        (("trees", 1, "feature", 0), 99, "trees[1].feature[0]", "a feature index"),
        (("trees", 2, "left", 0), 0, "trees[2].left[0]", "a later node"),
        (("trees", 2, "left", 0), 10**6, "trees[2].left[0]", "a later node"),
        (("trees", 2, "left", 0), 2**64, "trees[2].left[0]", "a later node"),
        (("base",), None, "base", "a finite number, got null"),
        (("base",), "1", "base", "a finite number, got '1'"),
        (("half_life_s",), 0, "half_life_s", "a finite number > 0"),
        (("half_life_s",), "30", "half_life_s", "a finite number > 0"),
        (("target",), 7, "target", "a string"),
        (("version",), True, "version", "2"),
        (("version",), 2.0, "version", "2"),
        (("version",), 1, "version", "2"),
        (("format",), "pickle", "format", "'ordinet-sched-model'"),
        (("features",), ["fee"], "features", "retrain"),
        (("training",), [], "training", "an object"),
        (("trees",), {}, "trees", "a list"),
        (("trees", 0), [], "trees[0]", "an object"),
        (("trees", 0, "value"), "[]", "trees[0].value", "a list"),
    ],
)
def test_a_wrong_type_or_value_names_the_field(
    tiny_model: Path, where: tuple[Any, ...], value: Any, field: str, expected: str
) -> None:
    doc = _doc(tiny_model)
    target: Any = doc
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    _refused(_model_text(doc), field=field, expected=expected)


def test_nan_and_infinity_are_refused_where_json_extensions_allow_them(tiny_model: Path) -> None:
    text = tiny_model.read_text()
    _refused(_with(text, "base", "NaN"), field="base", expected="a finite number, got nan")
    _refused(
        _with(text, "threshold", "Infinity"),
        field="trees[0].threshold[0]",
        expected="a finite number, got inf",
    )
    _refused(
        _with(text, "value", "-1e999"),
        field="trees[0].value[0]",
        expected="a finite number, got -inf",
    )
    _refused(_with(text, "rows", "NaN"), field="training.rows", expected="a finite number")


def test_unknown_keys_and_unequal_arrays_are_refused(tiny_model: Path) -> None:
    doc = _doc(tiny_model)
    doc["trees"][0]["code"] = "import os"
    _refused(_model_text(doc), field="trees[0].code", expected="unknown key")
    doc = _doc(tiny_model)
    doc["payload"] = "x"
    _refused(_model_text(doc), field="payload", expected="unknown key")
    doc = _doc(tiny_model)
    del doc["base"]
    _refused(_model_text(doc), field="base", expected="missing")
    doc = _doc(tiny_model)
    doc["trees"][4]["value"].pop()
    n = len(doc["trees"][4]["left"])
    _refused(_model_text(doc), field="trees[4].value", expected=f"a list of {n}")
    doc = _doc(tiny_model)
    doc["trees"][4] = {k: [] for k in doc["trees"][4]}
    _refused(_model_text(doc), field="trees[4].left", expected="at least 1")


def test_tree_depth_is_bounded(tiny_model: Path) -> None:
    doc = _doc(tiny_model)
    doc["trees"] = [_chain(MAX_TREE_DEPTH)]
    deepest = parse_model(_model_text(doc), "model.json")
    assert deepest.ensemble.depth == MAX_TREE_DEPTH
    x = np.zeros((3, len(FEATURE_NAMES)))
    assert np.allclose(deepest.predict(x), doc["base"] + 1.0)
    doc["trees"] = [_chain(1), _chain(MAX_TREE_DEPTH + 1)]
    _refused(_model_text(doc), field="trees[1]", expected=f"deeper than {MAX_TREE_DEPTH}")
    # the finding: a 100k-deep chain made one predict take ~2 s; now it is refused at load
    doc["trees"] = [_chain(100_000)]
    _refused(_model_text(doc), field="trees[0]", expected=f"deeper than {MAX_TREE_DEPTH}")


def test_tree_and_node_counts_are_bounded(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _doc(tiny_model)
    leaf = {"left": [-1], "right": [-1], "feature": [0], "threshold": [0.0], "value": [0.0]}
    doc["trees"] = [leaf] * (MAX_MODEL_TREES + 1)
    _refused(_model_text(doc), field="trees", expected=f"at most {MAX_MODEL_TREES} trees")
    monkeypatch.setattr(model_module, "MAX_MODEL_NODES", 100)
    doc["trees"] = [_chain(20)] * 3  # 41 nodes each
    _refused(_model_text(doc), field="trees[2]", expected="more than 100 nodes")


def test_predict_memory_does_not_grow_with_rows_times_trees(tiny_model: Path) -> None:
    model = load_model(tiny_model)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5000, len(FEATURE_NAMES))) * 100
    whole = model.predict(x)
    pieces = np.concatenate([model.predict(x[i : i + 7]) for i in range(0, len(x), 7)])
    assert np.array_equal(whole, pieces)


def test_a_model_file_that_is_not_utf8_or_json_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match=f"^{bad}: not JSON"):
        load_model(bad)
    bad.write_text("[" * 100_000)
    with pytest.raises(ConfigError, match=f"^{bad}: not JSON"):
        load_model(bad)


# -- any mutation of a valid file is a ConfigError or a valid model ------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from([-1, 0, 1, 2, len(FEATURE_NAMES), 10**30]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            out += _paths(v, (*prefix, i))
    return out


@pytest.fixture(scope="module")
def small_doc(tiny_model: Path) -> dict[str, Any]:
    doc = _doc(tiny_model)
    doc["trees"] = doc["trees"][:3]
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_model_is_a_model_or_a_config_error(
    small_doc: dict[str, Any], data: st.DataObject
) -> None:
    doc = json.loads(json.dumps(small_doc))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        paths = _paths(doc)
        where = data.draw(st.sampled_from(paths), label="where")
        value = data.draw(_json_values, label="value")
        if not where:
            doc = value
            continue
        target: Any = doc
        try:
            for key in where[:-1]:
                target = target[key]
            target[where[-1]] = value
        except (KeyError, IndexError, TypeError):
            pass
    raw = json.dumps(doc).encode()
    try:
        parse_model(raw, "model.json")
    except ConfigError as exc:
        assert exc.code == "bad_model"
        assert str(exc).startswith("model.json: ")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_model_with_corrupted_bytes_is_a_model_or_a_config_error(
    small_doc: dict[str, Any], data: st.DataObject
) -> None:
    raw = bytearray(encode_model(small_doc))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        chunk = data.draw(
            st.sampled_from([b"9" * 4400, b"-", b"NaN", b"1e999", b'"', b"[", b"}", b"\x00"])
            | st.binary(min_size=1, max_size=3),
            label="chunk",
        )
        raw[at : at + data.draw(st.integers(0, 2), label="cut")] = chunk
    try:
        parse_model(bytes(raw), "model.json")
    except ConfigError as exc:
        assert exc.code == "bad_model"
        assert str(exc).startswith("model.json: ")
