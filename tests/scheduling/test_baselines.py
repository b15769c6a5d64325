"""The baseline policies beyond fifo and fee, in the real mempool."""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from node.mempool import Mempool
from node.scheduling.baselines import FAIR_RATE_TPS, FairFeePolicy
from node.scheduling.features import FEATURE_NAMES, FeatureTracker
from node.scheduling.policy import BlockLimits, TxColumns, load_policy
from node.types import Transaction

CHAIN = "bench"


def _addr(i: int) -> bytes:
    return hashlib.sha256(f"acct-{i}".encode()).digest()


def _tx(sender: int, nonce: int, fee: int, pad: int = 0) -> Transaction:
    return Transaction(
        chain_id=CHAIN,
        sender=_addr(sender),
        nonce=nonce,
        recipient=_addr(999),
        amount=1,
        fee=fee,
        data=bytes(pad),
    )


def _pool(policy_name: str) -> Mempool:
    return Mempool(chain_id=CHAIN, accounts=lambda a: (10**15, 0), policy=load_policy(policy_name))


def _columns(senders: list[int], arrivals: list[float], fee: float = 100.0) -> TxColumns:
    n = len(senders)
    return TxColumns(
        arrival_s=np.asarray(arrivals, dtype=np.float64),
        fee=np.full(n, fee),
        size=np.full(n, 100, dtype=np.int64),
        nonce=np.zeros(n, dtype=np.uint64),
        nonce_gap=np.zeros(n, dtype=np.int64),
        sender=[_addr(s) for s in senders],
        recipient=[_addr(999)] * n,
    )


def test_fair_fee_is_the_fee_rate_for_a_sender_seen_for_the_first_time() -> None:
    cols = _columns([1, 2, 3], [0.0, 0.1, 0.2])
    assert np.array_equal(FairFeePolicy().score(cols), cols.fee_rate)


def test_a_flooding_sender_ranks_below_a_quiet_one_at_an_equal_fee_rate() -> None:
    flood = [1] * 50 + [2]
    cols = _columns(flood, [i * 0.02 for i in range(len(flood))])
    scores = FairFeePolicy().score(cols)
    assert scores[-1] == cols.fee_rate[-1]  # the quiet sender's first tx: full rate
    assert np.all(np.diff(scores[:50]) < 0)  # each flood tx counts less than the last
    assert scores[49] < scores[-1] / 2  # 50 txs in 1 s: far above FAIR_RATE_TPS


def test_fair_fee_discounts_by_the_learned_policys_sender_rate() -> None:
    rng = np.random.default_rng(4)
    senders = list(rng.integers(0, 6, 200))
    arrivals = list(np.cumsum(rng.exponential(0.3, 200)))
    cols = _columns(senders, arrivals)
    rate = FeatureTracker().features(cols)[:, FEATURE_NAMES.index("sender_rate_tps")]
    expected = cols.fee_rate / (1 + rate / FAIR_RATE_TPS)
    assert np.allclose(FairFeePolicy().score(cols), expected)


