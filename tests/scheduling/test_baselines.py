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
    block = pool.select(BlockLimits(max_txs=2, max_bytes=10**6))
    # the flooder's first tx came before anyone sent more: full rate, earliest;
    # the quiet sender's tx outranks every later flood tx
    assert [t.id for t in block] == [flood[0].id, quiet.id]
