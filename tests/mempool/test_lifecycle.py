"""How txs leave: expiry, the re-check after a block (included, spent,
unaffordable), explicit removal, and readmission after a reorg."""

from __future__ import annotations

from mempool_support import WALLETS, Accounts, codes, make_pool, transfer

from node.scheduling.policy import BlockLimits

A, B, C = WALLETS[:3]
ROOMY = BlockLimits(max_txs=1000, max_bytes=10**6)


def test_expire_removes_txs_older_than_the_expiry(accounts: Accounts) -> None:
    pool = make_pool(accounts, expiry_s=600.0)
    old = [transfer(A, 0), transfer(A, 1)]
    young = transfer(B, 0)
    pool.admit(old, 0.0)
    pool.admit([young], 100.0)
    assert pool.expire(600.0) == []  # exactly expiry_s old: still in
    assert pool.expire(600.5) == [tx.id for tx in old]
    assert young.id in pool and len(pool) == 1
    assert pool.stats()["expired"] == 2 and pool.senders == 1
    assert pool.expire(700.5) == [young.id] and len(pool) == 0 and pool.senders == 0


def test_expiry_of_a_middle_nonce_queues_its_successors(accounts: Accounts) -> None:
    pool = make_pool(accounts, expiry_s=600.0)
    a1 = transfer(A, 1)
    pool.admit([a1], 0.0)
    a0, a2 = transfer(A, 0), transfer(A, 2)
    pool.admit([a0, a2], 300.0)
    assert pool.pending_count == 3
    assert pool.expire(601.0) == [a1.id]
    assert pool.is_pending(a0.id) and not pool.is_pending(a2.id)
    assert [tx for tx in pool.select(ROOMY, 0.0)] == [a0]
    # refilling the hole promotes the successor again
    pool.admit([transfer(A, 1, fee=1)], 602.0)
    assert [tx.nonce for tx in pool.select(ROOMY, 0.0)] == [0, 1, 2]


def test_on_block_removes_included_txs_and_keeps_the_rest_executable(
    accounts: Accounts,
) -> None:
    pool = make_pool(accounts)
    txs = [transfer(A, n, fee=100 - n) for n in range(5)] + [transfer(B, 0, fee=1)]
    pool.admit(txs, 0.0)
    block = pool.select(BlockLimits(max_txs=3, max_bytes=10**6), 0.0)
    assert [tx.id for tx in block] == [tx.id for tx in txs[:3]]
    accounts.apply(block)
    pool.on_block(block, 10.0)
    assert not any(tx.id in pool for tx in block)
    assert len(pool) == 3 and pool.pending_count == 3
    assert pool.stats()["included"] == 3
    assert [tx.nonce for tx in pool.select(ROOMY, 0.0) if tx.sender == A.address] == [3, 4]


def test_a_conflicting_tx_in_a_block_drops_the_pooled_one(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    ours = transfer(A, 0, fee=100)
    follower = transfer(A, 1, fee=100)
    pool.admit([ours, follower], 0.0)
    theirs = transfer(A, 0, fee=7)  # another node's block used nonce 0
    accounts.apply([theirs])
    pool.on_block([theirs], 1.0)
    assert ours.id not in pool and pool.is_pending(follower.id)
    assert pool.stats()["dropped"] == 1


def test_on_block_drops_what_the_sender_can_no_longer_afford(accounts: Accounts) -> None:
    accounts.set(A, balance=1000)
    pool = make_pool(accounts)
    mine = [transfer(A, n, fee=100, amount=0) for n in range(1, 5)]  # 400 in all
    pool.admit(mine, 0.0)
    spend = transfer(A, 0, fee=0, amount=750)  # leaves 250: two of the four
    accounts.apply([spend])
    pool.on_block([spend], 1.0)
    assert [tx.id for tx in pool.select(ROOMY, 0.0)] == [tx.id for tx in mine[:2]]
    assert len(pool) == 2 and pool.stats()["dropped"] == 2


def test_on_block_promotes_queued_txs_whose_gap_a_block_filled(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    queued = [transfer(A, 1), transfer(A, 2)]
    pool.admit(queued, 0.0)
    assert pool.pending_count == 0
    first = transfer(A, 0)
    accounts.apply([first])
    pool.on_block([first], 1.0)
    assert pool.pending_count == 2 and pool.queued_count == 0


def test_remove_takes_given_ids_and_queues_the_stranded(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    txs = [transfer(A, n) for n in range(3)]
    pool.admit(txs, 0.0)
    assert pool.remove([txs[1].id, b"\x00" * 32]) == [txs[1].id]
    assert pool.pending_count == 1 and pool.queued_count == 1
    assert pool.stats()["removed"] == 1


def test_readmit_brings_back_the_txs_of_a_reverted_block(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    txs = [transfer(A, 0), transfer(A, 1), transfer(A, 2)]
    pool.admit(txs, 0.0)
    block = pool.select(BlockLimits(max_txs=2, max_bytes=10**6), 0.0)
    accounts.apply(block)
    pool.on_block(block, 1.0)
    assert pool.queued_count == 0 and pool.pending_count == 1
    # the block is reverted: the state goes back, its txs come back
    accounts.set(A, balance=accounts.table[A.address][0] + 202, nonce=0)
    assert codes(pool.readmit(block, 2.0)) == [None, None]
    assert [tx.id for tx in pool.select(ROOMY, 0.0)] == [tx.id for tx in txs]


def test_a_sender_whose_nonce_went_back_waits_for_the_gap(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    accounts.set(A, nonce=2)
    a2 = transfer(A, 2)
    pool.admit([a2], 0.0)
    accounts.set(A, nonce=0)  # a reorg, before the reverted txs are readmitted
    pool.admit([transfer(B, 0)], 1.0)  # B's batch does not touch A
    pool.admit([transfer(A, 0)], 1.0)
    assert not pool.is_pending(a2.id) and pool.pending_nonce(A.address) == 1
    pool.admit([transfer(A, 1)], 2.0)
    assert pool.is_pending(a2.id)


def test_an_emptied_sender_is_forgotten(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    tx = transfer(C, 0)
    pool.admit([tx], 0.0)
    accounts.apply([tx])
    pool.on_block([tx], 1.0)
    assert pool.senders == 0 and len(pool) == 0 and pool.size_bytes == 0
