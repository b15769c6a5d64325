"""The state's rules: which transactions are valid, what blocks change, the state root."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledgerkit import CHAIN, addr, unsigned

from node import crypto
from node.errors import InvalidBlock, InvalidTransaction
from node.state import EMPTY_ACCOUNT, Account, State, StateDiff
from node.types import MAX_TX_DATA, MAX_TX_SIZE, Transaction

U64_MAX = 2**64 - 1
A, B, C, P = addr(1), addr(2), addr(3), addr(99)


@pytest.fixture
def state() -> State:
    return State(CHAIN, {A: Account(100, 0), B: Account(50, 3)})


def code_of(state: State, tx: Transaction, **kwargs: object) -> str:
    with pytest.raises(InvalidTransaction) as info:
        state.check_tx(tx, **kwargs)  # type: ignore[arg-type]
    return info.value.code


# -- transaction validity ----------------------------------------------------


def test_a_valid_transfer_passes(state: State) -> None:
    state.check_tx(unsigned(A, C, amount=90, fee=10, nonce=0))  # exactly the balance
    state.check_tx(unsigned(B, A, amount=0, fee=0, nonce=3))


@pytest.mark.parametrize(
    ("tx", "code"),
    [
        (unsigned(A, C, amount=1, nonce=0, chain_id="other"), "wrong_chain_id"),
        (unsigned(B, C, amount=1, nonce=2), "nonce_too_low"),
        (unsigned(B, C, amount=1, nonce=4), "nonce_gap"),
        (unsigned(A, C, amount=1, nonce=1), "nonce_gap"),
        (unsigned(A, C, amount=90, fee=11, nonce=0), "insufficient_funds"),
        (unsigned(C, A, amount=0, fee=1, nonce=0), "insufficient_funds"),
        (unsigned(A, C, amount=U64_MAX, fee=1, nonce=0), "overflow"),
        (unsigned(A, A, amount=1, nonce=0), "self_transfer"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_typed_rejections(state: State, tx: Transaction, code: str) -> None:
    assert code_of(state, tx) == code


def test_recipient_balance_may_not_pass_u64() -> None:
    rich = State(CHAIN, {A: Account(10, 0), B: Account(U64_MAX - 5, 0)})
    assert code_of(rich, unsigned(A, B, amount=6, fee=0, nonce=0)) == "overflow"
    rich.check_tx(unsigned(A, B, amount=5, fee=0, nonce=0))


def test_largest_transaction_is_within_the_size_limit(state: State) -> None:
    big = Transaction(
        chain_id="x" * 32, sender=A, nonce=0, recipient=C, amount=1, fee=1, data=bytes(MAX_TX_DATA)
    )
    assert big.size == MAX_TX_SIZE
    same_chain = State("x" * 32, {A: Account(10, 0)})
    same_chain.check_tx(big)


def test_check_against_a_pending_diff(state: State) -> None:
    first = unsigned(A, C, amount=10, nonce=0)
    diff = state.execute([first], P)
    assert code_of(state, unsigned(A, C, amount=10, nonce=1)) == "nonce_gap"
    state.check_tx(unsigned(A, C, amount=10, nonce=1), pending=diff)
    assert code_of(state, first, pending=diff) == "nonce_too_low"


# -- execution ---------------------------------------------------------------


def test_execute_moves_amounts_and_pays_fees_to_the_proposer(state: State) -> None:
    txs = [unsigned(A, C, amount=30, fee=2, nonce=0), unsigned(B, C, amount=5, fee=3, nonce=3)]
    diff = state.execute(txs, P)
    assert diff.accounts == {
        A: Account(68, 1),
        B: Account(42, 4),
        C: Account(35, 0),
        P: Account(5, 0),
    }
    assert (diff.fees, diff.tx_count, diff.tx_bytes) == (5, 2, sum(t.size for t in txs))
    state.apply(diff)
    assert state.account(P) == Account(5, 0) and state.account(A) == Account(68, 1)
    assert sum(a.balance for a in state.accounts.values()) == 150  # value is conserved


def test_execute_does_not_mutate_the_state(state: State) -> None:
    before = (dict(state.accounts), state.root())
    state.execute([unsigned(A, C, amount=30, nonce=0)], P)
    assert (dict(state.accounts), state.root()) == before


def test_execute_is_all_or_nothing(state: State) -> None:
    good = [unsigned(A, C, amount=10, nonce=n) for n in range(3)]
    bad = unsigned(B, C, amount=10, nonce=9)
    with pytest.raises(InvalidBlock) as info:
        state.execute([*good, bad, unsigned(B, C, amount=1, nonce=3)], P)
    assert info.value.code == "nonce_gap"
    assert "tx 3" in str(info.value) and bad.id.hex() in str(info.value)
    assert state.account(A) == Account(100, 0) and state.account(C) == EMPTY_ACCOUNT


def test_a_block_may_spend_what_it_received_in_order(state: State) -> None:
    txs = [unsigned(A, C, amount=50, fee=0, nonce=0), unsigned(C, B, amount=49, fee=1, nonce=0)]
    diff = state.execute(txs, P)
    assert diff.accounts[C] == Account(0, 1)
    with pytest.raises(InvalidBlock) as info:
        state.execute(txs[::-1], P)
    assert info.value.code == "insufficient_funds" and "tx 0" in str(info.value)


def test_fees_are_credited_after_the_last_transaction() -> None:
    state = State(CHAIN, {A: Account(10, 0)})
    spend_fee = unsigned(P, A, amount=1, fee=0, nonce=0)
    with pytest.raises(InvalidBlock) as info:
        state.execute([unsigned(A, C, amount=0, fee=5, nonce=0), spend_fee], P)
    assert info.value.code == "insufficient_funds"


def test_proposer_that_sends_and_receives(state: State) -> None:
    txs = [unsigned(A, B, amount=10, fee=4, nonce=0), unsigned(B, A, amount=1, fee=6, nonce=3)]
    diff = state.execute(txs, A)
    assert diff.accounts[A] == Account(100 - 14 + 1 + 10, 1)
    assert diff.accounts[B] == Account(50 + 10 - 7, 4)


def test_the_same_transaction_twice_fails_the_second_time(state: State) -> None:
    tx = unsigned(A, C, amount=1, nonce=0)
    with pytest.raises(InvalidBlock) as info:
        state.execute([tx, tx], P)
    assert info.value.code == "nonce_too_low" and "tx 1" in str(info.value)


def test_proposer_fee_credit_can_never_overflow() -> None:
    state = State(CHAIN, {A: Account(10, 0), P: Account(U64_MAX - 3, 0)})
    with pytest.raises(InvalidBlock) as info:
        state.execute([unsigned(A, C, amount=0, fee=4, nonce=0)], P)
    assert info.value.code == "overflow"
    assert (
        state.execute([unsigned(A, C, amount=0, fee=3, nonce=0)], P).accounts[P].balance == U64_MAX
    )


def test_empty_block_changes_nothing(state: State) -> None:
    diff = state.execute([], P)
    assert diff == StateDiff({}, fees=0, tx_count=0, tx_bytes=0, proposer=P)
    assert state.root(diff) == state.root()


# -- selection (the proposer's path) -------------------------------------------


def test_select_skips_invalid_candidates_and_says_why(state: State) -> None:
    candidates = [
        unsigned(A, C, amount=10, nonce=0),
        unsigned(A, C, amount=10, nonce=5),  # gap
        unsigned(C, A, amount=10, nonce=0),  # no funds
        unsigned(B, C, amount=1, nonce=3, chain_id="x"),
        unsigned(A, C, amount=10, nonce=1),
    ]
    chosen, refused, diff = state.select(candidates, P, max_txs=10, max_bytes=10**6)
    assert chosen == [candidates[0], candidates[4]]
    assert [(tx, exc.code) for tx, exc in refused] == [
        (candidates[1], "nonce_gap"),
        (candidates[2], "insufficient_funds"),
        (candidates[3], "wrong_chain_id"),
    ]
    assert diff == state.execute(chosen, P)


def test_select_stops_at_the_count_and_byte_limits(state: State) -> None:
    candidates = [unsigned(A, C, amount=1, nonce=n) for n in range(10)]
    size = candidates[0].size
    chosen, _, diff = state.select(candidates, P, max_txs=4, max_bytes=10**6)
    assert chosen == candidates[:4] and diff.tx_count == 4
    chosen, _, diff = state.select(candidates, P, max_txs=100, max_bytes=3 * size + size - 1)
    assert chosen == candidates[:3] and diff.tx_bytes == 3 * size
    chosen, refused, diff = state.select(candidates, P, max_txs=0, max_bytes=10**6)
    assert chosen == [] and refused == [] and diff.accounts == {}


def test_select_consumes_a_generator_lazily(state: State) -> None:
    seen = []

    def feed():  # type: ignore[no-untyped-def]
        for n in range(100):
            seen.append(n)
            yield unsigned(A, C, amount=1, nonce=n)

    chosen, _, _ = state.select(feed(), P, max_txs=5, max_bytes=10**6)
    assert len(chosen) == 5 and len(seen) == 6


# -- state root ----------------------------------------------------------------


def reference_root(accounts: dict[bytes, Account]) -> bytes:
    """The documented definition, written independently of node.state."""
    leaves = [
        a + b.to_bytes(8, "big") + n.to_bytes(8, "big")
        for a, (b, n) in sorted(accounts.items())
        if (b, n) != (0, 0)
    ]
    return crypto.merkle_root(leaves)


accounts_st = st.dictionaries(
    st.binary(min_size=32, max_size=32),
    st.builds(Account, st.integers(0, U64_MAX), st.integers(0, U64_MAX)),
    max_size=40,
)


def test_empty_state_root_is_the_hash_of_nothing() -> None:
    assert State(CHAIN, {}).root() == crypto.sha256(b"")
    assert State(CHAIN, {A: Account(0, 0)}).root() == crypto.sha256(b"")


@given(accounts_st, st.randoms(use_true_random=False))
def test_root_matches_the_definition_whatever_the_insertion_order(
    accounts: dict[bytes, Account], rnd: random.Random
) -> None:
    items = list(accounts.items())
    rnd.shuffle(items)
    assert (
        State(CHAIN, dict(items)).root()
        == reference_root(accounts)
        == State(CHAIN, accounts).root()
    )


@given(accounts_st.filter(bool), st.data())
def test_root_changes_with_any_balance_or_nonce(
    accounts: dict[bytes, Account], data: st.DataObject
) -> None:
    state = State(CHAIN, accounts)
    address = data.draw(st.sampled_from(sorted(accounts)))
    old = accounts[address]
    field = data.draw(st.sampled_from(["balance", "nonce"]))
    new = old._replace(**{field: (getattr(old, field) + 1) % (U64_MAX + 1)})
    diff = StateDiff({address: new})
    assert state.root(diff) != state.root()


@settings(max_examples=60)
@given(accounts_st, st.lists(accounts_st, max_size=4), st.data())
def test_incremental_root_equals_a_fresh_build(
    start: dict[bytes, Account], changes: list[dict[bytes, Account]], data: st.DataObject
) -> None:
    state = State(CHAIN, start)
    expected = dict(start)
    for change in changes:
        # also empty some accounts that exist (a revert can do that)
        if expected:
            for gone in data.draw(st.lists(st.sampled_from(sorted(expected)), max_size=3)):
                change[gone] = EMPTY_ACCOUNT
        diff = StateDiff(change)
        predicted = state.root(diff)
        before = state.root()
        copy = state.copy()
        state.apply(diff)
        expected.update(change)
        expected = {a: v for a, v in expected.items() if v != EMPTY_ACCOUNT}
        assert state.root() == predicted == reference_root(expected)
        assert dict(state.accounts) == expected
        # a copy taken before is independent of the original
        assert copy.root() == before


def test_copy_is_independent(state: State) -> None:
    twin = state.copy()
    twin.apply(state.execute([unsigned(A, C, amount=10, nonce=0)], P))
    assert state.account(C) == EMPTY_ACCOUNT and twin.account(C) == Account(10, 0)
    assert state.root() != twin.root()


def test_constructor_refuses_bad_accounts() -> None:
    with pytest.raises(ValueError):
        State(CHAIN, {b"short": Account(1, 0)})
    with pytest.raises(ValueError):
        State(CHAIN, {A: Account(U64_MAX + 1, 0)})
