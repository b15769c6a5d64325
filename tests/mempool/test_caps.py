"""Caps and eviction: the pool's count and byte caps evict the lowest-ranked
sender tail (or refuse the newcomer), a sender's caps give way only to its
own lower nonces, and no eviction ever strands a tx behind a gap."""

from __future__ import annotations

from mempool_support import WALLETS, Accounts, codes, make_pool, transfer

from node.mempool import Refusal

A, B, C, D, E = WALLETS[:5]


def test_when_full_the_lowest_tx_is_evicted_for_a_better_one(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=3)
    low, mid, high = transfer(A, 0, fee=100), transfer(B, 0, fee=200), transfer(C, 0, fee=300)
    pool.admit([low, mid, high], 0.0)
    newcomer = transfer(D, 0, fee=250)
    assert codes(pool.admit([newcomer], 1.0)) == [None]
    assert low.id not in pool and {mid.id, high.id, newcomer.id} <= set(
        tx.id for tx, _ in pool.ordered(10, 0.0)
    )
    assert len(pool) == 3 and pool.stats()["evicted"] == 1


def test_a_newcomer_below_everything_evictable_is_refused(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=2)
    pool.admit([transfer(A, 0, fee=100), transfer(B, 0, fee=200)], 0.0)
    [result] = pool.admit([transfer(C, 0, fee=50)], 1.0)
    assert (result.accepted, result.code) == (False, Refusal.MEMPOOL_FULL)
    assert len(pool) == 2 and pool.stats()["evicted"] == 0


def test_a_newcomer_that_only_ties_the_lowest_is_refused(accounts: Accounts) -> None:
    # equal scores go to the tx seen first, so the newcomer ranks last
    pool = make_pool(accounts, max_txs=2)
    first = transfer(A, 0, fee=100)
    pool.admit([first, transfer(B, 0, fee=200)], 0.0)
    assert codes(pool.admit([transfer(C, 0, fee=100)], 1.0)) == ["mempool_full"]
    assert first.id in pool


def test_eviction_takes_tails_only_so_no_chain_is_broken(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=3)
    # A's cheap nonce 0 is protected by its pricey successor
    a0, a1, b0 = transfer(A, 0, fee=10), transfer(A, 1, fee=1000), transfer(B, 0, fee=500)
    pool.admit([a0, a1, b0], 0.0)
    assert codes(pool.admit([transfer(C, 0, fee=600)], 1.0)) == [None]
    assert b0.id not in pool and a0.id in pool and a1.id in pool
    assert pool.pending_count == 3


def test_the_lowest_tail_of_a_sender_goes_first(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=3)
    a0, a1, b0 = transfer(A, 0, fee=1000), transfer(A, 1, fee=10), transfer(B, 0, fee=500)
    pool.admit([a0, a1, b0], 0.0)
    pool.admit([transfer(C, 0, fee=600)], 1.0)
    assert a1.id not in pool and a0.id in pool and b0.id in pool


def test_a_newcomer_never_evicts_its_own_predecessor(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=2)
    a0 = transfer(A, 0, fee=10)
    pool.admit([a0, transfer(B, 0, fee=100)], 0.0)
    # A's nonce 1 would be A's tail and the lowest of all: it is refused,
    # not let in behind a gap
    assert codes(pool.admit([transfer(A, 1, fee=5)], 1.0)) == ["mempool_full"]
    assert a0.id in pool
    # with a higher score it makes room at the other sender's expense
    assert codes(pool.admit([transfer(A, 1, fee=1000)], 1.0)) == [None]
    assert pool.pending_count == 2 and pool.senders == 1


def test_queued_tails_are_evicted_before_any_pending_tx(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=3)
    gap_flood = transfer(C, 5, fee=10**6)
    pool.admit([transfer(A, 0, fee=100), transfer(B, 0, fee=100), gap_flood], 0.0)
    assert codes(pool.admit([transfer(D, 0, fee=50)], 1.0)) == [None]
    assert gap_flood.id not in pool and pool.queued_count == 0


def test_a_queued_newcomer_cannot_push_out_a_pending_tx(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=2)
    pool.admit([transfer(A, 0, fee=1), transfer(B, 0, fee=1)], 0.0)
    assert codes(pool.admit([transfer(C, 1, fee=10**6)], 1.0)) == ["mempool_full"]


