"""The utility bound: >= any schedule, exact on small cases, >= every policy's replay."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.research.bench import run_bench
from node.research.bounds import bound_of_trace
from node.research.replay import BlockProduction
from node.research.workloads import generate, load_workload
from node.scheduling.bound import BlockSchedule, BoundInputError, utility_bound
from node.scheduling.policy import BlockLimits
from tests.scheduling.conftest import WORKLOADS


def bound(
    txs: list[tuple[float, str, int, int, float, float]],
    blocks: int,
    max_txs: int,
    max_bytes: int = 10**9,
) -> float:
    arrival, sender, nonce, size, value, deadline = (list(c) for c in zip(*txs, strict=True))
    return utility_bound(
        arrival_s=np.array(arrival),
        sender=sender,
        nonce=np.array(nonce),
        size=np.array(size),
        value=np.array(value),
        deadline_s=np.array(deadline),
        schedule=BlockSchedule(0.0, 1.0, blocks, BlockLimits(max_txs, max_bytes)),
    ).utility


def best_schedule(txs, blocks: int, max_txs: int, max_bytes: int) -> float:
    """Brute force over every assignment of txs to a block (or none)."""
    best = 0.0
    for choice in itertools.product(range(blocks + 1), repeat=len(txs)):
        count = [0] * (blocks + 1)
        used = [0] * (blocks + 1)
        ok = True
        for (a, _s, _n, z, _, _), k in zip(txs, choice, strict=True):
            if k == 0:
                continue
            if k < max(1, int(np.ceil(a))):  # block k is made at time k
                ok = False
            count[k] += 1
            used[k] += z
        if not ok or any(c > max_txs for c in count[1:]) or any(u > max_bytes for u in used[1:]):
            continue
        # nonce order: a sender's included nonces are 0..m, each in a block >= the previous
        by_sender: dict[str, list[tuple[int, int]]] = {}
        for (_, s, n, _, _, _), k in zip(txs, choice, strict=True):
            if k:
                by_sender.setdefault(s, []).append((n, k))
        for got in by_sender.values():
            got.sort()
            if [n for n, _ in got] != list(range(len(got))):
                ok = False
            if any(k2 < k1 for (_, k1), (_, k2) in itertools.pairwise(got)):
                ok = False
        if not ok:
            continue
        earned = sum(
            v
            for (a, _, _, _, v, d), k in zip(txs, choice, strict=True)
            if k and (np.isnan(d) or k - a <= d)
        )
        best = max(best, earned)
    return best


NAN = float("nan")


def test_one_slot_takes_the_most_valuable_tx() -> None:
    assert bound(
        [(0.5, "a", 0, 100, 3.0, NAN), (0.5, "b", 0, 100, 5.0, NAN)], 1, 1
    ) == pytest.approx(5.0)


def test_a_worthless_tx_that_unlocks_a_rich_successor_counts() -> None:
    txs = [(0.5, "a", 0, 100, 0.0, NAN), (0.5, "a", 1, 100, 9.0, NAN), (0.5, "b", 0, 100, 5.0, NAN)]
    # the integer optimum is 9 (a0 then a1); the relaxation may split shares
    assert 9.0 - 1e-6 <= bound(txs, 1, 2) <= 14.0


def test_a_missed_deadline_earns_nothing_and_a_nonce_gap_never_executes() -> None:
    assert bound([(0.5, "a", 0, 100, 7.0, 0.2)], 3, 1) == 0.0
    assert bound([(0.5, "a", 1, 100, 7.0, NAN)], 3, 1) == 0.0


def test_byte_capacity_binds() -> None:
    txs = [(0.5, "a", 0, 600, 4.0, NAN), (0.5, "b", 0, 500, 3.0, NAN), (0.5, "c", 0, 500, 3.0, NAN)]
    # all three (10) do not fit in 1000 bytes; the best pair earns 6, shares a little more
    assert 6.0 - 1e-6 <= bound(txs, 1, 3, max_bytes=1000) < 10.0


def test_bad_production_is_a_typed_error() -> None:
    with pytest.raises(BoundInputError):
        utility_bound(
            arrival_s=np.array([0.0]),
            sender=["a"],
            nonce=np.array([0]),
            size=np.array([1]),
            value=np.array([1.0]),
            deadline_s=np.array([NAN]),
            schedule=BlockSchedule(0.0, 0.0, 1, BlockLimits(1, 1)),
        )


tx = st.tuples(
    st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.5]),
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 2),
    st.integers(50, 300),
    st.sampled_from([0.0, 1.0, 2.5, 7.0]),
    st.sampled_from([NAN, 0.0, 0.6, 1.5]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(tx, min_size=1, max_size=5),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(200, 700),
)
def test_the_bound_is_at_least_the_best_schedule(txs, blocks, max_txs, max_bytes) -> None:
    exact = best_schedule(txs, blocks, max_txs, max_bytes)
    assert bound(txs, blocks, max_txs, max_bytes) >= exact - 1e-6


@pytest.mark.parametrize(("workload", "seed"), [("mixed", 1), ("spam", 2), ("bursts", 3)])
def test_the_bound_is_above_every_policy_replay(workload: str, seed: int) -> None:
    spec = load_workload(WORKLOADS / f"{workload}.toml")
    trace = generate(spec, seed, duration_s=40.0)
    production = BlockProduction()
    report = run_bench(
        trace,
        [
            "fifo",
            "fee",
            "fair-fee",
            "package",
            "learned",
            "learned+greedy",
            "label-greedy",
            "oracle",
        ],
        production,
        workload=workload,
        seed=seed,
    )
    top = bound_of_trace(trace, production).utility
    assert top > 0
    for name, metrics in report.policies.items():
        assert metrics.utility <= top * (1 + 1e-9) + 1e-6, name
