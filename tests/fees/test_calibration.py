"""The shipped fee model on seeds it was never trained on (the recipe trains
on 7 and 8): calibrated near the asked confidence, paying less than both
baselines. The bounds sit a little outside what was measured (docs/FEES.md)
so that a library update that moves the figures a bit does not fail here;
a real regression does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from node.fees.bench import FeeBench, Query, run_fee_bench, write_fee_results
from node.research.bench import Workload

WORKLOADS = Path(__file__).resolve().parents[2] / "configs" / "workloads"
SEEDS = [1, 2]
QUERY = Query(3, 0.9)


@pytest.fixture(scope="module", params=["bursts", "mixed"])
def bench(request: pytest.FixtureRequest) -> FeeBench:
    workload = Workload.open(WORKLOADS / f"{request.param}.toml")
    return run_fee_bench(workload, SEEDS, queries=[QUERY], duration_s=300.0)


def _mean(bench: FeeBench, estimator: str, metric: str, phase: str = "all") -> float:
    return float(np.mean(bench.values(estimator, QUERY, phase, metric)))


def test_the_model_is_calibrated_on_held_out_seeds(bench: FeeBench) -> None:
    # measured: bursts 0.906, mixed 0.899 (seeds 1-2, 300 s)
    assert abs(_mean(bench, "model", "calibration") - QUERY.confidence) <= 0.04
    assert _mean(bench, "model", "answered") == 1.0


def test_the_model_overpays_less_than_both_baselines(bench: FeeBench) -> None:
    # measured: model 65-82, buckets 928-2930, percentile 230-264
    mine = _mean(bench, "model", "overpay_mean")
    for baseline in ("buckets", "percentile"):
        assert mine < 0.6 * _mean(bench, baseline, "overpay_mean"), baseline


def test_the_bench_writes_its_results_and_plot(bench: FeeBench, tmp_path: Path) -> None:
    paths = write_fee_results(bench, tmp_path)
    assert [p.name for p in paths] == ["results.json", "calibration.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    doc = bench.to_json()
    assert doc["seeds"] == SEEDS and doc["model_sha256"] == bench.model_sha256
    assert set(doc["summary"]) == {"model", "model-raw", "buckets", "percentile"}
