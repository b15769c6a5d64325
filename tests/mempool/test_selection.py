"""Block candidates: nonce order per sender, only pending txs, the block's
limits, the fifo and fee orderings exactly as the policies claim, earliest
first on ties, and a policy's own ordering checked before it is used."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mempool_support import WALLETS, Accounts, make_pool, transfer

from node.scheduling.policy import BlockLimits, FeePolicy, FifoPolicy, Policy, TxColumns
from node.types import Transaction

A, B, C, D = WALLETS[:4]
ROOMY = BlockLimits(max_txs=1000, max_bytes=10**6)


def nonces(txs: list[Transaction]) -> list[tuple[bytes, int]]:
    return [(tx.sender, tx.nonce) for tx in txs]


def test_select_keeps_each_senders_nonce_order(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    # A's later nonces pay more, but cannot jump ahead of nonce 0
    a = [transfer(A, n, fee=10 + 1000 * n) for n in range(4)]
    b0 = transfer(B, 0, fee=500)
    pool.admit([a[3], a[1], b0, a[0], a[2]], 0.0)
    assert pool.select(ROOMY, 0.0) == [b0, *a]


def test_select_takes_only_pending_txs(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    pool.admit([transfer(A, 0), transfer(A, 2), transfer(B, 1)], 0.0)
    assert nonces(pool.select(ROOMY, 0.0)) == [(A.address, 0)]


def test_select_stops_at_the_tx_limit(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    pool.admit([transfer(A, n, fee=100 - n) for n in range(10)], 0.0)
    assert [tx.nonce for tx in pool.select(BlockLimits(max_txs=4, max_bytes=10**6), 0.0)] == [
        0,
        1,
        2,
        3,
    ]
    assert pool.select(BlockLimits(max_txs=0, max_bytes=10**6), 0.0) == []


def test_a_tx_too_big_for_the_bytes_left_is_skipped_with_its_senders_rest(
    accounts: Accounts,
) -> None:
    pool = make_pool(accounts)
    one = transfer(A, 0).size
    big_b0 = transfer(B, 0, fee=10**6, data=bytes(300))
    b1 = transfer(B, 1, fee=10**6)
    a = [transfer(A, n, fee=100) for n in range(3)]
    pool.admit([big_b0, b1, *a], 0.0)
    block = pool.select(BlockLimits(max_txs=10, max_bytes=2 * one + 1), 0.0)
    # B's head does not fit: B is done; A fills what is left
    assert block == a[:2]
    assert sum(tx.size for tx in block) <= 2 * one + 1


def test_select_does_not_remove_anything(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    pool.admit([transfer(A, n) for n in range(3)], 0.0)
    assert pool.select(ROOMY, 0.0) == pool.select(ROOMY, 0.0) and len(pool) == 3


def test_fee_policy_takes_the_highest_fee_rate_first(accounts: Accounts) -> None:
    pool = make_pool(accounts, policy=FeePolicy())
    big_fee_big_tx = transfer(A, 0, fee=300, data=bytes(600))  # ~0.38 per byte
    small = transfer(B, 0, fee=200)  # ~1.3 per byte
    cheap = transfer(C, 0, fee=10)
    pool.admit([cheap, big_fee_big_tx, small], 0.0)
    assert pool.select(ROOMY, 0.0) == [small, big_fee_big_tx, cheap]
    scores = [score for _, score in pool.ordered(3, 0.0)]
    assert scores == [small.fee_rate, big_fee_big_tx.fee_rate, cheap.fee_rate]


def test_fifo_policy_takes_arrival_order_whatever_the_fee(accounts: Accounts) -> None:
    pool = make_pool(accounts, policy=FifoPolicy())
    first, second, third = transfer(C, 0, fee=1), transfer(A, 0, fee=1000), transfer(B, 0, fee=5)
    pool.admit([first], 1.0)
    pool.admit([second], 2.0)
    pool.admit([third], 3.0)
    assert pool.select(ROOMY, 0.0) == [first, second, third]
    assert [score for _, score in pool.ordered(3, 0.0)] == [-1.0, -2.0, -3.0]


def test_ties_go_to_the_tx_admitted_first(accounts: Accounts) -> None:
    for policy in (FifoPolicy(), FeePolicy()):
        pool = make_pool(accounts, policy=policy)
        same = [transfer(w, 0, fee=100) for w in (D, B, A, C)]
        pool.admit(same[:2], 5.0)  # one batch, one arrival time: batch order
        pool.admit(same[2:], 5.0)
        assert pool.select(ROOMY, 0.0) == same, policy.name


def test_ordered_is_select_without_the_byte_limit(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    pool.admit([transfer(A, n, fee=50 + n) for n in range(3)] + [transfer(B, 0, fee=51)], 0.0)
    shown = pool.ordered(3, 0.0)
    assert [tx for tx, _ in shown] == pool.select(BlockLimits(max_txs=3, max_bytes=10**6), 0.0)
    assert [score for _, score in shown] == [pool.score_of(tx.id) for tx, _ in shown]
    assert pool.ordered(0, 0.0) == []


class CheapestFirst(Policy):
    """A policy with its own selection: lowest fee first, in nonce order."""

    name = "cheapest-first"

    def score(self, txs: TxColumns) -> np.ndarray:
        return np.asarray(txs.fee, dtype=np.float64)

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int]:
        rows = sorted(range(len(pending)), key=lambda i: (int(pending.nonce_gap[i]), scores[i]))
        return rows[: limits.max_txs]


def test_a_policy_may_choose_the_block_itself(accounts: Accounts) -> None:
    pool = make_pool(accounts, policy=CheapestFirst())
    a0, a1, b0 = transfer(A, 0, fee=300), transfer(A, 1, fee=1), transfer(B, 0, fee=200)
    pool.admit([a0, a1, b0], 0.0)
    assert pool.select(ROOMY, 0.0) == [b0, a0, a1]
    assert [tx for tx, _ in pool.ordered(2, 0.0)] == [b0, a0]


class Reckless(Policy):
    """Returns whatever rows it was built with, to probe the pool's checks."""

    name = "reckless"

    def __init__(self, picks: list[int]) -> None:
        self.picks = picks

    def score(self, txs: TxColumns) -> np.ndarray:
        return np.zeros(len(txs))

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int]:
        return self.picks