@given(cut=st.integers(0, 40), seed=st.integers(0, 2**32 - 1))
def test_fair_fee_scores_do_not_depend_on_how_arrivals_were_batched(cut: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    senders = list(rng.integers(0, 4, 40))
    arrivals = list(np.cumsum(rng.exponential(0.5, 40)))
    whole = FairFeePolicy().score(_columns(senders, arrivals))
    split = FairFeePolicy()
    parts = [
        split.score(_columns(senders[:cut], arrivals[:cut])),
        split.score(_columns(senders[cut:], arrivals[cut:])),
    ]
    assert np.allclose(np.concatenate(parts), whole)


def test_fair_fee_orders_a_real_pool_and_a_node_can_configure_it() -> None:
    policy = load_policy("fair-fee")
    pool = Mempool(chain_id=CHAIN, accounts=lambda a: (10**15, 0), policy=policy)

    def tx(sender: int, nonce: int) -> Transaction:
        return Transaction(
            chain_id=CHAIN,
            sender=_addr(sender),
            nonce=nonce,
            recipient=_addr(999),
            amount=1,
            fee=100,
        )

    flood = [tx(1, n) for n in range(30)]
    quiet = tx(2, 0)
    results = pool.admit([*flood, quiet], 0.0, signatures_checked=True)
    assert all(r.accepted for r in results)
    block = pool.select(BlockLimits(max_txs=2, max_bytes=10**6), 0.0)
    # the flooder's first tx came before anyone sent more: full rate, earliest;
    # the quiet sender's tx outranks every later flood tx
    assert [t.id for t in block] == [flood[0].id, quiet.id]


def test_package_takes_a_cheap_parent_for_its_rich_child() -> None:
    pool = _pool("package")
    parent, child = _tx(1, 0, fee=1), _tx(1, 1, fee=10_000)
    middling = _tx(2, 0, fee=3_000)
    pool.admit([parent, child, middling], 0.0, signatures_checked=True)
    assert pool.select(BlockLimits(max_txs=2, max_bytes=10**6), 0.0) == [parent, child]
    # fee alone ranks the parent last, and so never reaches the child in time
    fee_pool = _pool("fee")
    fee_pool.admit([parent, child, middling], 0.0, signatures_checked=True)
    assert fee_pool.select(BlockLimits(max_txs=2, max_bytes=10**6), 0.0) == [middling, parent]


def test_package_ranks_a_sender_again_from_its_new_next_tx() -> None:
    pool = _pool("package")
    rich, poor = _tx(1, 0, fee=9_000), _tx(1, 1, fee=1)
    other = _tx(2, 0, fee=500)
    pool.admit([rich, poor, other], 0.0, signatures_checked=True)
    # the best package of sender 1 is its first tx alone; then its second
    # competes on its own rate, below sender 2's
    assert pool.select(BlockLimits(max_txs=3, max_bytes=10**6), 0.0) == [rich, other, poor]


def _reference_package_order(
    chains: list[list[tuple[int, int]]], max_txs: int
) -> list[tuple[int, int]]:
    """Brute force: repeatedly take the sender prefix with the best average
    fee rate (shortest on ties, first sender on ties), as (sender, nonce)."""
    heads = [0] * len(chains)
    out: list[tuple[int, int]] = []
    while len(out) < max_txs:
        best: tuple[float, int, int] | None = None
        for s, chain in enumerate(chains):
            for stop in range(heads[s] + 1, len(chain) + 1):
                part = chain[heads[s] : stop]
                rate = sum(f for f, _ in part) / sum(z for _, z in part)
                if best is None or rate > best[0] + 1e-12:
                    best = (rate, s, stop)
        if best is None:
            break
        _, s, stop = best
        for nonce in range(heads[s], stop):
            if len(out) < max_txs:
                out.append((s, nonce))
        heads[s] = stop
    return out


@given(
    chains=st.lists(
        st.lists(st.integers(1, 10_000), min_size=1, max_size=5), min_size=1, max_size=6
    ),
    max_txs=st.integers(1, 30),
)
def test_package_matches_the_brute_force_package_rule(
    chains: list[list[int]], max_txs: int
) -> None:
    pool = _pool("package")
    txs = {(s, n): _tx(s, n, fee) for s, chain in enumerate(chains) for n, fee in enumerate(chain)}
    pool.admit(list(txs.values()), 0.0, signatures_checked=True)
    block = pool.select(BlockLimits(max_txs=max_txs, max_bytes=10**9), 0.0)
    sized = [
        [(fee, len(txs[(s, n)].encode())) for n, fee in enumerate(c)] for s, c in enumerate(chains)
    ]
    sender_of = {_addr(s): s for s in range(len(chains))}
    got = [(sender_of[tx.sender], tx.nonce) for tx in block]
    # the pool lists senders in admission order, as the reference does
    assert got == _reference_package_order(sized, max_txs)


def test_package_stops_a_sender_at_a_tx_that_does_not_fit() -> None:
    pool = _pool("package")
    small, big = _tx(1, 0, fee=5_000), _tx(1, 1, fee=900_000, pad=1_000)
    other = _tx(2, 0, fee=100)
    pool.admit([small, big, other], 0.0, signatures_checked=True)
    room = len(small.encode()) + len(other.encode()) + 10
    assert pool.select(BlockLimits(max_txs=10, max_bytes=room), 0.0) == [small, other]
