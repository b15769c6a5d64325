"""Ledger benchmarks: applying and storing a 5,000-tx block; the state root.

    pytest benchmarks/bench_ledger.py          # pytest-benchmark tables
    python benchmarks/bench_ledger.py          # one line of figures per case

Cases:
- ``block-5000``: ``Ledger.validate_block`` (limits, tx root, batch
  signature check of all 5,000 txs in one Rust call, execution, state root)
  then ``Ledger.commit_block`` (one SQLite transaction in a temp file, WAL,
  synchronous=NORMAL) of a block of 5,000 signed transfers from 1,000
  senders to 5,000 fresh recipients, on a state of ~1,000 accounts;
- ``state-root-N`` for N = 10,000 and 100,000 accounts: a full root from
  scratch (sort, pack, one Rust Merkle call), the root after a diff of
  10,000 changed accounts (the incremental path ``validate_block`` uses),
  and, as the reference measured in the same run, the same root computed in
  pure Python with hashlib.

Nothing asserts a speed: figures depend on the (shared) machine, noted in
the script's output.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node.genesis import Genesis
from node.ledger import Ledger
from node.state import Account, State, StateDiff, state_leaf
from node.types import Block, verify_transactions
from node.wallet import Wallet

BLOCK_TXS = 5000
SENDERS = 1000
CHAIN = "bench"


# -- the 5,000-tx block ----------------------------------------------------------


class BlockCase:
    """A genesis, and a signed block of BLOCK_TXS transfers on top of it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        rnd = random.Random(1)
        senders = [Wallet.from_seed(i.to_bytes(32, "big")) for i in range(1, SENDERS + 1)]
        self.genesis = Genesis.from_dict(
            {
                "chain_id": CHAIN,
                "consensus": "poa",
                "balances": {w.address_hex: 10**12 for w in senders},
                "validators": [{"public_key": senders[0].address_hex}],
                "params": {"max_block_txs": BLOCK_TXS, "max_block_bytes": 4_000_000},
            }
        )
        per_sender = BLOCK_TXS // SENDERS
        txs = [
            w.transfer(
                to=rnd.randbytes(32),
                amount=rnd.randint(1, 10**6),
                fee=rnd.randint(0, 100),
                nonce=n,
                chain_id=CHAIN,
            )
            for n in range(per_sender)
            for w in senders
        ]
        with Ledger.open(":memory:", self.genesis) as ledger:
            block, refused = ledger.build_block(txs, proposer=senders[0].address, timestamp_ms=1)
        assert not refused and len(block.txs) == BLOCK_TXS
        self.block: Block = block.signed(senders[0].seed)
        # decoded from bytes, as a block from a peer is: no cached ids or encodings
        self.raw = self.block.encode()
        self.runs = 0

    def fresh(self) -> tuple[Ledger, Block]:
        self.runs += 1
        ledger = Ledger.open(self.tmp / f"chain-{self.runs}.sqlite", self.genesis)
        return ledger, Block.decode(self.raw)

    @staticmethod
    def apply(ledger: Ledger, block: Block) -> None:
        ledger.commit_block(block, ledger.validate_block(block))


def timed_parts(case: BlockCase) -> dict[str, float]:
    """One validate + commit, split into its parts (ms)."""
    ledger, block = case.fresh()
    out = {}
    t0 = time.perf_counter()
    diff = ledger.validate_block(block)
    t1 = time.perf_counter()
    ledger.commit_block(block, diff)
    t2 = time.perf_counter()
    out["validate_ms"] = (t1 - t0) * 1e3
    out["commit_ms"] = (t2 - t1) * 1e3
    # the parts of validate, on a second fresh copy
    ledger2, block2 = case.fresh()
    t0 = time.perf_counter()
    verify_transactions(block2.txs)
    t1 = time.perf_counter()
    diff2 = ledger2.state.execute(block2.txs, block2.header.proposer)
    t2 = time.perf_counter()
    ledger2.state.root(diff2)
    t3 = time.perf_counter()
    out["signatures_ms"] = (t1 - t0) * 1e3
    out["execute_ms"] = (t2 - t1) * 1e3
    out["state_root_ms"] = (t3 - t2) * 1e3
    ledger.close()
    ledger2.close()
    return out


# -- state roots -------------------------------------------------------------------


