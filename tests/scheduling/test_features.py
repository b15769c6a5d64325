"""Features: from observable columns only, and independent of batching."""

from __future__ import annotations

import math

import numpy as np

from node.scheduling.features import FEATURE_NAMES, FeatureTracker
from node.scheduling.policy import TxColumns

BATCH_DEPENDENT = {"pool_size", "pool_mbytes"}


def _columns(rows: range, rng: np.random.Generator, times: np.ndarray) -> TxColumns:
    n = len(rows)
    return TxColumns(
        arrival_s=times[rows.start : rows.stop],
        fee=rng.integers(100, 2000, n).astype(np.float64),
        size=rng.integers(170, 500, n),
        nonce=np.zeros(n, dtype=np.uint64),
        nonce_gap=rng.integers(0, 3, n),
        sender=[bytes([int(s)]) * 32 for s in rng.integers(0, 6, n)],
        recipient=[bytes([100 + int(r)]) * 32 for r in rng.integers(0, 4, n)],
    )


def test_features_do_not_depend_on_how_arrivals_are_batched() -> None:
    times = np.sort(np.random.default_rng(0).uniform(0, 120, 300))
    whole = _columns(range(0, 300), np.random.default_rng(1), times)
    one = FeatureTracker(half_life_s=10.0).features(whole)
    tracker = FeatureTracker(half_life_s=10.0)
    parts = []
    for lo, hi in ((0, 7), (7, 150), (150, 151), (151, 300)):
        sub = TxColumns(
            arrival_s=whole.arrival_s[lo:hi],
            fee=whole.fee[lo:hi],
            size=whole.size[lo:hi],
            nonce=whole.nonce[lo:hi],
            nonce_gap=whole.nonce_gap[lo:hi],
            sender=whole.sender[lo:hi],
            recipient=whole.recipient[lo:hi],
        )
        parts.append(tracker.features(sub))
    split = np.concatenate(parts)
    assert one.shape == (300, len(FEATURE_NAMES))
    for j, name in enumerate(FEATURE_NAMES):
        if name not in BATCH_DEPENDENT:
            np.testing.assert_allclose(split[:, j], one[:, j], rtol=1e-9, atol=1e-12, err_msg=name)


def test_sender_history_decays_with_the_half_life() -> None:
    alice, bob, carol = b"a" * 32, b"b" * 32, b"c" * 32
    cols = TxColumns(
        arrival_s=np.array([0.0, 30.0, 30.0]),
        fee=np.array([400.0, 400.0, 400.0]),
        size=np.array([200, 200, 200]),
        nonce=np.array([0, 1, 0], dtype=np.uint64),
        nonce_gap=np.array([0, 0, 0]),
        sender=[alice, alice, bob],
        recipient=[carol, carol, carol],
        pool_size=7,
        pool_bytes=2_000_000,
    )
    f = FeatureTracker(half_life_s=30.0).features(cols)
    col = {name: f[:, i] for i, name in enumerate(FEATURE_NAMES)}
    lam = math.log(2) / 30.0
    assert np.allclose(col["sender_rate_tps"], [0.0, lam * 0.5, 0.0])
    assert math.isclose(col["sender_log_count"][1], math.log1p(2**-0.1))
    # the recipient saw both earlier txs: one 30 s ago, one just now
    assert math.isclose(col["recipient_rate_tps"][2], lam * 1.5)
    assert np.allclose(col["log_fee_rate"], math.log1p(2.0))
    assert col["pool_size"].tolist() == [7, 7, 7] and col["pool_mbytes"][0] == 2.0
    assert np.allclose(col["fee_rate_vs_recent"], 0.0)


def test_empty_batch_gives_no_rows() -> None:
    empty = TxColumns(
        arrival_s=np.zeros(0),
        fee=np.zeros(0),
        size=np.zeros(0, dtype=np.int64),
        nonce=np.zeros(0, dtype=np.uint64),
        nonce_gap=np.zeros(0, dtype=np.int64),
        sender=[],
        recipient=[],
    )
    assert FeatureTracker().features(empty).shape == (0, len(FEATURE_NAMES))
