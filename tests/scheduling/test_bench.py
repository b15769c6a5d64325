"""The bench: what the learned policy achieves on the mixed workload, and the metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from node.research.bench import (
    BenchReport,
    jain_index,
    measure,
    run_bench,
    table_rows,
    write_results,
)
from node.research.replay import BlockProduction, ReplayResult
from node.research.trace import Trace
from node.research.workloads import generate, parse_workload
from node.scheduling.oracle import label_priority

POLICY_KEYS = {
    "utility",
    "fee_revenue",
    "deadline_hit_rate",
    "latency_p50_s",
    "latency_p99_s",
    "latency_p99_s_by_class",
    "jain_fairness",
    "spam_admitted",
    "included",
    "cpu_ms_per_block",
}


def test_learned_beats_fee_and_fifo_and_nears_the_oracle(mixed_report: BenchReport) -> None:
    u = {name: m.utility for name, m in mixed_report.policies.items()}
    # measured once: learned/fee ~2.1, learned/oracle ~0.99
    assert u["learned"] > 1.5 * u["fee"]
    assert u["learned"] > 1.5 * u["fifo"]
    assert u["learned"] >= 0.9 * u["oracle"]
    urgent = {n: m.latency_p99_s_by_class["urgent"] for n, m in mixed_report.policies.items()}
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
    assert m.latency_p99_s_by_class == {"urgent": pytest.approx(2.98), "bulk": 8.0, "spam": None}
    assert m.jain_fairness == pytest.approx(jain_index(np.array([1.0, 1.0, 0.0])))
    assert m.spam_admitted == 1
    assert m.cpu_ms_per_block == 0.5


def test_jain_index() -> None:
    assert jain_index(np.array([1.0, 1.0, 1.0])) == 1.0
    assert jain_index(np.array([1.0, 0.0, 0.0, 0.0])) == 0.25
    assert math.isclose(jain_index(np.array([0.5, 1.0])), 2.25 / 2.5)
    assert jain_index(np.zeros(3)) == 1.0


def test_results_files_follow_the_schema(tmp_path: Path, mixed_report: BenchReport) -> None:
    paths = write_results(mixed_report, tmp_path)
    assert [p.name for p in paths] == ["results.json", "results.csv", "results.png"]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert set(doc) == {"workload", "seed", "policies"}
    assert list(doc["policies"]) == ["fifo", "fee", "learned", "label-greedy", "oracle"]
    for metrics in doc["policies"].values():
        assert set(metrics) == POLICY_KEYS
        assert set(metrics["latency_p99_s_by_class"]) == {"urgent", "bulk"}
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0].startswith("policy,utility,fee_revenue,") and len(rows) == 6
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_label_priority_discounts_deadline_free_txs() -> None:
    p = label_priority(np.array([10.0, 10.0]), np.array([5.0, np.nan]), np.array([100, 100]))
    assert p[0] == 0.1 and p[1] == pytest.approx(0.01)


def test_with_bound_reports_each_policy_as_a_fraction_of_it(tiny_trace: Trace) -> None:
    report = run_bench(
        tiny_trace,
        ["fifo", "fee", "package"],
        BlockProduction(block_txs=8),
        workload="tiny",
        with_bound=True,
    )
    assert report.bound_utility is not None and report.bound_utility > 0
    assert all(m.utility <= report.bound_utility + 1e-6 for m in report.policies.values())
    _, rows = table_rows(report)
    fractions = next(row for row in rows if row[0].strip() == "of bound")
    assert all(0.0 <= float(cell) <= 1.0 for cell in fractions[1:])
    assert report.to_json()["bound_utility"] == report.bound_utility