def accounts(n: int, seed: int = 2) -> dict[bytes, Account]:
    rnd = random.Random(seed)
    return {
        rnd.randbytes(32): Account(rnd.randint(1, 10**12), rnd.randint(0, 1000)) for _ in range(n)
    }


def change_some(base: dict[bytes, Account], count: int) -> StateDiff:
    """A diff like a busy block's: half existing accounts changed, half new."""
    rnd = random.Random(3)
    keys = rnd.sample(sorted(base), count // 2)
    changed = {k: Account(base[k].balance - 1, base[k].nonce + 1) for k in keys}
    changed.update({rnd.randbytes(32): Account(5, 0) for _ in range(count - len(keys))})
    return StateDiff(changed)


def reference_root(accts: dict[bytes, Account]) -> bytes:
    """The state root in pure Python (hashlib), as the docs define it."""
    level = [hashlib.sha256(b"\x00" + state_leaf(a, v)).digest() for a, v in sorted(accts.items())]
    if not level:
        return hashlib.sha256(b"").digest()

    def subtree(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return level[lo]
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        return hashlib.sha256(b"\x01" + subtree(lo, lo + k) + subtree(lo + k, hi)).digest()

    return subtree(0, len(level))


def root_from_scratch(accts: dict[bytes, Account]) -> bytes:
    return State(CHAIN, accts).root()


# -- pytest-benchmark -------------------------------------------------------------


@pytest.fixture(scope="module")
def block_case(tmp_path_factory: pytest.TempPathFactory) -> BlockCase:
    return BlockCase(tmp_path_factory.mktemp("bench-ledger"))


def test_validate_and_commit_5000_tx_block(benchmark: Any, block_case: BlockCase) -> None:
    benchmark.group = "block-5000"
    benchmark.pedantic(
        block_case.apply, setup=lambda: (block_case.fresh(), {}), rounds=5, iterations=1
    )


@pytest.mark.parametrize("n", [10_000, 100_000])
@pytest.mark.parametrize("path", ["scratch", "incremental", "reference"])
def test_state_root(benchmark: Any, n: int, path: str) -> None:
    benchmark.group = f"state-root-{n}"
    accts = accounts(n)
    if path == "scratch":
        benchmark.pedantic(root_from_scratch, args=(accts,), rounds=5, iterations=1)
    elif path == "incremental":
        state = State(CHAIN, accts)
        diff = change_some(accts, 10_000)
        # a new diff object each round: State remembers the root of the last one
        benchmark.pedantic(
            state.root, setup=lambda: ((StateDiff(dict(diff.accounts)),), {}), rounds=5
        )
    else:
        benchmark.pedantic(reference_root, args=(accts,), rounds=2, iterations=1)


# -- script --------------------------------------------------------------------------


def best_ms(fn: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> float:
    best = float("inf")
    for _ in range(repeats):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        fn(*arg) if arg is not None else fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        case = BlockCase(Path(tmp))
        total = best_ms(lambda *a: case.apply(*a), 5, case.fresh)
        parts = timed_parts(case)
    print(
        f"block-5000: validate+commit {total:.1f} ms best of 5 "
        f"({BLOCK_TXS / total * 1e3:,.0f} tx/s); one run: validate {parts['validate_ms']:.1f} ms "
        f"(signatures {parts['signatures_ms']:.1f}, execute {parts['execute_ms']:.1f}, "
        f"state root {parts['state_root_ms']:.1f}), commit {parts['commit_ms']:.1f} ms"
    )
    for n in (10_000, 100_000):
        accts = accounts(n)
        state = State(CHAIN, accts)
        diff = change_some(accts, 10_000)
        scratch = best_ms(lambda a=accts: root_from_scratch(a), 3)
        incremental = best_ms(state.root, 3, lambda d=diff: (StateDiff(dict(d.accounts)),))
        reference = best_ms(lambda a=accts: reference_root(a), 1)
        assert reference_root(accts) == state.root()
        print(
            f"state-root-{n}: from scratch {scratch:.1f} ms, after a 10,000-account diff "
            f"{incremental:.1f} ms, pure-Python reference {reference:.1f} ms "
            f"(x{reference / scratch:.1f} / x{reference / incremental:.1f})"
        )


if __name__ == "__main__":
    main()
