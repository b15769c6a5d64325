"""Undo history is kept only as deep as a reorg can reach.

BFT and PoA blocks are final: their chains keep no undo rows at all. A PoW
chain keeps the rows of the last ``pow_reorg_depth`` blocks; older ones are
deleted in the transaction that saves each block, and ``revert_to`` below
that floor is refused with ``reorg_too_deep``. Before this, every block
left one undo row per account it touched, forever (8 M rows a day at 50
tx/s).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from ledgerkit import grow

from node.errors import StoreError
from node.genesis import Genesis
from node.ledger import DEFAULT_POW_REORG_DEPTH, Ledger
from node.wallet import Wallet


def undo_heights(ledger: Ledger) -> list[int]:
    rows = ledger.store._conn.execute("SELECT DISTINCT height FROM undo ORDER BY height")
    return [h for (h,) in rows]


def test_a_final_chain_keeps_no_undo_history(ledger: Ledger, funded: list[Wallet]) -> None:
    rnd = random.Random(1)
    for _ in range(30):
        grow(ledger, rnd, funded)
    assert undo_heights(ledger) == []
    assert ledger.revert_floor == ledger.height == 30
    with pytest.raises(StoreError) as refused:
        ledger.revert_to(29)
    assert refused.value.code == "reorg_too_deep"
    assert ledger.height == 30


def test_a_pow_chain_keeps_undo_history_as_deep_as_a_reorg_may_reach(
    tmp_path: Path, pow_genesis: Genesis, funded: list[Wallet]
) -> None:
    rnd = random.Random(2)
    with Ledger.open(tmp_path / "chain.db", pow_genesis, pow_reorg_depth=5) as led:
        states = {0: dict(led.state.accounts)}
        for _ in range(20):
            block = grow(led, rnd, funded, max_txs=6)
            states[block.height] = dict(led.state.accounts)
        assert led.revert_floor == 15
        assert set(undo_heights(led)) <= set(range(16, 21))
        with pytest.raises(StoreError) as refused:
            led.revert_to(14)
        assert refused.value.code == "reorg_too_deep"
        assert "undo history is kept down to height 15" in refused.value.message
        assert led.height == 20
        led.revert_to(15)
        assert dict(led.state.accounts) == states[15] == led.store.load_accounts()
        # the floor stays where the deepest kept history is until the chain
        # grows past it again
        for _ in range(3):
            grow(led, rnd, funded)
        assert led.revert_floor == 15
        for _ in range(3):
            grow(led, rnd, funded)
        assert led.height == 21 and led.revert_floor == 16
        assert set(undo_heights(led)) <= set(range(17, 22))


def test_the_default_pow_depth_and_a_store_written_before_pruning(
    tmp_path: Path, pow_genesis: Genesis, funded: list[Wallet]
) -> None:
    assert DEFAULT_POW_REORG_DEPTH == 100
    rnd = random.Random(3)
    path = tmp_path / "chain.db"
    with Ledger.open(path, pow_genesis, pow_reorg_depth=1000) as led:
        for _ in range(12):
            grow(led, rnd, funded, max_txs=6)
        assert led.revert_floor == 0 and len(undo_heights(led)) >= 10
        # as an old store: no floor recorded, undo rows for every block
        led.store._conn.execute("DELETE FROM meta WHERE key = 'revert_floor'")
    with Ledger.open(path, pow_genesis, pow_reorg_depth=4) as led:
        assert led.revert_floor == 0
        grow(led, rnd, funded)
        assert led.revert_floor == 9
        assert set(undo_heights(led)) <= set(range(10, 14))
