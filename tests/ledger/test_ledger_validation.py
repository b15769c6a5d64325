"""The Ledger: building blocks, catching every tampering, committing, resuming."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from ledgerkit import genesis_dict, make_genesis, random_transfers, transfer, wallets

from node.errors import ConfigError, InvalidBlock, StoreError
from node.genesis import Genesis
from node.ledger import GENESIS_HASH_KEY, Ledger
from node.state import Account
from node.store import Store
from node.types import ZERO_HASH, Block, BlockHeader, Commit, tx_root
from node.wallet import Wallet


@pytest.fixture
def block(ledger: Ledger, funded: list[Wallet]) -> Block:
    """A valid, signed block of 5 transfers on top of genesis."""
    txs = random_transfers(random.Random(7), ledger.state, funded, 5)
    built, refused = ledger.build_block(txs, proposer=funded[1].address, timestamp_ms=10**13)
    assert not refused
    return built.signed(funded[1].seed)


def rebuilt(block: Block, txs: list, **header_changes: object) -> Block:  # type: ignore[type-arg]
    """``block`` with other txs and a header that matches them (tx_root, count)."""
    header = block.header.replace(tx_root=tx_root(txs), tx_count=len(txs), **header_changes)
    return Block(header=header, txs=txs, last_commit=block.last_commit)


def test_a_built_block_validates_and_commits(
    ledger: Ledger, block: Block, funded: list[Wallet]
) -> None:
    diff = ledger.validate_block(block)
    assert diff.tx_count == 5 and diff.fees == sum(tx.fee for tx in block.txs)
    assert ledger.state.root(diff) == block.header.state_root
    ledger.commit_block(block, diff)
    assert ledger.height == 1 and ledger.head == block.header
    assert ledger.block(1) == block and ledger.block_by_hash(block.hash) == block
    assert ledger.tx(block.txs[3].id) == (block.txs[3], 1, 3)
    assert ledger.account(funded[1].address).balance >= 1_000_000 - 5000
    assert ledger.state.root() == block.header.state_root


TAMPERINGS: list[tuple[str, Callable[[Block, Ledger], Block], str]] = [
    (
        "bad tx root",
        lambda b, _: Block(header=b.header.replace(tx_root=b"\x01" * 32), txs=b.txs),
        "bad_tx_root",
    ),
    ("txs reordered", lambda b, _: Block(header=b.header, txs=b.txs[::-1]), "bad_tx_root"),
    (
        "bad state root",
        lambda b, _: Block(header=b.header.replace(state_root=b"\x02" * 32), txs=b.txs),
        "bad_state_root",
    ),
    (
        "wrong prev hash",
        lambda b, _: Block(header=b.header.replace(prev_hash=b"\x03" * 32), txs=b.txs),
        "wrong_prev_hash",
    ),
    (
        "wrong height (2)",
        lambda b, _: Block(header=b.header.replace(height=2), txs=b.txs),
        "wrong_height",
    ),
    (
        "wrong height (0)",
        lambda b, _: Block(header=b.header.replace(height=0), txs=b.txs),
        "wrong_height",
    ),
    (
        "wrong chain id",
        lambda b, _: Block(header=b.header.replace(chain_id="elsewhere"), txs=b.txs),
        "wrong_chain_id",
    ),
    (
        "timestamp before the parent's",
        lambda b, led: Block(
            header=b.header.replace(timestamp_ms=led.head.timestamp_ms - 1), txs=b.txs
        ),
        "timestamp_too_early",
    ),
    (
        "timestamp equal to the parent's (strictly after, as every engine wants)",
        lambda b, led: Block(
            header=b.header.replace(timestamp_ms=led.head.timestamp_ms), txs=b.txs
        ),
        "timestamp_too_early",
    ),
    (
        "commit the header does not name",
        lambda b, _: Block(
            header=b.header,
            txs=b.txs,
            last_commit=Commit(height=0, round=0, block_hash=b"\x04" * 32),
        ),
        "bad_last_commit_hash",
    ),
    (
        "bad signature in one tx",
        lambda b, _: rebuilt(
            b, [*b.txs[:2], b.txs[2].replace(signature=b.txs[1].signature), *b.txs[3:]]
        ),
        "invalid_signature",
    ),
    (
        "a tx amount changed after signing",
        lambda b, led: rebuilt(b, [b.txs[0].replace(amount=b.txs[0].amount + 1), *b.txs[1:]]),
        "bad_state_root",
    ),
    ("a tx dropped", lambda b, _: rebuilt(b, list(b.txs[:-1])), "bad_state_root"),
    ("a tx repeated", lambda b, _: rebuilt(b, [*b.txs, b.txs[0]]), "nonce_too_low"),
    (
        "a tx for another chain",
        lambda b, _: rebuilt(
            b,
            [
                *b.txs,
                transfer(wallets(8)[5], wallets(8)[6], amount=1, nonce=0, chain_id="elsewhere"),
            ],
        ),
        "wrong_chain_id",
    ),
]


@pytest.mark.parametrize(("case", "tamper", "code"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_validate_block_catches_each_tampering(
    ledger: Ledger, block: Block, case: str, tamper: Callable[[Block, Ledger], Block], code: str
) -> None:
    root, height = ledger.state.root(), ledger.height
    bad = tamper(block, ledger)
    with pytest.raises(InvalidBlock) as info:
        ledger.validate_block(bad)
    assert info.value.code == code, info.value
    with pytest.raises(InvalidBlock):
        ledger.commit_block(bad)
    # nothing changed: validation is pure and a refused commit writes nothing
    assert (ledger.state.root(), ledger.height, ledger.store.head_height()) == (root, height, 0)
    ledger.commit_block(block)  # the honest block is still fine


def test_bad_signature_names_the_transaction(ledger: Ledger, block: Block) -> None:
    forged = block.txs[2].replace(signature=block.txs[1].signature)
    bad = rebuilt(block, [*block.txs[:2], forged, *block.txs[3:]])
    with pytest.raises(InvalidBlock, match=f"tx 2 \\({forged.id.hex()}\\)"):
        ledger.validate_block(bad)


def _twin(tmp_path: Path, funded: list[Wallet], **params: int) -> Ledger:
    """A ledger of the same chain (same genesis block) with other limits."""
    return Ledger.open(
        tmp_path / f"twin{sorted(params.items())}.sqlite", make_genesis(funded, params=params)
    )


def test_block_limits_come_from_the_genesis(
    tmp_path: Path, funded: list[Wallet], block: Block
) -> None:
    small = _twin(tmp_path, funded, max_block_txs=4)
    with pytest.raises(InvalidBlock) as info:
        small.validate_block(block)
    assert info.value.code == "too_many_txs"
    size = sum(tx.size for tx in block.txs)
    tight = _twin(tmp_path, funded, max_block_bytes=size - 1)
    with pytest.raises(InvalidBlock) as info:
        tight.validate_block(block)
    assert info.value.code == "too_large"
    exact = _twin(tmp_path, funded, max_block_txs=5, max_block_bytes=size)
    exact.validate_block(block)
    for led in (small, tight, exact):
        led.close()


def test_build_block_respects_limits_and_reports_refusals(
    tmp_path: Path, funded: list[Wallet]
) -> None:
    led = _twin(tmp_path, funded, max_block_txs=3)
    txs = random_transfers(random.Random(8), led.state, funded, 6)
    block, refused = led.build_block(txs, proposer=funded[0].address, timestamp_ms=0)
    assert block.txs == tuple(txs[:3]) and refused == []
    block, _ = led.build_block(txs, proposer=funded[0].address, timestamp_ms=0, max_txs=2)
    assert len(block.txs) == 2
    block, _ = led.build_block(txs, proposer=funded[0].address, timestamp_ms=0, max_txs=50)
    assert len(block.txs) == 3  # never beyond the genesis limit
    stale = transfer(funded[2], funded[3], amount=1, nonce=7)
    block, refused = led.build_block([stale, *txs[:1]], proposer=funded[0].address, timestamp_ms=0)
    assert block.txs == (txs[0],) and [(t, e.code) for t, e in refused] == [(stale, "nonce_gap")]
    led.close()


def test_build_block_fills_in_the_header(ledger: Ledger, funded: list[Wallet]) -> None:
    prev = Commit(height=0, round=0, block_hash=ledger.head.hash)
    block, _ = ledger.build_block(
        [],
        proposer=funded[2].address,
        timestamp_ms=5,  # before the genesis timestamp: raised to just after it
        policy="fee",
        model_hash=b"\x09" * 32,
        last_commit=prev,
        pow_target=b"\x00\xff" + b"\xff" * 30,
    )
    h = block.header
    assert (h.height, h.prev_hash, h.proposer) == (1, ledger.head.hash, funded[2].address)
    assert h.timestamp_ms == ledger.head.timestamp_ms + 1
    assert (h.policy, h.model_hash, h.pow_target, h.pow_nonce) == (
        "fee",
        b"\x09" * 32,
        b"\x00\xff" + b"\xff" * 30,
        0,
    )
    assert block.last_commit == prev and h.last_commit_hash == prev.hash
    assert block.signature == bytes(64)  # unsigned: the caller signs or mines
    ledger.validate_block(block)


def test_build_block_can_check_signatures(ledger: Ledger, funded: list[Wallet]) -> None:
    good = transfer(funded[1], funded[2], amount=5, nonce=0)
    forged = transfer(funded[3], funded[2], amount=5, nonce=0).replace(signature=good.signature)
    block, refused = ledger.build_block(
        [forged, good], proposer=funded[0].address, timestamp_ms=0, check_signatures=True
    )
    assert block.txs == (good,) and [(t, e.code) for t, e in refused] == [
        (forged, "invalid_signature")
    ]


def test_commit_with_a_stale_diff_is_refused(
    ledger: Ledger, block: Block, funded: list[Wallet]
) -> None:
    diff = ledger.validate_block(block)
    ledger.commit_block(block, diff)
    with pytest.raises(InvalidBlock):
        ledger.commit_block(block, diff)
    assert ledger.height == 1


def test_open_refuses_a_store_of_another_genesis(tmp_path: Path, funded: list[Wallet]) -> None:
    path = tmp_path / "c.sqlite"
    Ledger.open(path, make_genesis(funded)).close()
    other = Genesis.from_dict(genesis_dict(funded, balance=5))
    with pytest.raises(ConfigError) as info:
        Ledger.open(path, other)
    assert info.value.code == "genesis_mismatch"


def test_open_detects_accounts_that_disagree_with_the_head(
    tmp_path: Path, funded: list[Wallet], genesis: Genesis
) -> None:
    path = tmp_path / "c.sqlite"
    Ledger.open(path, genesis).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE accounts SET value = ? WHERE address = ?",
        (b"\x00" * 7 + b"\x01" + b"\x00" * 8, funded[0].address),
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        Ledger.open(path, genesis)
    assert info.value.code == "store_corrupt"


def test_open_completes_an_interrupted_initialisation(tmp_path: Path, genesis: Genesis) -> None:
    path = tmp_path / "c.sqlite"
    with Store.open(path) as store:  # as if killed right after the first write
        store.save_meta(GENESIS_HASH_KEY, genesis.hash)
    with Ledger.open(path, genesis) as led:
        assert led.height == 0 and led.head == genesis.block().header


def test_in_memory_ledger(genesis: Genesis, funded: list[Wallet]) -> None:
    with Ledger.open(":memory:", genesis) as led:
        tx = transfer(funded[1], funded[2], amount=10, fee=3, nonce=0)
        block, _ = led.build_block([tx], proposer=funded[0].address, timestamp_ms=0)
        led.commit_block(block)
        assert led.account(funded[2].address) == Account(1_000_010, 0)
        assert led.account(funded[0].address) == Account(1_000_003, 0)
        assert led.header(1) == block.header and led.commit(1) is None
        assert led.chain_id == genesis.chain_id and led.head.hash != ZERO_HASH
        assert isinstance(led.head, BlockHeader)
