"""Admission: every refusal code, de-duplication, the balance rule,
replacement with a fee bump, promotion of queued txs, and what the policy
is shown when it scores a batch."""

from __future__ import annotations

import numpy as np
import pytest
from mempool_support import CHAIN_ID, RECIPIENT, WALLETS, Accounts, codes, make_pool, transfer

from node.mempool import AdmitResult, Refusal
from node.scheduling.policy import Policy, TxColumns
from node.types import MAX_TX_DATA

A, B, C = WALLETS[:3]


def test_a_valid_tx_is_accepted_and_pooled(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    tx = transfer(A, 0)
    assert pool.admit([tx], now_s=1.0) == [AdmitResult(tx.id, True, None, None)]
    assert tx.id in pool and pool.get(tx.id) == tx
    assert len(pool) == 1 and pool.size_bytes == tx.size
    assert pool.pending_count == 1 and pool.queued_count == 0 and pool.senders == 1
    assert pool.is_pending(tx.id)


def test_the_refusal_codes_are_the_documented_set() -> None:
    assert {code.value for code in Refusal} == {
        "duplicate",
        "wrong_chain_id",
        "too_large",
        "self_transfer",
        "overflow",
        "fee_too_low",
        "invalid_signature",
        "nonce_too_low",
        "nonce_too_far",
        "insufficient_funds",
        "replacement_underpriced",
        "queued_replacement_limit",
        "sender_full",
        "mempool_full",
        "evicted",
        "replaced",
    }


def test_a_pooled_tx_sent_again_is_a_duplicate(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    tx = transfer(A, 0)
    pool.admit([tx], 0.0)
    [again] = pool.admit([tx], 1.0)
    assert (again.accepted, again.code) == (False, "duplicate")
    assert len(pool) == 1


def test_a_tx_twice_in_one_batch_is_taken_once(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    tx = transfer(A, 0)
    first, second = pool.admit([tx, tx], 0.0)
    assert first.accepted and second.code == Refusal.DUPLICATE
    assert len(pool) == 1


def test_a_tx_for_another_chain_is_refused(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    [result] = pool.admit([transfer(A, 0, chain_id="other-chain")], 0.0)
    assert result.code == Refusal.WRONG_CHAIN_ID and "other-chain" in (result.message or "")
    assert len(pool) == 0


def test_a_tx_larger_than_the_cap_is_refused(accounts: Accounts) -> None:
    small = transfer(A, 0)
    pool = make_pool(accounts, max_tx_bytes=small.size)
    big = transfer(A, 0, data=b"x")
    assert codes(pool.admit([big, small], 0.0)) == ["too_large", None]


def test_the_default_cap_admits_the_largest_valid_tx(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    [result] = pool.admit([transfer(A, 0, data=bytes(MAX_TX_DATA))], 0.0)
    assert result.accepted


def test_a_fee_below_the_minimum_is_refused(accounts: Accounts) -> None:
    pool = make_pool(accounts, min_fee=50)
    assert codes(pool.admit([transfer(A, 0, fee=49), transfer(B, 0, fee=50)], 0.0)) == [
        "fee_too_low",
        None,
    ]


def test_a_transfer_to_oneself_is_refused(accounts: Accounts) -> None:
    # the state would refuse it in a block, and it would hold up A's later nonces
    pool = make_pool(accounts)
    to_self = A.transfer(to=A.address, amount=1, fee=100, nonce=0, chain_id=CHAIN_ID)
    assert codes(pool.admit([to_self], 0.0)) == ["self_transfer"]


def test_an_amount_and_fee_beyond_64_bits_is_refused(accounts: Accounts) -> None:
    accounts.set(A, balance=2**64 - 1)
    pool = make_pool(accounts)
    assert codes(pool.admit([transfer(A, 0, fee=2, amount=2**64 - 2)], 0.0)) == ["overflow"]
    assert codes(pool.admit([transfer(A, 0, fee=1, amount=2**64 - 2)], 0.0)) == [None]


def test_bad_signatures_are_refused_and_the_good_ones_of_the_batch_kept(
    accounts: Accounts,
) -> None:
    pool = make_pool(accounts)
    good = transfer(A, 0)
    # B's signature over a tx that claims to come from C
    forged = transfer(B, 0).replace(sender=C.address)
    # a flipped bit in an otherwise valid signature
    sig = bytearray(transfer(A, 1).signature)
    sig[5] ^= 1
    tampered = transfer(A, 1).replace(signature=bytes(sig))
    assert codes(pool.admit([forged, good, tampered], 0.0)) == [
        "invalid_signature",
        None,
        "invalid_signature",
    ]
    assert set(pool.stats()["refused"]) == {"invalid_signature"}


def test_signatures_checked_means_the_caller_vouches(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    forged = transfer(B, 0).replace(sender=C.address)
    [result] = pool.admit([forged], 0.0, signatures_checked=True)
    assert result.accepted


def test_a_nonce_below_the_accounts_next_nonce_is_refused(accounts: Accounts) -> None:
    accounts.set(A, nonce=5)
    pool = make_pool(accounts)
    assert codes(pool.admit([transfer(A, 4), transfer(A, 5)], 0.0)) == ["nonce_too_low", None]


def test_a_nonce_too_far_ahead_is_refused(accounts: Accounts) -> None:
    accounts.set(A, nonce=10)
    pool = make_pool(accounts, max_nonce_gap=64)
    results = pool.admit([transfer(A, 10 + 65), transfer(A, 10 + 64)], 0.0)
    assert codes(results) == ["nonce_too_far", None]
    assert pool.queued_count == 1


def test_the_balance_must_cover_all_the_senders_pooled_txs(accounts: Accounts) -> None:
    # each tx costs amount 1 + fee 100; queued txs count too
    accounts.set(A, balance=303)
    pool = make_pool(accounts)
    results = pool.admit([transfer(A, 0), transfer(A, 2), transfer(A, 1), transfer(A, 3)], 0.0)
    assert codes(results) == [None, None, None, "insufficient_funds"]
    [exact] = pool.admit([transfer(A, 3, fee=0, amount=0)], 0.0)
    assert exact.accepted


def test_an_unknown_sender_has_nothing_to_spend(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    stranger = transfer(A, 0).replace(sender=bytes(range(32)))
    [result] = pool.admit([stranger], 0.0, signatures_checked=True)
    assert result.code == Refusal.INSUFFICIENT_FUNDS


def test_replacement_with_exactly_the_bump_replaces_the_old_tx(accounts: Accounts) -> None:
    pool = make_pool(accounts, replace_bump_pct=10)
    old = transfer(A, 0, fee=100)
    new = transfer(A, 0, fee=110)
    pool.admit([old], 0.0)
    [result] = pool.admit([new], 1.0)
    assert result.accepted
    assert old.id not in pool and pool.get(old.id) is None
    assert new.id in pool and len(pool) == 1 and pool.size_bytes == new.size
    assert pool.stats()["replaced"] == 1
    assert [tx.id for tx, _ in pool.ordered(10, 0.0)] == [new.id]


def test_replacement_below_the_bump_is_refused_and_the_old_tx_stays(accounts: Accounts) -> None:
    pool = make_pool(accounts, replace_bump_pct=10)
    old = transfer(A, 0, fee=100)
    pool.admit([old], 0.0)
    [result] = pool.admit([transfer(A, 0, fee=109)], 1.0)
    assert result.code == Refusal.REPLACEMENT_UNDERPRICED
    assert old.id in pool and len(pool) == 1


def test_replacement_needs_the_bump_in_fee_rate_too(accounts: Accounts) -> None:
    pool = make_pool(accounts, replace_bump_pct=10)
    pool.admit([transfer(A, 0, fee=100)], 0.0)
    # 10% more fee, but for a much larger tx: a lower fee rate
    [result] = pool.admit([transfer(A, 0, fee=110, data=bytes(200))], 1.0)
    assert result.code == Refusal.REPLACEMENT_UNDERPRICED


def test_replacement_of_a_zero_fee_tx_needs_a_higher_fee(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    pool.admit([transfer(A, 0, fee=0, amount=1)], 0.0)
    assert codes(pool.admit([transfer(A, 0, fee=0, amount=2)], 0.0)) == ["replacement_underpriced"]
    assert codes(pool.admit([transfer(A, 0, fee=1, amount=2)], 0.0)) == [None]


def test_replacement_must_stay_affordable_without_counting_the_old_tx(
    accounts: Accounts,
) -> None:
    accounts.set(A, balance=250)
    pool = make_pool(accounts)
    pool.admit([transfer(A, 0, fee=100, amount=0)], 0.0)
    # the old tx's 100 is given back: 200 <= 250
    assert codes(pool.admit([transfer(A, 0, fee=200, amount=0)], 0.0)) == [None]
    assert codes(pool.admit([transfer(A, 0, fee=251, amount=0)], 0.0)) == ["insufficient_funds"]


def test_a_queued_tx_can_be_replaced(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    old, new = transfer(A, 3, fee=100), transfer(A, 3, fee=200)
    pool.admit([old], 0.0)
    assert codes(pool.admit([new], 0.0)) == [None]
    assert old.id not in pool and pool.queued_count == 1


def test_a_tx_replaced_later_in_its_own_batch_is_reported_replaced(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    old, new = transfer(A, 0, fee=100), transfer(A, 0, fee=500)
    first, second = pool.admit([old, new], 0.0)
    assert (first.accepted, first.code, second.accepted) == (False, "replaced", True)
    assert old.id not in pool and new.id in pool
    stats = pool.stats()
    assert stats["admitted"] == 1 and stats["refused"] == {"replaced": 1}


def test_a_queued_tx_is_promoted_when_its_gap_fills(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    later = [transfer(A, 1), transfer(A, 3), transfer(A, 2)]
    pool.admit(later, 0.0)
    assert pool.pending_count == 0 and pool.queued_count == 3
    assert pool.ordered(10, 0.0) == []
    first = transfer(A, 0)
    pool.admit([first], 1.0)
    assert pool.pending_count == 4 and pool.queued_count == 0
    assert [tx.nonce for tx, _ in pool.ordered(10, 0.0)] == [0, 1, 2, 3]
    assert pool.pending_nonce(A.address) == 4


def test_pending_nonce_stops_at_the_first_gap(accounts: Accounts) -> None:
    accounts.set(A, nonce=7)
    pool = make_pool(accounts)
    assert pool.pending_nonce(A.address) == 7
    pool.admit([transfer(A, 7), transfer(A, 9)], 0.0)
    assert pool.pending_nonce(A.address) == 8


def test_every_submitted_tx_is_counted_once(accounts: Accounts) -> None:
    accounts.set(B, nonce=3)
    pool = make_pool(accounts, min_fee=1)
    batch = [transfer(A, 0), transfer(A, 0), transfer(B, 0), transfer(C, 0, fee=0)]
    pool.admit(batch, 0.0)
    stats = pool.stats()
    assert stats["admitted"] + sum(stats["refused"].values()) == len(batch)
    assert stats["refused"] == {"duplicate": 1, "nonce_too_low": 1, "fee_too_low": 1}


def test_the_state_is_read_once_per_sender_per_batch(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    pool.admit([transfer(A, n) for n in range(10)] + [transfer(B, 0)], 0.0)
    assert accounts.reads == 2


def test_admission_rereads_a_sender_whose_account_moved(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    spent = [transfer(A, 0), transfer(A, 1)]
    pool.admit(spent, 0.0)
    # a block elsewhere used nonces 0 and 1, and the pool was not told
    accounts.set(A, nonce=2)
    pool.admit([transfer(A, 2)], 1.0)
    assert not any(tx.id in pool for tx in spent)
    assert pool.pending_count == 1 and pool.stats()["dropped"] == 2


class Recording(Policy):
    """Scores by fee, and keeps every batch it was shown."""

    name = "recording"

    def __init__(self) -> None:
        self.batches: list[TxColumns] = []

    def score(self, txs: TxColumns) -> np.ndarray:
        self.batches.append(txs)
        return np.asarray(txs.fee, dtype=np.float64)


def test_the_policy_scores_the_surviving_batch_in_one_call(accounts: Accounts) -> None:
    accounts.set(B, nonce=4)
    policy = Recording()
    pool = make_pool(accounts, policy=policy)
    pool.admit([transfer(C, 0)], 1.0)
    batch = [transfer(A, 0, fee=10), transfer(B, 0), transfer(A, 2, fee=30), transfer(B, 6)]
    labels = {"value": np.array([1.0, 2.0, 3.0, 4.0]), "class": np.array(["a", "b", "c", "d"])}
    pool.admit(batch, 7.5, labels=labels)
    assert len(policy.batches) == 2
    cols = policy.batches[1]
    assert len(cols) == 3  # B's nonce 0 is below its next nonce: never scored
    assert cols.arrival_s.tolist() == [7.5, 7.5, 7.5]
    assert cols.fee.tolist() == [10.0, 30.0, 100.0]
    assert cols.nonce.tolist() == [0, 2, 6] and cols.nonce_gap.tolist() == [0, 2, 2]
    assert list(cols.sender) == [A.address, A.address, B.address]
    assert list(cols.recipient) == [RECIPIENT] * 3
    assert cols.size.tolist() == [batch[0].size, batch[2].size, batch[3].size]
    assert (cols.pool_size, cols.pool_bytes) == (1, transfer(C, 0).size)
    assert cols.labels is not None
    assert cols.labels["value"].tolist() == [1.0, 3.0, 4.0]
    assert cols.labels["class"].tolist() == ["a", "c", "d"]
    assert pool.score_of(batch[2].id) == 30.0


def test_labels_must_align_with_the_batch(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    with pytest.raises(ValueError, match="value"):
        pool.admit([transfer(A, 0)], 0.0, labels={"value": np.zeros(2)})


class Broken(Policy):
    name = "broken"

    def score(self, txs: TxColumns) -> np.ndarray:
        return np.zeros(len(txs) + 1)


def test_a_policy_that_scores_the_wrong_number_of_rows_is_named(accounts: Accounts) -> None:
    pool = make_pool(accounts, policy=Broken())
    with pytest.raises(ValueError, match="broken"):
        pool.admit([transfer(A, 0)], 0.0)


def test_an_empty_batch_is_fine(accounts: Accounts) -> None:
    pool = make_pool(accounts)
    assert pool.admit([], 0.0) == []
    assert pool.chain_id == CHAIN_ID
