"""The bench: what the learned policy achieves on the mixed workload, the metrics, and the
research output over seeds (CIs, paired ratios, the bound, cold starts, results.json,
plots, the generalisation matrix)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from node.errors import ConfigError
from node.research import bench
from node.research.bench import (
    BOUND,
    CLASS_METRIC_NAMES,
    METRIC_NAMES,
    BenchReport,
    BenchSeries,
    Workload,
    git_commit,
    jain_index,
    measure,
    run_bench,
    run_seeds,
    table_rows,
    write_results,
)
from node.research.matrix import MATRIX_BASELINES, run_matrix, write_matrix
from node.research.replay import BlockProduction, ReplayResult
from node.research.stats import mean_ci
from node.research.trace import Trace, write_trace
from node.research.train import TrainConfig
from node.research.workloads import generate, parse_workload
from node.scheduling import policy as policy_registry
from node.scheduling.model import file_sha256, load_model
from node.scheduling.oracle import label_priority
from node.scheduling.policy import FifoPolicy, TxColumns

POLICY_KEYS = {*METRIC_NAMES, "by_class"}


def test_learned_beats_fee_and_fifo_and_nears_the_oracle(mixed_report: BenchReport) -> None:
    u = {name: m.utility for name, m in mixed_report.policies.items()}
    # measured once: learned/fee ~2.1, learned/oracle ~0.99
    assert u["learned"] > 1.5 * u["fee"]
    assert u["learned"] > 1.5 * u["fifo"]
    assert u["learned"] >= 0.9 * u["oracle"]
    urgent = {n: m.by_class["urgent"].latency_p99_s for n, m in mixed_report.policies.items()}
    assert urgent["learned"] < urgent["fee"] and urgent["learned"] < urgent["fifo"]


def test_oracle_dominates_on_its_own_objective(mixed_report: BenchReport) -> None:
    u = {name: m.utility for name, m in mixed_report.policies.items()}
    assert u["oracle"] >= max(u["fifo"], u["fee"], u["learned"], u["label-greedy"])
    # the admission-time label greedy is blind to nonce chains: the learned
    # policy's package walk may beat it; the LP bound is above all (test_bound.py)
    assert u["label-greedy"] >= max(u["fifo"], u["fee"])


def test_oracle_dominates_when_only_labels_tell(tiny_spec: dict) -> None:
    # Congested traffic whose value and deadline are independent of
    # everything observable: only the labels can pick the valuable txs.
    for source in tiny_spec["source"]:
        source["senders"] = source["recipients"] = "users"
        source["fee_rate"] = {"median": 2.0, "sigma": 0.5}
        source["value"] = {"median": 10.0, "sigma": 1.0}
        source["deadline_s"] = {"min": 2.0, "max": 8.0}
    trace = generate(parse_workload(tiny_spec), 9)
    report = run_bench(
        trace, ["fifo", "fee", "oracle"], BlockProduction(block_txs=25), workload="labels-only"
    )
    u = {name: m.utility for name, m in report.policies.items()}
    assert u["oracle"] > 1.1 * max(u["fifo"], u["fee"])


def test_bench_is_reproducible(tiny_trace: Trace, tiny_model: Path) -> None:
    production = BlockProduction(block_txs=30)
    a = run_bench(tiny_trace, ["fee", "learned"], production, workload="t", model_path=tiny_model)
    b = run_bench(tiny_trace, ["fee", "learned"], production, workload="t", model_path=tiny_model)
    for name in ("fee", "learned"):
        ja, jb = a.policies[name].to_json(), b.policies[name].to_json()
        ja.pop("cpu_ms_per_block"), jb.pop("cpu_ms_per_block")
        assert ja == jb


def test_train_frac_trains_on_the_head_and_benches_the_tail(tiny_trace: Trace) -> None:
    logs: list[str] = []
    report = run_bench(
        tiny_trace,
        ["learned"],
        BlockProduction(block_txs=30),
        workload="t",
        train_frac=0.5,
        log=logs.append,
    )
    assert report.bench_rows == len(tiny_trace) - round(len(tiny_trace) * 0.5)
    assert logs and "model sha256" in logs[0]
    # the tail starts from the state the head left: its txs are executable
    assert report.policies["learned"].included > 0.5 * report.bench_rows  # (capacity ~0.7)
    assert report.model_sha256 is not None and report.model_sha256 in logs[0]


def test_metrics_follow_their_definitions() -> None:
    trace = Trace(
        arrival_s=np.array([0.0, 0.0, 1.0, 2.0, 3.0]),
        sender=["a", "a", "b", "c", "c"],
        recipient=["x"] * 5,
        nonce=np.array([0, 1, 0, 0, 1]),
        fee=np.array([10, 20, 30, 40, 50]),
        size=np.array([200] * 5),
        tx_class=["urgent", "urgent", "bulk", "spam", "spam"],
        deadline_s=np.array([2.0, 2.0, np.nan, np.nan, 1.0]),
        value=np.array([5.0, 7.0, 1.0, 0.5, 3.0]),
    )
    result = ReplayResult(
        admitted=np.array([True, True, True, True, False]),
        included_s=np.array([1.0, 3.0, 9.0, np.nan, np.nan]),
        blocks=4,
        cpu_s=0.002,
    )
    m = measure(trace, result)
    assert m.utility == 5.0 + 1.0  # the second urgent tx missed its deadline
    assert m.fee_revenue == 60 and m.included == 3
    assert m.deadline_hit_rate == pytest.approx(1 / 3)
    assert m.latency_p50_s == 3.0 and m.latency_p99_s == pytest.approx(7.9)  # of 1, 3, 8 s
    assert m.latency_mean_s == pytest.approx(4.0)
    urgent, bulk, spam = (m.by_class[c] for c in ("urgent", "bulk", "spam"))
    assert (urgent.txs, urgent.included, urgent.utility) == (2, 2, 5.0)
    assert urgent.deadline_hit_rate == 0.5 and urgent.latency_mean_s == 2.0
    assert urgent.latency_p99_s == pytest.approx(2.98)
    assert bulk.latency_p50_s == 8.0 and bulk.deadline_hit_rate is None
    assert (spam.txs, spam.included, spam.utility, spam.deadline_hit_rate) == (2, 0, 0.0, 0.0)
    assert spam.latency_mean_s is None and spam.latency_p99_s is None
    assert m.jain_fairness == pytest.approx(jain_index(np.array([1.0, 1.0, 0.0])))
    assert m.spam_admitted == 1
    assert m.cpu_ms_per_block == 0.5


def test_jain_index() -> None:
    assert jain_index(np.array([1.0, 1.0, 1.0])) == 1.0
    assert jain_index(np.array([1.0, 0.0, 0.0, 0.0])) == 0.25
    assert math.isclose(jain_index(np.array([0.5, 1.0])), 2.25 / 2.5)
    assert jain_index(np.zeros(3)) == 1.0


def test_label_priority_discounts_deadline_free_txs() -> None:
    p = label_priority(np.array([10.0, 10.0]), np.array([5.0, np.nan]), np.array([100, 100]))
    assert p[0] == 0.1 and p[1] == pytest.approx(0.01)


# -- over seeds --------------------------------------------------------------------

SEEDS = [1, 2, 3]
SMALL = BlockProduction(block_txs=30)
SERIES_POLICIES = ["fifo", "fee", "package", "learned", BOUND]
SCHEMA_2_KEYS = {
    "schema",
    "workload",
    "seeds",
    "cold_start",
    "production",
    "network",
    "policies",
    "model",
    "versions",
    "git_commit",
    "per_seed",
    "summary",
    "ratios",
    "per_class",
    "bound",
}


@pytest.fixture(scope="module")
def series(tiny_toml: Path, tiny_model: Path) -> BenchSeries:
    return run_seeds(
        Workload.open(tiny_toml),
        SERIES_POLICIES,
        SMALL,
        SEEDS,
        duration_s=30.0,
        model_path=tiny_model,
    )


def test_each_seed_is_its_own_draw_and_the_cis_contain_the_means(series: BenchSeries) -> None:
    assert [run.seed for run in series.runs] == SEEDS
    assert len({run.bench_rows for run in series.runs}) == 3  # three different traces
    summary = series.summary()
    for name in series.replayed:
        for metric in METRIC_NAMES:
            e = summary[name][metric]
            if metric == "deadline_hit_rate" and name == "fifo":
                assert e is not None
            if e is None:
                continue
            assert e.n == 3 and e.lo <= e.mean <= e.hi, (name, metric)
        utilities = series.values(name, "utility")
        assert summary[name]["utility"] == mean_ci(utilities)
    spread = summary["fee"]["utility"]
    assert spread is not None and spread.lo < spread.hi  # seeds differ, so the CI has width


def test_the_learned_policy_is_paired_with_every_other(series: BenchSeries) -> None:
    ratios = series.ratios()["learned"]
    assert set(ratios) == {"fifo", "fee", "package"}
    for other, e in ratios.items():
        per_seed = [
            a / b
            for a, b in zip(
                series.values("learned", "utility"), series.values(other, "utility"), strict=True
            )
        ]
        assert e is not None and e.n == 3
        assert e.mean == pytest.approx(np.mean(per_seed)) and e.lo <= e.mean <= e.hi
    without = run_seeds(series.workload, ["fifo", "fee"], SMALL, [1], duration_s=20.0)
    assert without.ratios() == {}


def test_the_bound_is_above_every_policy_on_every_seed(series: BenchSeries) -> None:
    bounds = series.bounds
    assert bounds is not None and len(bounds) == 3 and min(bounds) > 0
    for run, top in zip(series.runs, bounds, strict=True):
        for name, m in run.policies.items():
            assert m.utility <= top * (1 + 1e-9) + 1e-6, (run.seed, name)
    summary = series.summary()
    for name in series.replayed:
        share = summary[name]["utility_of_bound"]
        assert share is not None and 0.0 < share.mean <= 1.0
    assert BOUND not in series.runs[0].policies  # the bound is no replay: no latencies
    assert summary[BOUND]["utility"] == mean_ci(bounds)


def test_per_class_metrics_add_up_and_have_cis(series: BenchSeries) -> None:
    assert set(series.classes) == {"urgent", "bulk"}
    for run in series.runs:
        for m in run.policies.values():
            assert sum(c.utility for c in m.by_class.values()) == pytest.approx(m.utility)
            assert sum(c.included for c in m.by_class.values()) == m.included
    per_class = series.per_class()
    assert set(per_class) == set(series.replayed)
    urgent = per_class["fee"]["urgent"]
    assert set(urgent) == set(CLASS_METRIC_NAMES)
    assert all(e is not None and e.n == 3 for e in urgent.values())
    assert per_class["fee"]["bulk"]["deadline_hit_rate"] is None  # bulk has no deadlines


def test_table_reports_means_cis_fraction_of_bound_and_ratios(series: BenchSeries) -> None:
    header, rows = table_rows(series)
    assert header == ["metric", *SERIES_POLICIES]
    by_label = {row[0].strip(): row[1:] for row in rows}
    assert all("±" in cell for cell in by_label["utility"])
    fractions = [float(cell.split(" ± ")[0]) for cell in by_label["of bound"]]
    assert all(0.0 < f <= 1.0 for f in fractions) and fractions[-1] == 1.0
    assert "urgent hit rate" in by_label and "bulk p99 (s)" in by_label
    ratio_cells = by_label["learned / policy"]
    assert ratio_cells[SERIES_POLICIES.index("learned")] == "-"
    assert "[" in ratio_cells[SERIES_POLICIES.index("fee")]


def test_results_json_is_schema_2(
    tmp_path: Path, series: BenchSeries, tiny_toml: Path, tiny_model: Path
) -> None:
    paths = write_results(series, tmp_path)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert set(doc) == SCHEMA_2_KEYS and doc["schema"] == 2
    assert doc["network"] is None  # a single-pool replay
    assert doc["workload"]["sha256"] == hashlib.sha256(tiny_toml.read_bytes()).hexdigest()
    assert doc["workload"]["name"] == "tiny" and doc["workload"]["path"] == str(tiny_toml)
    assert doc["seeds"] == SEEDS and doc["cold_start"] is False
    assert doc["production"] == {"interval_s": 1.0, "block_txs": 30, "block_bytes": 0, "blocks": 0}
    assert doc["policies"] == SERIES_POLICIES
    (model,) = doc["model"]["learned"]
    assert model["sha256"] == file_sha256(tiny_model).hex() and model["seeds"] == SEEDS
    assert model["training"] == load_model(tiny_model).training
    assert "holdout_metrics" in model["training"]
    assert set(doc["versions"]) == {"python", "numpy", "scikit-learn", "scipy", "ordinet"}
    assert doc["git_commit"] is None or len(doc["git_commit"]) == 40
    assert [s["seed"] for s in doc["per_seed"]] == SEEDS
    for entry, run in zip(doc["per_seed"], series.runs, strict=True):
        assert entry["txs"] == run.bench_rows and entry["bound"] == run.bound_utility
        assert set(entry["policies"]) == set(series.replayed)
        assert set(entry["policies"]["fee"]) == POLICY_KEYS
    assert doc["summary"]["fee"]["utility"]["n"] == 3
    assert set(doc["summary"]["fee"]) == {*METRIC_NAMES, "utility_of_bound"}
    assert set(doc["ratios"]["learned"]) == {"fifo", "fee", "package"}
    assert set(doc["per_class"]["learned"]) == {"urgent", "bulk"}
    assert doc["bound"] == series.bounds
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0].startswith("seed,policy,utility,") and len(rows) == 1 + 3 * 4
    pngs = [p for p in paths if p.suffix == ".png"]
    assert {p.name for p in pngs} == {
        "summary.png",
        "class_utility.png",
        "class_deadline_hit_rate.png",
        "class_latency_cdf.png",
        "bound_fraction.png",
    }
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_git_commit_is_none_outside_a_checkout(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    here = git_commit()
    assert here is None or all(c in "0123456789abcdef" for c in here)


class _Watcher(FifoPolicy):
    """fifo that keeps, per replay (one instance each), the time of every batch it scores."""

    name = "watcher"
    replays: ClassVar[list[list[float]]] = []

    def __init__(self) -> None:
        self.scored: list[float] = []
        _Watcher.replays.append(self.scored)

    def score(self, txs: TxColumns) -> np.ndarray:
        self.scored.extend(np.asarray(txs.arrival_s).tolist())
        return super().score(txs)


def test_cold_start_replays_the_second_half_with_an_empty_history(
    tiny_toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_registry.policy_names()
    monkeypatch.setattr(policy_registry, "_REGISTRY", dict(policy_registry._REGISTRY))
    monkeypatch.setattr(_Watcher, "replays", [])
    policy_registry.register(_Watcher)
    workload = Workload.open(tiny_toml)
    run_seeds(workload, ["watcher", "fee"], SMALL, [4], duration_s=30.0)
    cold = run_seeds(workload, ["watcher", "fee"], SMALL, [4], duration_s=30.0, cold_start=True)
    whole = workload.trace(4, 30.0).sorted_by_arrival()
    tail, start = whole.second_half()
    assert cold.cold_start and cold.runs[0].bench_rows == len(tail) == len(whole) - round(
        len(whole) / 2
    )
    # a fresh policy per replay: the cold one scores the second half's txs only
    full_seen, cold_seen = _Watcher.replays
    assert len(full_seen) == len(whole) and len(cold_seen) == len(tail)
    assert min(cold_seen) > tail.arrival_s[0] >= whole.arrival_s[len(whole) // 2 - 1]
    # each sender starts at its first nonce in the half, so its txs are executable
    firsts: dict[str, int] = {}
    for sender, nonce in zip(tail.sender, tail.nonce.tolist(), strict=True):
        firsts.setdefault(sender, nonce)
    assert {s: start.get(s, 0) for s in firsts} == firsts
    m = cold.runs[0].policies["fee"]
    assert m.included > 0.6 * len(tail)  # capacity ~0.7 of the offered txs
    assert cold.to_json()["cold_start"] is True


def test_a_nonce_gap_stays_a_gap_in_the_second_half() -> None:
    trace = Trace(
        arrival_s=np.array([0.0, 1.0, 2.0, 3.0]),
        sender=["a", "gap", "a", "gap"],
        recipient=["x"] * 4,
        nonce=np.array([0, 5, 1, 6]),
        fee=np.array([1] * 4),
        size=np.array([200] * 4),
        tx_class=["payment", "gap", "payment", "gap"],
        deadline_s=np.full(4, np.nan),
        value=np.ones(4),
    )
    tail, start = trace.second_half()
    assert list(tail.nonce) == [1, 6] and start == {"a": 1, "gap": 0}


def test_bad_seed_lists_and_workloads_are_typed_errors(tmp_path: Path, tiny_trace: Trace) -> None:
    path = tmp_path / "t.csv"
    write_trace(tiny_trace, path)
    fixed = Workload.open(path)
    assert not fixed.generated and fixed.name == "t"
    with pytest.raises(ConfigError) as e:
        run_seeds(fixed, ["fee"], SMALL, [1, 2])
    assert e.value.code == "bad_seeds" and "one fixed draw" in str(e.value)
    assert run_seeds(fixed, ["fee"], SMALL, [1]).runs[0].bench_rows == len(tiny_trace)
    with pytest.raises(ConfigError) as e:
        run_seeds(fixed, ["fee"], SMALL, [])
    assert e.value.code == "bad_seeds"
    with pytest.raises(ConfigError) as e:
        Workload.open(tmp_path / "missing.toml")
    assert e.value.code == "bad_workload" and "cannot read workload" in str(e.value)
    with pytest.raises(ConfigError) as e:
        bench.parse_policies("fee,boundd")
    assert e.value.code == "unknown_policy" and "bound" in str(e.value)


# -- the generalisation matrix -----------------------------------------------------


def _small_recipe(seed: int) -> TrainConfig:
    return TrainConfig(seed=seed, trees=20, max_depth=3, production=SMALL)


def test_the_matrix_trains_on_each_workload_and_benches_on_each(
    tmp_path: Path, tiny_toml: Path
) -> None:
    other = tmp_path / "crowded.toml"
    other.write_text(tiny_toml.read_text().replace("rate_tps = 30.0", "rate_tps = 60.0"))
    workloads = [Workload.open(tiny_toml), Workload.open(other)]
    report = run_matrix(
        workloads,
        SMALL,
        train_seeds=[9],
        test_seeds=[1, 2],
        models_dir=tmp_path / "out" / "models",
        duration_s=20.0,
        train_config=_small_recipe,
    )
    names = ["tiny", "crowded"]
    assert report.names == names and set(report.cells) == {(r, c) for r in names for c in names}
    for cell in report.cells.values():
        assert cell.best_baseline in MATRIX_BASELINES and len(cell.learned) == 2
        assert cell.ratio is not None and cell.ratio.n == 2
        assert cell.ratio.mean == pytest.approx(np.mean(np.divide(cell.learned, cell.baseline)))
    for name in names:
        model = tmp_path / "out" / "models" / f"{name}.json"
        assert file_sha256(model).hex() == report.models[name].sha256
    # a model trained elsewhere meets other traffic: the rows differ
    assert report.cells[("tiny", "crowded")].learned != report.cells[("crowded", "crowded")].learned
    paths = write_matrix(report, tmp_path / "out")
    assert [p.name for p in paths] == ["matrix.json", "matrix.md", "matrix.png"]
    table = (tmp_path / "out" / "matrix.md").read_text().splitlines()
    assert table[2] == "| trained on \\ benched on | tiny | crowded |"
    assert [line.split(" | ")[0] for line in table[4:]] == ["| tiny", "| crowded"]
    doc = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert set(doc["cells"]) == set(names) and set(doc["cells"]["tiny"]) == set(names)
    assert (tmp_path / "out" / "matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_the_matrix_refuses_overlapping_seeds_and_trace_files(
    tmp_path: Path, tiny_toml: Path, tiny_trace: Trace
) -> None:
    workload = Workload.open(tiny_toml)
    with pytest.raises(ConfigError) as e:
        run_matrix([workload], SMALL, train_seeds=[1], test_seeds=[1, 2], models_dir=tmp_path)
    assert e.value.code == "bad_seeds" and "overlap" in str(e.value)
    path = tmp_path / "t.jsonl"
    write_trace(tiny_trace, path)
    with pytest.raises(ConfigError) as e:
        run_matrix(
            [Workload.open(path)], SMALL, train_seeds=[7], test_seeds=[1], models_dir=tmp_path
        )
    assert e.value.code == "bad_workload"
    with pytest.raises(ConfigError):
        run_matrix(
            [workload, workload], SMALL, train_seeds=[7], test_seeds=[1], models_dir=tmp_path
        )
