"""Scheduling benchmarks: building a 5,000-tx block from a 50,000-tx pool, per policy.

    pytest benchmarks/bench_scheduling.py      # pytest-benchmark tables
    python benchmarks/bench_scheduling.py      # a table of figures per policy

For each policy (fifo, fee, fair-fee, package, learned with the shipped
model and its package walk, learned+greedy (the same scores, the heap walk),
label-greedy, and the build-time oracle) a real
``Mempool`` is filled with 50,000 txs (10,000 senders x 5 nonces, random
fees and sizes, labels for the oracle) in 50 admission batches of 1,000:
each batch is scored by ONE ``policy.score`` call. Then ``mempool.select``
builds a 5,000-tx block (best of several runs; the pool is unchanged by
select). The score-only policies (fifo, fee, fair-fee, learned+greedy,
label-greedy) walk the scores cached at admission; package, learned and the
oracle re-score at build time (``Policy.order``: the pending txs as columns,
the package walk; the oracle also drops expired txs). The reference,
measured in the same run, is what a block builder that scores the whole
pool at build time would pay instead: one ``policy.score`` call over all
50,000 pooled txs and a sort ("rescore"). The admission column is
the CPU time per tx of filling the pool, scoring included. Nothing
asserts a speed: the machine is shared.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from typing import Any

import numpy as np
import pytest

from node.mempool import Mempool, MempoolConfig
from node.scheduling.policy import BlockLimits, TxColumns, make_policy
from node.types import Transaction

POOL_TXS = 50_000
SENDERS = 10_000
BLOCK_TXS = 5_000
BATCH = 1_000
CHAIN = "bench"
POLICIES = (
    "fifo",
    "fee",
    "fair-fee",
    "learned+greedy",
    "label-greedy",
    "package",
    "learned",
    "oracle",
)
#: The block's time: after every batch's admission (batch k is admitted at k s).
NOW_S = POOL_TXS / BATCH
LIMITS = BlockLimits(max_txs=BLOCK_TXS, max_bytes=BLOCK_TXS * 1_300)


def make_txs(seed: int = 0) -> tuple[list[Transaction], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    addrs = [hashlib.sha256(b"s%d" % i).digest() for i in range(SENDERS + 100)]
    per_sender = POOL_TXS // SENDERS
    fees = rng.integers(100, 5_000, POOL_TXS).tolist()
    pads = rng.integers(0, 300, POOL_TXS).tolist()
    recipients = rng.integers(SENDERS, SENDERS + 100, POOL_TXS).tolist()
    txs = [
        Transaction(
            chain_id=CHAIN,
            sender=addrs[i % SENDERS],
            nonce=i // SENDERS,
            recipient=addrs[recipients[i]],
            amount=1,
            fee=fees[i],
            data=bytes(pads[i]),
        )
        for i in range(SENDERS * per_sender)
    ]
    labels = {
        "value": rng.uniform(0, 100, len(txs)),
        "deadline_s": np.where(rng.random(len(txs)) < 0.5, rng.uniform(1, 80, len(txs)), np.nan),
        "arrival_s": np.arange(len(txs)) // BATCH * 1.0,
    }
    return txs, labels


def build_pool(
    policy_name: str, txs: list[Transaction], labels: dict[str, np.ndarray]
) -> tuple[Mempool, float]:
    """A full pool under the policy, and the CPU seconds admission took."""
    policy = make_policy(policy_name)
    pool = Mempool(
        chain_id=CHAIN,
        accounts=lambda a: (10**15, 0),
        policy=policy,
        config=MempoolConfig(max_txs=POOL_TXS),
    )
    start = time.process_time()
    for lo in range(0, len(txs), BATCH):
        # labels for the oracles only: a node's pool never holds any
        batch_labels = (
            {k: v[lo : lo + BATCH] for k, v in labels.items()} if policy.bench_only else None
        )
        pool.admit(txs[lo : lo + BATCH], lo / BATCH, signatures_checked=True, labels=batch_labels)
    spent = time.process_time() - start
    assert len(pool) == len(txs)
    return pool, spent


def _best(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def pool_columns(txs: list[Transaction], labels: dict[str, np.ndarray]) -> TxColumns:
    return TxColumns(
        arrival_s=np.zeros(len(txs)),
        fee=np.array([tx.fee for tx in txs], dtype=np.float64),
        size=np.array([tx.size for tx in txs], dtype=np.int64),
        nonce=np.array([tx.nonce for tx in txs], dtype=np.uint64),
        nonce_gap=np.array([tx.nonce for tx in txs], dtype=np.int64),
        sender=[tx.sender for tx in txs],
        recipient=[tx.recipient for tx in txs],
        pool_size=len(txs),
        labels=labels,
    )


def measure(repeats: int = 5) -> list[dict[str, Any]]:
    txs, labels = make_txs()
    columns = pool_columns(txs, labels)
    rows = []
    for name in POLICIES:
        pool, admit_cpu_s = build_pool(name, txs, labels)
        block = pool.select(LIMITS, NOW_S)
        assert len(block) == BLOCK_TXS
        select_s = _best(lambda pool=pool: pool.select(LIMITS, NOW_S), repeats)
        # The reference: score the whole pool when the block is built (one
        # batch call, a fresh policy each time) and sort, instead of walking
        # scores cached at admission.
        fresh = [make_policy(name) for _ in range(repeats)]
        rescore_s = _best(
            lambda fresh=fresh: np.argsort(-fresh.pop().score(columns), kind="stable"), repeats
        )
        rows.append(
            {
                "policy": name,
                "select_ms": 1000 * select_s,
                "rescore_ms": 1000 * rescore_s,
                "ratio": rescore_s / select_s,
                "admit_us_per_tx": 1e6 * admit_cpu_s / len(txs),
            }
        )
    return rows


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"block of {BLOCK_TXS:,} txs from a pool of {POOL_TXS:,} ({SENDERS:,} senders)")
    print(f"{'policy':>14} {'select ms':>10} {'rescore ms':>11} {'ratio':>7} {'admit us/tx':>12}")
    for r in measure():
        print(
            f"{r['policy']:>14} {r['select_ms']:>10.1f} {r['rescore_ms']:>11.1f} "
            f"{r['ratio']:>6.1f}x {r['admit_us_per_tx']:>12.1f}"
        )


@pytest.fixture(scope="module")
def pools() -> dict[str, Mempool]:
    txs, labels = make_txs()
    return {name: build_pool(name, txs, labels)[0] for name in POLICIES}


@pytest.mark.parametrize("name", POLICIES)
def test_select_5000_from_50000(benchmark: Any, pools: dict[str, Mempool], name: str) -> None:
    block = benchmark(pools[name].select, LIMITS, NOW_S)
    assert len(block) == BLOCK_TXS


if __name__ == "__main__":
    main()
