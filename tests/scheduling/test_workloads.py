"""Workload generators: determinism, the shapes they promise, and clear refusals."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from node.errors import ConfigError
from node.research.trace import MIN_BENCH_TX_SIZE, Trace
from node.research.workloads import generate, load_workload, parse_workload

SHIPPED = ["steady", "bursts", "mixed", "spam", "nonce_gap", "blend"]
WORKLOADS = Path(__file__).resolve().parents[2] / "configs" / "workloads"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_workloads_parse_and_generate(name: str) -> None:
    spec = load_workload(WORKLOADS / f"{name}.toml")
    trace = generate(spec, 1, duration_s=20.0)
    assert len(trace) > 100
    assert np.all(np.diff(trace.arrival_s) >= 0)
    assert trace.arrival_s.max() < 20.0
    assert trace.size.min() >= MIN_BENCH_TX_SIZE
    assert all(s != r for s, r in zip(trace.sender, trace.recipient, strict=True))


def test_same_seed_same_trace_other_seed_other_trace(tiny_toml: Path) -> None:
    spec = load_workload(tiny_toml)
    a, b, c = generate(spec, 3), generate(spec, 3), generate(spec, 4)
    assert np.array_equal(a.arrival_s, b.arrival_s) and a.sender == b.sender
    assert np.array_equal(a.fee, b.fee) and np.array_equal(a.value, b.value)
    assert len(a) != len(c) or not np.array_equal(a.arrival_s, c.arrival_s)


def test_nonces_count_up_per_sender(tiny_trace: Trace) -> None:
    seen: Counter[str] = Counter()
    for sender, nonce in zip(tiny_trace.sender, tiny_trace.nonce.tolist(), strict=True):
        assert nonce == seen[sender]
        seen[sender] += 1


def test_labels_follow_the_sources(tiny_trace: Trace) -> None:
    cls = np.asarray(tiny_trace.tx_class)
    assert set(cls) == {"urgent", "bulk"}
    assert np.isnan(tiny_trace.deadline_s[cls == "bulk"]).all()
    urgent_deadlines = tiny_trace.deadline_s[cls == "urgent"]
    assert urgent_deadlines.min() >= 2.0 and urgent_deadlines.max() <= 6.0
    assert all(
        r.startswith("hubs-")
        for r, c in zip(tiny_trace.recipient, cls, strict=True)
        if c == "urgent"
    )


def test_nonce_gap_source_runs_ahead_of_the_account(tiny_spec: dict[str, Any]) -> None:
    tiny_spec["source"][1]["nonce_gap"] = 5
    tiny_spec["source"][1]["senders"] = "hubs"
    tiny_spec["source"][0]["recipients"] = "users"
    trace = generate(parse_workload(tiny_spec), 2)
    gap_rows = [i for i, c in enumerate(trace.tx_class) if c == "bulk"]
    per_sender: dict[str, list[int]] = {}
    for i in gap_rows:
        per_sender.setdefault(trace.sender[i], []).append(int(trace.nonce[i]))
    for nonces in per_sender.values():
        assert nonces == list(range(5, 5 + len(nonces)))


def test_bursts_concentrate_arrivals(tiny_spec: dict[str, Any]) -> None:
    source = tiny_spec["source"][1]
    source["arrival"] = "bursts"
    source["rate_tps"] = 1.0
    source["burst"] = {"every_s": 20.0, "length_s": 5.0, "rate_tps": 200.0, "offset_s": 10.0}
    trace = generate(parse_workload(tiny_spec), 2)
    t = trace.arrival_s[np.asarray(trace.tx_class) == "bulk"]
    in_burst = ((t >= 10) & (t < 15)) | ((t >= 30) & (t < 35))
    assert in_burst.mean() > 0.95


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["source"][0].pop("rate_tps"), r"field 'source\[0\].rate_tps': is required"),
        (lambda d: d["source"][0].update(rate_tps=-1), r"'source\[0\].rate_tps': must be > 0"),
        (lambda d: d["source"][1].update(senders="whales"), r"unknown account group 'whales'"),
        (lambda d: d["source"][0].update(sise=3), r"'source\[0\].sise': unknown field"),
        (lambda d: d["source"][0].update(size={"min": 10, "max": 300}), r"'source\[0\].size'"),
        (lambda d: d["source"][0].update(arrival="storm"), r"'source\[0\].arrival': must be one"),
        (lambda d: d["accounts"]["users"].update(count=0), r"'accounts.users.count': must be >= 1"),
        (lambda d: d.update(duration_s="long"), r"'duration_s': expected a number"),
        (
            lambda d: d["source"][0].update(deadline_s={"min": 5.0, "max": 1.0}),
            r"'source\[0\].deadline_s.max': must be >= min",
        ),
        (
            lambda d: d["source"][0].update(burst={"every_s": 1.0}),
            r"'source\[0\].burst': is only valid with arrival = \"bursts\"",
        ),
    ],
)
def test_bad_workload_is_refused_naming_the_field(
    tiny_spec: dict[str, Any], edit: Any, message: str
) -> None:
    edit(tiny_spec)
    with pytest.raises(ConfigError, match=message) as info:
        parse_workload(tiny_spec, "w.toml")
    assert info.value.code == "bad_workload"
    assert str(info.value).startswith("w.toml: ")


def test_bad_toml_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_workload(path)
