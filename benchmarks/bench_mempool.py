"""Mempool benchmarks: admission throughput and block-candidate selection.

Two ways to run it, from the repository root::

    python benchmarks/bench_mempool.py [--repeats N]   # prints the figures
    pytest benchmarks/bench_mempool.py                 # pytest-benchmark table

The corpus: 50,000 transfers signed by 1,000 wallets (50 each, nonces
0..49, random fees, amounts and payloads of 0-100 bytes), submitted
nonce-major (every sender's nonce 0, then every sender's nonce 1, ...), as a
network would deliver them. It is signed once per process (a few seconds)
and kept as encodings; every timed round decodes fresh Transaction objects
first (untimed), so ids and encodings are computed inside the timed
admission, as they are for txs off the wire.

Figures (each next to a reference measured in the same run, since these
machines are shared and noisy):

- admission of the 50,000 txs, batch signature checks included, in
  batches of 1,000 and in one batch of 50,000, in txs/s; beside it the
  signature checks alone (``verify_transactions`` on the same batches) and
  admission with ``signatures_checked=True`` (the pool's own work);
- ``select`` of a 5,000-tx block from the full 50,000-tx pool, fee and fifo
  policies, in ms; beside it a full sort of the pool by score (what a
  list-based pool does, without even keeping nonce order).

Nothing asserts a speed; the only assertions check that the work was done
(every tx admitted, a full block selected).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# runnable as a script from anywhere: the repository root holds the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.mempool import Mempool, MempoolConfig
from node.scheduling.policy import BlockLimits, FeePolicy, FifoPolicy, Policy
from node.types import Transaction, verify_transactions
from node.wallet import Wallet

CHAIN_ID = "bench-mempool"
SENDERS = 1_000
TXS_PER_SENDER = 50
POOL_TXS = SENDERS * TXS_PER_SENDER
BLOCK = BlockLimits(max_txs=5_000, max_bytes=8 * 2**20)
SEED = 20240601


@dataclass(frozen=True)
class Corpus:
    raws: list[bytes]
    accounts: dict[bytes, tuple[int, int]]


@lru_cache(maxsize=1)
def corpus() -> Corpus:
    """The signed transactions, made once per process."""
    rng = random.Random(SEED)
    wallets = [Wallet.from_seed(rng.randbytes(32)) for _ in range(SENDERS)]
    raws = []
    for nonce in range(TXS_PER_SENDER):
        for i, wallet in enumerate(wallets):
            tx = wallet.transfer(
                to=wallets[(i + 1 + rng.randrange(SENDERS - 1)) % SENDERS].address,
                amount=rng.randint(1, 1_000),
                fee=rng.randint(1, 10_000),
                nonce=nonce,
                chain_id=CHAIN_ID,
                data=rng.randbytes(rng.choice((0, 0, 16, 100))),
            )
            raws.append(tx.encode())
    return Corpus(raws=raws, accounts={w.address: (10**15, 0) for w in wallets})


def fresh_txs() -> list[Transaction]:
    """New objects, cold caches: as decoded off the wire."""
    return [Transaction.decode(raw) for raw in corpus().raws]


def fresh_pool(policy: Policy | None = None) -> Mempool:
    table = corpus().accounts
    return Mempool(
        chain_id=CHAIN_ID,
        accounts=lambda address: table.get(address, (0, 0)),
        policy=policy,
        config=MempoolConfig(max_txs=POOL_TXS),
    )


def admit_all(pool: Mempool, txs: list[Transaction], batch: int, *, checked: bool) -> None:
    for start in range(0, len(txs), batch):
        pool.admit(txs[start : start + batch], now_s=start / 1_000, signatures_checked=checked)
    assert len(pool) == len(txs), pool.stats()["refused"]


def verify_all(txs: list[Transaction], batch: int) -> None:
    for start in range(0, len(txs), batch):
        assert all(verify_transactions(txs[start : start + batch]))


def full_pool(policy: Policy) -> Mempool:
    pool = fresh_pool(policy)
    admit_all(pool, fresh_txs(), 1_000, checked=True)
    return pool


def select_block(pool: Mempool) -> None:
    assert len(pool.select(BLOCK)) == BLOCK.max_txs


def sort_whole_pool(pool: Mempool) -> None:
    scored = [(pool.score_of(tx.id) or 0.0, tx) for tx in pool]
    scored.sort(key=lambda pair: pair[0], reverse=True)
    assert len(scored[: BLOCK.max_txs]) == BLOCK.max_txs


# -- cases: (name, setup -> args, timed call, unit) --------------------------


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[], tuple[object, ...]]
    run: Callable[..., None]
    #: "txs/s" (POOL_TXS / time) or "ms"
    unit: str


def _admission(batch: int, checked: bool) -> Case:
    label = "pool only, signatures_checked=True" if checked else "with signature checks"
    return Case(
        name=f"admit 50k in batches of {batch:,} ({label})",
        setup=lambda: (fresh_pool(), fresh_txs(), batch),
        run=lambda pool, txs, size: admit_all(pool, txs, size, checked=checked),
        unit="txs/s",
    )


CASES = [
    _admission(1_000, checked=False),
    _admission(POOL_TXS, checked=False),
    Case(
        name="reference: verify_transactions alone, batches of 1,000",
        setup=lambda: (fresh_txs(), 1_000),
        run=verify_all,
        unit="txs/s",
    ),
    _admission(1_000, checked=True),
    Case(
        name="select 5,000 of 50,000 (fee policy)",
        setup=lambda: (full_pool(FeePolicy()),),
        run=select_block,
        unit="ms",
    ),
    Case(
        name="select 5,000 of 50,000 (fifo policy)",
        setup=lambda: (full_pool(FifoPolicy()),),
        run=select_block,
        unit="ms",
    ),
    Case(
        name="reference: sort the whole 50,000-tx pool by score",
        setup=lambda: (full_pool(FeePolicy()),),
        run=sort_whole_pool,
        unit="ms",
    ),
]


def figure(case: Case, seconds: float) -> str:
    if case.unit == "txs/s":
        return f"{POOL_TXS / seconds:>12,.0f} txs/s"
    return f"{seconds * 1e3:>12.2f} ms"


def measure(case: Case, repeats: int) -> float:
    """Best wall time of ``repeats`` runs; setup is not timed. Setups that
    build a full pool are reused across repeats (select does not change it)."""
    best = float("inf")
    args = case.setup()
    for i in range(repeats):
        if i and case.unit == "txs/s":
            args = case.setup()
        start = time.perf_counter()
        case.run(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    corpus()
    print(
        f"corpus: {POOL_TXS:,} txs from {SENDERS:,} senders, signed in "
        f"{time.perf_counter() - started:.1f} s; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    times: dict[str, float] = {}
    for case in CASES:
        times[case.name] = measure(case, args.repeats)
        print(f"{case.name:<62} {figure(case, times[case.name])}")
    with_sigs, alone, own = (times[c.name] for c in (CASES[0], CASES[2], CASES[3]))
    fee_select, sort_all = times[CASES[4].name], times[CASES[6].name]
    print()
    print(
        f"admission in batches of 1,000 runs at {alone / with_sigs:.0%} of the speed of "
        "its signature checks alone"
    )
    print(f"share of admission spent in the pool's own work: {own / with_sigs:.0%}")
    print(f"select 5,000 vs sorting the whole pool: {sort_all / fee_select:.1f}x faster")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


# -- pytest-benchmark ----------------------------------------------------------

try:
    import pytest
    from pytest_benchmark.fixture import BenchmarkFixture
except ImportError:  # the script needs neither
    pass
else:

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_mempool(benchmark: BenchmarkFixture, case: Case) -> None:
        benchmark.group = "mempool admission" if case.unit == "txs/s" else "mempool select"
        if case.unit == "txs/s":
            # admission changes the pool: every round starts from a fresh one
            benchmark.pedantic(case.run, setup=lambda: (case.setup(), {}), rounds=3, iterations=1)
        else:
            args = case.setup()
            benchmark.pedantic(case.run, args=args, rounds=20, iterations=1, warmup_rounds=1)
        if benchmark.stats is not None:  # None under --benchmark-disable
            benchmark.extra_info["figure"] = figure(case, benchmark.stats.stats.min).strip()


if __name__ == "__main__":
    sys.exit(main())