@pytest.mark.parametrize(
    ("picks", "complaint"),
    [
        ([1, 0], "nonce order"),  # A's nonce 1 before its nonce 0
        ([0, 0], "twice"),
        ([7], "row index"),
        ([0, 1, 2], "holds 2"),
    ],
)
def test_a_policys_order_that_breaks_the_rules_is_refused_by_name(
    accounts: Accounts, picks: list[int], complaint: str
) -> None:
    pool = make_pool(accounts, policy=Reckless(picks))
    pool.admit([transfer(A, 0), transfer(A, 1), transfer(B, 0)], 0.0)
    with pytest.raises(ValueError, match=rf"reckless.*{complaint}"):
        pool.select(BlockLimits(max_txs=2, max_bytes=10**6), 0.0)


def test_a_policys_order_over_the_byte_limit_is_refused(accounts: Accounts) -> None:
    pool = make_pool(accounts, policy=Reckless([0, 1]))
    pool.admit([transfer(A, 0), transfer(A, 1)], 0.0)
    with pytest.raises(ValueError, match="bytes"):
        pool.select(BlockLimits(max_txs=2, max_bytes=transfer(A, 0).size), 0.0)


# -- the heap walk against a readable reference -------------------------


def reference_select(pooled: list[Transaction], limits: BlockLimits) -> list[Transaction]:
    """The fee policy's rule, spelled out over ``pooled`` (in admission
    order, all from senders at nonce 0): a sender's executable txs run
    contiguously from nonce 0; repeatedly take the executable next tx of
    highest fee rate (earliest admitted on ties) that fits; a sender whose
    next tx does not fit is done."""
    rank = {tx.id: (-tx.fee / tx.size, i) for i, tx in enumerate(pooled)}
    chains: dict[bytes, list[Transaction]] = {}
    for tx in sorted(pooled, key=lambda tx: tx.nonce):
        chain = chains.setdefault(tx.sender, [])
        if tx.nonce == len(chain):
            chain.append(tx)
    block: list[Transaction] = []
    room = limits.max_bytes
    while len(block) < limits.max_txs:
        heads = [chain[0] for chain in chains.values() if chain]
        if not heads:
            break
        best = min(heads, key=lambda tx: rank[tx.id])
        if best.size > room:
            del chains[best.sender]
            continue
        block.append(best)
        room -= best.size
        chains[best.sender].pop(0)
    return block


SPECS = st.lists(
    st.tuples(
        st.integers(0, 3),  # wallet
        st.integers(0, 5),  # nonce
        st.integers(0, 50),  # fee
        st.integers(0, 120),  # data bytes
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(specs=SPECS, max_txs=st.integers(0, 30), max_bytes=st.integers(0, 4000))
def test_select_matches_the_reference_walk(
    specs: list[tuple[int, int, int, int]], max_txs: int, max_bytes: int
) -> None:
    pool = make_pool(Accounts(), policy=FeePolicy())
    txs = [transfer(WALLETS[w], n, fee=f, data=bytes(d)) for w, n, f, d in specs]
    pool.admit(txs, 0.0, signatures_checked=True)
    pooled = [tx for tx in dict.fromkeys(txs) if tx.id in pool]  # first copies only
    limits = BlockLimits(max_txs=max_txs, max_bytes=max_bytes)
    assert pool.select(limits, 0.0) == reference_select(pooled, limits)
