"""pytest-benchmark suite: node.crypto's batch calls and their Python references.

Run with ``pytest benchmarks/bench_crypto.py`` (add ``--benchmark-only``
and e.g. ``--benchmark-compare`` as usual). Each group holds one Rust call
and the pure-Python code it replaces, on the same inputs, so the table
pytest-benchmark prints shows the ratio; nothing here asserts a speed.
The workloads are the ones ``report.py`` times.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import report
from pytest_benchmark.fixture import BenchmarkFixture

# The slow references take seconds a call: a few rounds are plenty.
ROUNDS = 3

WORKLOADS: dict[str, Callable[[], report.Workload]] = {
    "merkle-root-2^20": report.merkle_workload,
    "verify-batch-10k": report.verify_batch_workload,
    "sha256-many-100k": report.sha256_many_workload,
    "sha256-many-packed-100k": report.sha256_many_packed_workload,
}


@pytest.fixture(scope="module", params=sorted(WORKLOADS))
def workload(request: pytest.FixtureRequest) -> tuple[str, report.Workload]:
    name = request.param
    return name, WORKLOADS[name]()


@pytest.mark.parametrize("side", ["reference", "rust"])
def test_crypto(
    benchmark: BenchmarkFixture, workload: tuple[str, report.Workload], side: str
) -> None:
    group, calls = workload
    benchmark.group = group
    call = calls.reference if side == "reference" else calls.rust
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=0)