def test_the_byte_cap_evicts_as_many_as_needed(accounts: Accounts) -> None:
    one = transfer(A, 0).size
    pool = make_pool(accounts, max_bytes=3 * one)
    a, b, c = transfer(A, 0, fee=100), transfer(B, 0, fee=200), transfer(C, 0, fee=300)
    pool.admit([a, b, c], 0.0)
    big = transfer(D, 0, fee=100_000, data=bytes(one))  # needs two slots' worth
    assert codes(pool.admit([big], 1.0)) == [None]
    assert a.id not in pool and b.id not in pool and c.id in pool
    assert pool.size_bytes <= 3 * one and pool.stats()["evicted"] == 2


def test_a_refusal_undoes_the_evictions_it_started(accounts: Accounts) -> None:
    one = transfer(A, 0).size
    pool = make_pool(accounts, max_bytes=3 * one)
    a, b, c = transfer(A, 0, fee=100), transfer(B, 0, fee=200), transfer(C, 0, fee=300)
    pool.admit([a, b, c], 0.0)
    before = (pool.size_bytes, [tx.id for tx, _ in pool.ordered(10, 0.0)])
    # outranks a (fee rate) but not b: it would need both gone
    big = transfer(D, 0, fee=150 * 2, data=bytes(one))
    assert codes(pool.admit([big], 1.0)) == ["mempool_full"]
    assert (pool.size_bytes, [tx.id for tx, _ in pool.ordered(10, 0.0)]) == before
    assert pool.stats()["evicted"] == 0
    # and the restored txs are still evictable, cheapest first
    assert codes(pool.admit([transfer(E, 0, fee=250)], 2.0)) == [None]
    assert a.id not in pool and b.id in pool


def test_a_tx_evicted_later_in_its_own_batch_is_reported_evicted(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs=2)
    low, mid, high = transfer(A, 0, fee=100), transfer(B, 0, fee=200), transfer(C, 0, fee=300)
    results = pool.admit([low, mid, high], 0.0)
    assert [(r.accepted, r.code) for r in results] == [
        (False, "evicted"),
        (True, None),
        (True, None),
    ]
    assert "pushed out by" in (results[0].message or "")
    stats = pool.stats()
    assert stats["admitted"] == 2 and stats["refused"] == {"evicted": 1} and stats["evicted"] == 1
    assert all(r.accepted == (r.tx_id in pool) for r in results)


def test_a_sender_at_its_count_cap_is_refused_more(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs_per_sender=3)
    results = pool.admit([transfer(A, n) for n in range(4)], 0.0)
    assert codes(results) == [None, None, None, "sender_full"]
    assert codes(pool.admit([transfer(B, 0)], 0.0)) == [None]


def test_a_lower_nonce_makes_room_by_dropping_the_senders_own_tail(accounts: Accounts) -> None:
    pool = make_pool(accounts, max_txs_per_sender=3)
    far = transfer(A, 3)
    pool.admit([transfer(A, 0), transfer(A, 2), far], 0.0)
    assert codes(pool.admit([transfer(A, 1)], 1.0)) == [None]
    assert far.id not in pool
    assert [tx.nonce for tx, _ in pool.ordered(10, 0.0)] == [0, 1, 2]
    assert pool.stats()["evicted"] == 1


def test_the_per_sender_byte_cap(accounts: Accounts) -> None:
    one = transfer(A, 0).size
    pool = make_pool(accounts, max_bytes_per_sender=2 * one)
    assert codes(pool.admit([transfer(A, 0), transfer(A, 1), transfer(A, 2)], 0.0)) == [
        None,
        None,
        "sender_full",
    ]
    # a replacement that grows the sender past its byte cap is refused too
    big = transfer(A, 1, fee=10_000, data=bytes(10))
    assert codes(pool.admit([big], 0.0)) == ["sender_full"]
    assert len(pool) == 2


def test_a_replacement_refused_for_room_leaves_the_old_tx(accounts: Accounts) -> None:
    one = transfer(A, 0).size
    pool = make_pool(accounts, max_bytes=2 * one)
    old = transfer(A, 0, fee=100)
    pool.admit([old, transfer(B, 0, fee=10**6)], 0.0)
    # bigger, so it needs B gone, and B outranks it
    bigger = transfer(A, 0, fee=1000, data=bytes(50))
    assert codes(pool.admit([bigger], 1.0)) == ["mempool_full"]
    assert old.id in pool and bigger.id not in pool and len(pool) == 2
