"""The SQLite store: what goes in comes out, survives a reopen, and reverts exactly."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledgerkit import grow, make_genesis, wallets

from node.errors import StoreError
from node.genesis import Genesis
from node.ledger import Ledger
from node.state import EMPTY_ACCOUNT, Account, StateDiff
from node.store import SCHEMA_VERSION, Store
from node.types import PRECOMMIT, Block, Commit, Vote
from node.wallet import Wallet


def certificate(block: Block, signers: list[Wallet], chain_id: str, round_: int = 0) -> Commit:
    votes = [
        Vote(
            kind=PRECOMMIT,
            height=block.height,
            round=round_,
            block_hash=block.hash,
            validator=w.address,
        ).signed(chain_id, w.seed)
        for w in signers
    ]
    return Commit(
        height=block.height,
        round=round_,
        block_hash=block.hash,
        signatures=[(v.validator, v.signature) for v in votes],
    )


def test_blocks_txs_accounts_and_commits_round_trip(
    ledger: Ledger, funded: list[Wallet], genesis: Genesis
) -> None:
    rnd = random.Random(1)
    blocks = [genesis.block()] + [grow(ledger, rnd, funded) for _ in range(4)]
    store = ledger.store
    assert store.head_height() == 4 and store.head() == blocks[-1].header
    for block in blocks:
        assert store.load_block(block.height) == block
        assert store.load_block_by_hash(block.hash) == block
        assert store.load_header(block.height) == block.header
        for index, tx in enumerate(block.txs):
            assert store.load_tx(tx.id) == (tx, block.height, index)
            assert store.load_tx_location(tx.id) == (block.height, index)
    assert store.load_blocks(1, 3) == blocks[1:4]
    assert store.load_blocks(3, 99) == blocks[3:]
    assert store.load_blocks(3, 2) == []
    assert store.load_block(5) is None and store.load_block(-1) is None
    assert store.load_block_by_hash(b"\x00" * 32) is None
    assert store.load_tx(b"\x11" * 32) is None
    assert store.load_accounts() == dict(ledger.state.accounts)
    for w in funded:
        assert store.load_account(w.address) == ledger.state.account(w.address)
    assert store.load_account(b"\x42" * 32) == EMPTY_ACCOUNT
    # commits: none until attached, then replaceable
    assert store.load_commit(4) is None
    first = certificate(blocks[4], funded[:2], genesis.chain_id)
    store.save_commit(4, first)
    assert store.load_commit(4) == first
    second = certificate(blocks[4], funded[:3], genesis.chain_id, round_=1)
    store.save_commit(4, second)
    assert store.load_commit(4) == second


def test_a_block_can_be_saved_with_its_certificate(
    tmp_path: Path, ledger: Ledger, funded: list[Wallet], genesis: Genesis
) -> None:
    block, _ = ledger.build_block([], proposer=funded[0].address, timestamp_ms=0)
    commit = certificate(block, funded[:1], genesis.chain_id)
    ledger.commit_block(block, commit=commit)
    assert ledger.commit(1) == commit
    wrong = certificate(ledger.block(0), funded[:1], genesis.chain_id)  # type: ignore[arg-type]
    with pytest.raises(StoreError) as info:
        ledger.store.save_commit(1, wrong)
    assert info.value.code == "commit_mismatch"
    with pytest.raises(StoreError, match="no block"):
        ledger.store.save_commit(7, commit)


def test_save_block_refuses_what_does_not_extend_the_head(
    ledger: Ledger, funded: list[Wallet]
) -> None:
    block, _ = ledger.build_block([], proposer=funded[0].address, timestamp_ms=0)
    store = ledger.store
    for bad in (
        block.header.replace(height=2),
        block.header.replace(prev_hash=b"\x01" * 32),
        block.header.replace(height=0),
    ):
        with pytest.raises(StoreError) as info:
            store.save_block(Block(header=bad), StateDiff())
        assert info.value.code == "not_next"
    assert store.head_height() == 0
    empty = Store.open(":memory:")
    with pytest.raises(StoreError, match="height 0"):
        empty.save_block(block, StateDiff())
    empty.close()


def test_a_refused_block_writes_nothing(ledger: Ledger, funded: list[Wallet]) -> None:
    rnd = random.Random(2)
    first = grow(ledger, rnd, funded)
    while not first.txs:
        first = grow(ledger, rnd, funded)
    accounts = ledger.store.load_accounts()
    height = ledger.height
    # a block that repeats a committed tx id: the tx index refuses it mid-write
    header = first.header.replace(height=height + 1, prev_hash=ledger.head.hash)
    again = Block(header=header, txs=first.txs)
    diff = StateDiff({funded[0].address: Account(1, 1)})
    with pytest.raises(StoreError) as info:
        ledger.store.save_block(again, diff)
    assert info.value.code == "duplicate_tx"
    assert ledger.store.head_height() == height
    assert ledger.store.load_accounts() == accounts
    assert ledger.store.load_block(height + 1) is None


def test_everything_survives_a_reopen(
    tmp_path: Path, funded: list[Wallet], genesis: Genesis
) -> None:
    path = tmp_path / "chain.sqlite"
    rnd = random.Random(3)
    with Ledger.open(path, genesis) as led:
        blocks = [grow(led, rnd, funded) for _ in range(3)]
        root, accounts = led.state.root(), dict(led.state.accounts)
        led.store.save_meta("peer-score", b"\x01\x02")
        led.store.save_signing_state(3, 1, 2, b"locked")
    with Ledger.open(path, genesis) as led:
        assert led.height == 3 and led.head == blocks[-1].header
        assert led.state.root() == root and dict(led.state.accounts) == accounts
        assert led.store.load_meta("peer-score") == b"\x01\x02"
        assert led.store.load_meta("absent") is None
        assert led.store.load_signing_state() == (3, 1, 2, b"locked")
        grow(led, rnd, funded)  # and it goes on from there
        assert led.height == 4


def test_signing_state_is_replaced_and_persisted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store.open(path) as store:
        assert store.load_signing_state() is None
        store.save_signing_state(5, 0, 1)
        store.save_signing_state(5, 2, 3, b"x")
        assert store.load_signing_state() == (5, 2, 3, b"x")
        with pytest.raises(StoreError):
            store.save_signing_state(-1, 0, 0)
    # read back by a different connection, straight from the file
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT height, round, step FROM signing_state").fetchall() == [(5, 2, 3)]
    conn.close()
    with Store.open(path) as store:
        assert store.load_signing_state() == (5, 2, 3, b"x")


def test_file_store_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert info.value.code == "store_version"


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"\x00" * 4096])
def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError):
        Store.open(path)


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StoreError, match="not an Ordinet store"):
        Store.open(path)


def test_revert_to_restores_accounts_and_tx_index(pow_ledger: Ledger, funded: list[Wallet]) -> None:
    ledger = pow_ledger
    rnd = random.Random(4)
    snapshots = [dict(ledger.state.accounts)]
    blocks = []
    for _ in range(5):
        blocks.append(grow(ledger, rnd, funded))
        snapshots.append(dict(ledger.state.accounts))
    reverted = ledger.revert_to(2)
    assert reverted == blocks[:1:-1]
    assert ledger.height == 2 and ledger.head == blocks[1].header
    assert ledger.store.load_accounts() == snapshots[2] == dict(ledger.state.accounts)
    for block in blocks[2:]:
        assert ledger.block(block.height) is None
        assert all(ledger.tx(tx.id) is None for tx in block.txs)
    # the reverted blocks are valid again on the restored head
    for block in reverted[::-1]:
        ledger.commit_block(block)
    assert ledger.store.load_accounts() == snapshots[5]
    with pytest.raises(StoreError) as info:
        ledger.revert_to(6)
    assert info.value.code == "bad_revert"
    with pytest.raises(StoreError):
        ledger.revert_to(-1)
    assert ledger.revert_to(5) == []


def test_revert_to_genesis(pow_ledger: Ledger, funded: list[Wallet], pow_genesis: Genesis) -> None:
    ledger, genesis = pow_ledger, pow_genesis
    rnd = random.Random(5)
    for _ in range(3):
        grow(ledger, rnd, funded)
    ledger.revert_to(0)
    assert ledger.state.root() == genesis.block().header.state_root
    assert ledger.store.load_accounts() == dict(genesis.state().accounts)


GENESIS = make_genesis(wallets(6), consensus="pow")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 7), data=st.data())
def test_revert_equals_a_state_rebuilt_from_scratch(
    seed: int, length: int, data: st.DataObject
) -> None:
    rnd = random.Random(seed)
    funded = wallets(6)
    with Ledger.open(":memory:", GENESIS) as led:
        blocks = [grow(led, rnd, funded) for _ in range(length)]
        target = data.draw(st.integers(0, length), label="revert to")
        reverted = led.revert_to(target)
        assert [b.height for b in reverted] == list(range(length, target, -1))
        # replay the surviving blocks on the genesis state, store not involved
        state = GENESIS.state()
        for block in blocks[:target]:
            state.apply(state.execute(block.txs, block.header.proposer))
        assert led.store.load_accounts() == dict(state.accounts) == dict(led.state.accounts)
        assert led.state.root() == state.root() == led.head.state_root
        for block in blocks:
            for index, tx in enumerate(block.txs):
                found = led.tx(tx.id)
                assert found == ((tx, block.height, index) if block.height <= target else None)
