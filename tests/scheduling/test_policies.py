"""Policies in the real mempool: limits, nonce order, the orderings they claim,
the oracles' labels, block walks, and the registry a node configures from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.errors import ConfigError
from node.mempool import Mempool
from node.scheduling.learned import LearnedPolicy
from node.scheduling.oracle import LabelGreedyPolicy, OraclePolicy, label_priority
from node.scheduling.policy import (
    BlockLimits,
    FeePolicy,
    FifoPolicy,
    Policy,
    TxColumns,
    load_policy,
    make_policy,
    policy_names,
)
from node.types import Transaction

CHAIN = "bench"


def _addr(i: int) -> bytes:
    return hashlib.sha256(f"acct-{i}".encode()).digest()


def _tx(sender: int, nonce: int, fee: int, pad: int = 0) -> Transaction:
    return Transaction(
        chain_id=CHAIN,
        sender=_addr(sender),
        nonce=nonce,
        recipient=_addr(1000 + sender),
        amount=1,
        fee=fee,
        data=bytes(pad),
    )


def _pool(policy: Policy, next_nonce: dict[bytes, int] | None = None) -> Mempool:
    state = next_nonce or {}
    return Mempool(chain_id=CHAIN, accounts=lambda a: (10**15, state.get(a, 0)), policy=policy)


def _labels(n: int, rng: np.random.Generator, at: float = 0.0) -> dict[str, np.ndarray]:
    deadline = np.where(rng.random(n) < 0.5, rng.uniform(1, 10, n), np.nan)
    return {"value": rng.uniform(0, 100, n), "deadline_s": deadline, "arrival_s": np.full(n, at)}


tx_specs = st.lists(
    st.tuples(
        st.integers(0, 5),  # sender
        st.integers(0, 9),  # nonce (gaps and duplicates happen)
        st.integers(0, 5000),  # fee
        st.integers(0, 300),  # data bytes
    ),
    min_size=1,
    max_size=60,
)


@pytest.mark.parametrize(
    "name",
    ["fifo", "fee", "fair-fee", "package", "learned", "learned+greedy", "label-greedy", "oracle"],
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=tx_specs,
    batches=st.integers(1, 3),
    max_txs=st.integers(0, 40),
    max_bytes=st.integers(0, 8000),
    base=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_blocks_respect_limits_and_nonce_order(
    name: str,
    specs: list[tuple[int, int, int, int]],
    batches: int,
    max_txs: int,
    max_bytes: int,
    base: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    state = {_addr(s): base for s in range(6)}
    pool = _pool(make_policy(name), state)
    txs = [_tx(s, n, f, p) for s, n, f, p in specs]
    cuts = np.array_split(np.arange(len(txs)), batches)
    for k, rows in enumerate(cuts):
        batch = [txs[i] for i in rows]
        labels = _labels(len(batch), rng, float(k))
        pool.admit(batch, float(k), signatures_checked=True, labels=labels)
    block = pool.select(BlockLimits(max_txs=max_txs, max_bytes=max_bytes), float(batches))
    assert len(block) <= max_txs
    assert sum(tx.size for tx in block) <= max_bytes
    expected: dict[bytes, int] = {}
    for tx in block:
        assert tx.id in pool
        assert tx.nonce == expected.get(tx.sender, base)
        expected[tx.sender] = tx.nonce + 1


def test_fifo_takes_txs_in_arrival_order() -> None:
    pool = _pool(FifoPolicy())
    fees = [5, 900, 1, 300, 300, 42]
    for t, fee in enumerate(fees):  # one arrival per batch, one tx per sender
        pool.admit([_tx(t, 0, fee)], float(t), signatures_checked=True)
    block = pool.select(BlockLimits(max_txs=10, max_bytes=10**6), 0.0)
    assert [tx.fee for tx in block] == fees


def test_fifo_keeps_batch_order_within_a_batch() -> None:
    pool = _pool(FifoPolicy())
    batch = [_tx(s, 0, fee) for s, fee in enumerate([7, 3, 9, 1])]
    pool.admit(batch, 0.0, signatures_checked=True)
    assert pool.select(BlockLimits(10, 10**6), 0.0) == batch


def test_fee_takes_highest_fee_rate_first_earliest_on_ties() -> None:
    pool = _pool(FeePolicy())
    txs = [_tx(0, 0, 400), _tx(1, 0, 400, pad=100), _tx(2, 0, 900), _tx(3, 0, 400), _tx(4, 0, 10)]
    for t, tx in enumerate(txs):
        pool.admit([tx], float(t), signatures_checked=True)
    block = pool.select(BlockLimits(10, 10**6), 0.0)
    rates = [tx.fee / tx.size for tx in block]
    assert rates == sorted(rates, reverse=True)
    # senders 0 and 3 pay the same rate: the one seen first goes first
    assert [tx.sender for tx in block] == [_addr(i) for i in (2, 0, 3, 1, 4)]


def test_fee_respects_each_senders_nonce_order() -> None:
    pool = _pool(FeePolicy())
    pool.admit([_tx(0, 0, 10), _tx(0, 1, 5000), _tx(1, 0, 1000)], 0.0, signatures_checked=True)
    block = pool.select(BlockLimits(10, 10**6), 0.0)
    assert [(tx.sender, tx.nonce) for tx in block] == [(_addr(1), 0), (_addr(0), 0), (_addr(0), 1)]


def test_label_greedy_ranks_by_label_priority_and_needs_labels() -> None:
    cols = TxColumns(
        arrival_s=np.zeros(3),
        fee=np.array([1.0, 1e6, 5.0]),
        size=np.array([200, 200, 400]),
        nonce=np.zeros(3, dtype=np.uint64),
        nonce_gap=np.zeros(3, dtype=np.int64),
        sender=[_addr(0), _addr(1), _addr(2)],
        recipient=[_addr(3)] * 3,
        labels={"value": np.array([10.0, 1.0, 10.0]), "deadline_s": np.array([5.0, 5.0, np.nan])},
    )
    scores = LabelGreedyPolicy().score(cols)
    assert (
        scores.tolist()
        == label_priority(
            cols.labels["value"],  # type: ignore[index]
            cols.labels["deadline_s"],
            cols.size,
        ).tolist()
    )
    assert np.argsort(-scores).tolist() == [0, 1, 2]
    with pytest.raises(ConfigError, match="needs the hidden labels"):
        LabelGreedyPolicy().score(TxColumns(**{**cols.__dict__, "labels": None}))
    with pytest.raises(ConfigError, match="arrival_s"):
        OraclePolicy().score(cols)  # the build-time oracle needs the trace arrival too


def test_the_oracle_drops_expired_txs_and_unlocks_successors() -> None:
    oracle = OraclePolicy()
    pool = _pool(oracle)
    # sender 0: a worthless head and a valuable successor; sender 1: a tx that expires at
    # t = 3; sender 2: a modest tx without a deadline
    txs = [_tx(0, 0, 1), _tx(0, 1, 1), _tx(1, 0, 10**6), _tx(2, 0, 1)]
    labels = {
        "value": np.array([0.0, 100.0, 1000.0, 5.0]),
        "deadline_s": np.array([np.nan, 10.0, 2.0, np.nan]),
        "arrival_s": np.array([0.0, 0.0, 1.0, 0.0]),
    }
    pool.admit(txs, 1.0, signatures_checked=True, labels=labels)
    two = BlockLimits(max_txs=2, max_bytes=10**6)
    # on time, the rich tx goes first; then the pair that unlocks the successor
    assert pool.select(two, 2.0) == [txs[2], txs[0]]
    assert pool.select(BlockLimits(3, 10**6), 3.0) == [txs[2], txs[0], txs[1]]
    # a second later the rich tx is late: worth nothing, the unlocking pair leads
    assert pool.select(two, 3.5) == [txs[0], txs[1]]
    assert make_policy("label-greedy").name == "label-greedy"


def test_a_walk_suffix_changes_only_how_blocks_are_built() -> None:
    greedy, package = make_policy("fee+greedy"), make_policy("fee+package")
    assert (greedy.name, package.name) == ("fee+greedy", "fee+package")
    txs = [_tx(0, 0, 1), _tx(0, 1, 10**5), _tx(1, 0, 1000)]  # a cheap parent, a rich child
    blocks = {}
    for name in ("fee", "fee+greedy", "fee+package", "package"):
        pool = _pool(make_policy(name))
        pool.admit(txs, 0.0, signatures_checked=True)
        blocks[name] = pool.select(BlockLimits(max_txs=2, max_bytes=10**6), 1.0)
    assert blocks["fee"] == blocks["fee+greedy"] == [txs[2], txs[0]]
    assert blocks["fee+package"] == blocks["package"] == [txs[0], txs[1]]
    learned = make_policy("learned+greedy")
    assert learned.model_hash == make_policy("learned").model_hash != bytes(32)
    assert isinstance(load_policy("learned+package"), Policy)
    for bad in ("fee+lifo", "lifo+package", "fee+", "+package"):
        with pytest.raises(ValueError, match="unknown scheduling policy"):
            make_policy(bad)
    with pytest.raises(ConfigError, match="runs only in `ordinet sched bench`"):
        load_policy("oracle+greedy")


def test_registry_and_node_configuration() -> None:
    assert {"fifo", "fee", "fair-fee", "package", "learned", "label-greedy", "oracle"} <= set(
        policy_names()
    )
    assert isinstance(load_policy("fifo"), FifoPolicy)
    assert isinstance(load_policy("learned"), LearnedPolicy)
    with pytest.raises(ConfigError, match="unknown scheduling policy 'lifo'") as info:
        load_policy("lifo")
    assert info.value.code == "unknown_policy" and "oracle" not in str(info.value)
    for bench_only in ("oracle", "label-greedy"):
        with pytest.raises(ConfigError, match="runs only in `ordinet sched bench`"):
            load_policy(bench_only)
    with pytest.raises(ConfigError, match="uses no model"):
        load_policy("fee", model_path=Path("m.json"))
    with pytest.raises(ValueError, match="unknown scheduling policy"):
        make_policy("lifo")


def test_learned_scores_each_batch_with_one_prediction(tiny_model: Path) -> None:
    policy = LearnedPolicy(model_path=tiny_model)
    calls = []
    predict = policy.model.predict

    def counting(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return predict(x)

    object.__setattr__(policy.model, "predict", counting)
    pool = _pool(policy)
    pool.admit([_tx(s, 0, 100 * s) for s in range(50)], 0.0, signatures_checked=True)
    pool.admit([_tx(s, 1, 100) for s in range(50)], 1.0, signatures_checked=True)
    assert calls == [50, 50]
    scores = [pool.score_of(tx.id) for tx, _ in pool.ordered(100, 0.0)]
    assert len(scores) == 100 and all(np.isfinite(s) for s in scores)  # type: ignore[arg-type]
