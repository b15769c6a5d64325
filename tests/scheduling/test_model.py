"""Model files: exact agreement with sklearn, safe loading, hash checks, reproducible training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from node.errors import ConfigError
from node.research.replay import BlockProduction
from node.research.trace import Trace
from node.research.train import TrainConfig, train
from node.scheduling.features import FEATURE_NAMES
from node.scheduling.learned import LearnedPolicy, default_model_sha256
from node.scheduling.model import (
    encode_model,
    export_hist_gradient_boosting,
    file_sha256,
    load_model,
    parse_model,
)
from node.scheduling.policy import load_policy


def test_numpy_evaluation_equals_sklearn_predict() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, len(FEATURE_NAMES))) * rng.uniform(0.1, 100, len(FEATURE_NAMES))
    y = np.sin(x[:, 0]) + x[:, 3] * (x[:, 7] > 0) + rng.normal(scale=0.1, size=len(x))
    monotonic = [1, -1] + [0] * (len(FEATURE_NAMES) - 2)
    gbr = HistGradientBoostingRegressor(
        max_iter=40, max_depth=5, monotonic_cst=monotonic, early_stopping=False, random_state=0
    ).fit(x, y)
    doc = export_hist_gradient_boosting(gbr, half_life_s=30.0, target="t", training={})
    model = parse_model(encode_model(doc), "test")
    probe = rng.normal(size=(5000, len(FEATURE_NAMES))) * 50
    probe[:100] = x[:100]  # rows the trees were fitted on: values right at thresholds
    assert np.array_equal(model.predict(probe), gbr.predict(probe))
    assert model.predict(probe[:0]).shape == (0,)


def test_training_is_reproducible(tiny_trace: Trace) -> None:
    config = TrainConfig(seed=3, trees=10, production=BlockProduction(block_txs=30))
    a, b = train(tiny_trace, config), train(tiny_trace, config)
    assert a.model_bytes == b.model_bytes and a.sha256 == b.sha256
    other = train(tiny_trace, TrainConfig(seed=4, trees=10, production=config.production))
    assert other.sha256 != a.sha256
    assert set(a.metrics) == {
        "r2",
        "spearman",
        "top_quarter_capture_model",
        "top_quarter_capture_fee_rate",
    }


def test_tampered_model_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    good_hash = file_sha256(tiny_model)
    tampered = tmp_path / "tampered.json"
    raw = bytearray(tiny_model.read_bytes())
    at = raw.index(b'"value":[') + 9
    raw[at : at + 1] = b"9" if raw[at : at + 1] != b"9" else b"8"
    tampered.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="refusing to load it") as info:
        load_model(tampered, expected_sha256=good_hash)
    assert info.value.code == "model_hash_mismatch"
    assert good_hash.hex() in str(info.value) and file_sha256(tampered).hex() in str(info.value)
    with pytest.raises(ConfigError, match="refusing"):
        LearnedPolicy(model_path=tampered, model_hash=good_hash.hex())
    with pytest.raises(ConfigError, match="refusing"):
        load_policy("learned", model_path=tampered, model_hash=good_hash)
    policy = load_policy("learned", model_path=tiny_model, model_hash=good_hash.hex())
    assert policy.model_hash == good_hash


def test_default_model_loads_with_its_recorded_hash() -> None:
    policy = load_policy("learned")
    assert policy.model_hash == default_model_sha256()
    assert policy.name == "learned"


def test_not_json_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not JSON"):
        parse_model(b"\x80\x04\x95 pickle bytes", "m.json")
    with pytest.raises(ConfigError, match="cannot read model"):
        load_model(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="64 hex characters"):
        load_model(tmp_path / "nope.json", expected_sha256="abc")
