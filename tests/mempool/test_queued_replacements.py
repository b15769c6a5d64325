"""Replacement storms: a tx queued behind a nonce gap never commits while the
gap is open, so replacing it costs its sender nothing, yet every accepted
replacement is relayed to every peer. Each sender gets a small budget of
queued replacements between two moves of its committed nonce; replacing
a pending tx stays unlimited (its last bid is paid when it commits)."""

from __future__ import annotations

from mempool_support import WALLETS, Accounts, codes, make_pool, transfer

from node.mempool import Refusal

A, B = WALLETS[:2]


def _bids(start: int, count: int) -> list[int]:
    """Fees that each outbid the one before by the default 10%."""
    fees = [start]
    for _ in range(count - 1):
        fees.append(fees[-1] * 11 // 10 + 1)
    return fees


def test_a_storm_of_queued_replacements_is_refused_after_the_budget(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_queued_replacements=4)
    fees = _bids(100, 200)
    pool.admit([transfer(A, 5, fee=fees[0])], 0.0)  # nonces 0..4 missing: queued
    results = [pool.admit([transfer(A, 5, fee=fee)], 1.0)[0] for fee in fees[1:]]
    assert [r.accepted for r in results[:4]] == [True] * 4
    assert codes(results[4:]) == [Refusal.QUEUED_REPLACEMENT_LIMIT] * 195
    assert "waits behind a nonce gap" in str(results[4].message)
    # the last accepted bid stays; nothing else of the storm is pooled or was relayed
    assert [tx.fee for tx in pool] == [fees[4]]
    stats = pool.stats()
    assert stats["replaced"] == 4 and stats["refused"] == {"queued_replacement_limit": 195}


def test_the_budget_is_the_senders_not_each_nonces(accounts: Accounts) -> None:
    """Spreading the storm over the 64 queued slots does not multiply it."""
    pool = make_pool(accounts, max_queued_replacements=4)
    pool.admit([transfer(A, n, fee=100) for n in range(1, 33)], 0.0)
    results = pool.admit([transfer(A, n, fee=200) for n in range(1, 33)], 1.0)
    assert [r.accepted for r in results] == [True] * 4 + [False] * 28
    assert set(codes(results[4:])) == {Refusal.QUEUED_REPLACEMENT_LIMIT}
    # another sender has a budget of its own
    pool.admit([transfer(B, 3, fee=100)], 1.0)
    assert codes(pool.admit([transfer(B, 3, fee=200)], 2.0)) == [None]


def test_the_budget_comes_back_when_the_senders_nonce_moves(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_queued_replacements=2)
    fees = _bids(100, 8)
    pool.admit([transfer(A, 0, fee=100), transfer(A, 2, fee=fees[0])], 0.0)
    later = [pool.admit([transfer(A, 2, fee=f)], 1.0)[0].code for f in fees[1:4]]
    assert later == [None, None, Refusal.QUEUED_REPLACEMENT_LIMIT]
    # a block commits nonce 0: the sender paid for a tx, its budget is new
    committed = transfer(A, 0, fee=100)
    accounts.apply([committed])
    pool.on_block([committed], 2.0)
    assert not pool.is_pending(transfer(A, 2, fee=fees[2]).id)  # still behind nonce 1
    assert codes(pool.admit([transfer(A, 2, fee=fees[3])], 3.0)) == [None]


def test_a_refused_replacement_does_not_use_the_budget(accounts: Accounts) -> None:
    accounts.set(A, balance=1_000)
    pool = make_pool(accounts, max_queued_replacements=1)
    pool.admit([transfer(A, 3, fee=100, amount=0)], 0.0)
    assert codes(pool.admit([transfer(A, 3, fee=105, amount=0)], 1.0)) == [
        Refusal.REPLACEMENT_UNDERPRICED
    ]
    assert codes(pool.admit([transfer(A, 3, fee=2_000, amount=0)], 1.0)) == [
        Refusal.INSUFFICIENT_FUNDS
    ]
    assert codes(pool.admit([transfer(A, 3, fee=200, amount=0)], 1.0)) == [None]
    assert codes(pool.admit([transfer(A, 3, fee=300, amount=0)], 1.0)) == [
        Refusal.QUEUED_REPLACEMENT_LIMIT
    ]


def test_a_budget_of_zero_makes_queued_txs_final(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_queued_replacements=0)
    pool.admit([transfer(A, 1, fee=100)], 0.0)
    assert codes(pool.admit([transfer(A, 1, fee=1_000)], 1.0)) == [Refusal.QUEUED_REPLACEMENT_LIMIT]


def test_pending_replacements_are_not_budgeted(accounts: Accounts) -> None:
    """Replacing an executable tx costs real fee (the last bid is paid), so
    only the bump applies to it."""
    pool = make_pool(accounts, max_queued_replacements=0)
    fees = _bids(100, 30)
    pool.admit([transfer(A, 0, fee=fees[0])], 0.0)
    results = [pool.admit([transfer(A, 0, fee=f)], 1.0)[0] for f in fees[1:]]
    assert codes(results) == [None] * 29
    assert [tx.fee for tx in pool] == [fees[-1]]
