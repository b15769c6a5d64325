"""The fee model file: exported from scikit-learn to JSON that predicts what
scikit-learn predicts, loaded with strict checks and never unpickled,
identified by its SHA-256; the shipped one matches its recorded hash."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from node.errors import ConfigError
from node.fees.features import FEATURE_NAMES
from node.fees.model import (
    DEFAULT_FEE_MODEL_HASH_PATH,
    DEFAULT_FEE_MODEL_PATH,
    fee_model_document,
    load_default_fee_model,
    load_fee_model,
    parse_fee_model,
)
from node.fees.train import FeeTrainConfig, train_fee_model
from node.research.workloads import generate, load_workload
from node.scheduling.model import encode_model, export_trees

WORKLOADS = Path(__file__).resolve().parents[2] / "configs" / "workloads"


def _fitted(quantile: float) -> tuple[HistGradientBoostingRegressor, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, len(FEATURE_NAMES)))
    y = np.maximum(0.0, x[:, 1] + 0.3 * rng.normal(size=400))
    hgb = HistGradientBoostingRegressor(loss="quantile", quantile=quantile, max_iter=15)
    return hgb.fit(x, y), x


def _document() -> tuple[dict, list[HistGradientBoostingRegressor], np.ndarray]:
    fits = [_fitted(q) for q in (0.5, 0.9)]
    doc = fee_model_document(
        [0.5, 0.9], [export_trees(h) for h, _ in fits], max_blocks=8, training={"note": "test"}
    )
    return doc, [h for h, _ in fits], fits[0][1]


def test_the_json_model_predicts_what_sklearn_predicts() -> None:
    doc, fitted, x = _document()
    model = parse_fee_model(encode_model(doc), "test")
    got = np.column_stack([e.predict(x) for e in model.ensembles])
    want = np.column_stack([h.predict(x) for h in fitted])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert model.max_blocks == 8 and list(model.quantiles) == [0.5, 0.9]
    assert np.all(np.diff(model.predict(x), axis=1) >= 0)  # levels never cross


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(format="ordinet-sched-model"), "format"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(features=["x"]), "features"),
        (lambda d: d.update(quantiles=[0.9, 0.5]), "quantiles"),
        (lambda d: d.update(quantiles=[0.5, 1.0]), "quantiles"),
        (lambda d: d.update(max_blocks=0), "max_blocks"),
        (lambda d: d["models"].pop(), "models"),
        (lambda d: d["models"][1].update(base="x"), "models[1].base"),
        (lambda d: d["models"][0]["trees"][0].update(feature=[99] * 3), "models[0].trees[0]"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_a_bad_model_file_is_refused_naming_the_field(change, field: str) -> None:
    doc, _, _ = _document()
    change(doc)
    with pytest.raises(ConfigError) as caught:
        parse_fee_model(json.dumps(doc).encode(), "m.json")
    assert "m.json" in caught.value.message and field in caught.value.message


def test_a_pickle_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(pickle.dumps({"format": "ordinet-fee-model"}))
    with pytest.raises(ConfigError, match="not JSON"):
        load_fee_model(path)


def test_a_model_whose_hash_is_not_the_expected_one_is_refused(tmp_path: Path) -> None:
    doc, _, _ = _document()
    path = tmp_path / "model.json"
    path.write_bytes(encode_model(doc))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_fee_model(path, expected_sha256=digest).sha256.hex() == digest
    with pytest.raises(ConfigError) as caught:
        load_fee_model(path, expected_sha256="00" * 32)
    assert caught.value.code == "model_hash_mismatch"


def test_the_shipped_model_is_the_one_its_hash_file_names() -> None:
    recorded = DEFAULT_FEE_MODEL_HASH_PATH.read_text().split()
    assert recorded[1] == DEFAULT_FEE_MODEL_PATH.name
    assert hashlib.sha256(DEFAULT_FEE_MODEL_PATH.read_bytes()).hexdigest() == recorded[0]
    model = load_default_fee_model()
    assert model.training["seed"] == 7  # the recipe's (node/fees/default_model.py)


def test_training_is_deterministic_and_reports_coverage() -> None:
    trace = generate(load_workload(WORKLOADS / "bursts.toml"), 11, duration_s=90.0)
    config = FeeTrainConfig(seed=1, trees=5, max_depth=3, quantiles=(0.5, 0.9), targets=(1, 3))
    one, two = train_fee_model(trace, config), train_fee_model(trace, config)
    assert one.model_bytes == two.model_bytes and one.sha256 == two.sha256
    assert set(one.coverage) == {"0.5", "0.9"}
    model = parse_fee_model(one.model_bytes, "trained")
    assert model.max_blocks == 3 and model.training["targets"] == [1, 3]
