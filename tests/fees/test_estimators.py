"""The three estimators share one interface and its rules: a question with no
answer is refused with a typed error, answers never fall as the confidence
rises, and the same views give the same answers. The learned one and the
geth-style one read fee levels relative to the market: scaling every fee
scales the answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.fees.buckets import BucketEstimator
from node.fees.estimator import BadFeeQuery, BlockView, FeeEstimator, PoolView, check_query
from node.fees.percentile import PercentileEstimator
from node.fees.quantile import QuantileEstimator, first_hit_level, weighted_level

LIMIT_TXS, LIMIT_BYTES = 10, 3000


def block(height: int, rates: list[float], size: int = 200) -> BlockView:
    return BlockView(
        height=height,
        time_s=float(height),
        fee_rates=np.array(rates, dtype=np.float64),
        sizes=np.full(len(rates), size, dtype=np.int64),
        max_txs=LIMIT_TXS,
        max_bytes=LIMIT_BYTES,
        tx_ids=tuple(f"b{height}-{i}" for i in range(len(rates))),
    )


def pool(height: int, rates: list[float], admitted: int, size: int = 200) -> PoolView:
    return PoolView(
        time_s=float(height),
        fee_rates=np.array(rates, dtype=np.float64),
        sizes=np.full(len(rates), size, dtype=np.int64),
        size=len(rates),
        bytes=size * len(rates),
        admitted_total=admitted,
        tx_ids=tuple(f"p{height}-{i}" for i in range(len(rates))),
    )


def estimators() -> list[FeeEstimator]:
    return [QuantileEstimator(), BucketEstimator(), PercentileEstimator()]


# A market: per block, the included rates and the pool left after it.
Market = list[tuple[list[float], list[float]]]

rates_st = st.lists(st.floats(0.1, 50.0, allow_nan=False), max_size=LIMIT_TXS)
markets = st.lists(st.tuples(rates_st, st.lists(st.floats(0.1, 50.0), max_size=40)), max_size=40)


def feed(estimator: FeeEstimator, market: Market, scale: float = 1.0) -> None:
    admitted = 0
    for h, (included, left) in enumerate(market, start=1):
        admitted += len(included) + len(left)
        estimator.observe_block(block(h, [r * scale for r in included]))
        estimator.observe_pool(pool(h, [r * scale for r in left], admitted))


@pytest.mark.parametrize(
    ("blocks", "confidence", "code"),
    [
        (0, 0.9, "bad_blocks"),
        (-3, 0.9, "bad_blocks"),
        (2000, 0.9, "bad_blocks"),
        (True, 0.9, "bad_blocks"),
        (2.5, 0.9, "bad_blocks"),
        ("3", 0.9, "bad_blocks"),
        (3, 0.0, "bad_confidence"),
        (3, 1.0, "bad_confidence"),
        (3, 1.5, "bad_confidence"),
        (3, -0.1, "bad_confidence"),
        (3, math.nan, "bad_confidence"),
        (3, math.inf, "bad_confidence"),
        (3, "0.9", "bad_confidence"),
        (3, None, "bad_confidence"),
    ],
)
def test_a_question_with_no_answer_is_a_typed_error(
    blocks: object, confidence: object, code: str
) -> None:
    with pytest.raises(BadFeeQuery) as caught:
        check_query(blocks, confidence)
    assert caught.value.code == code
    for estimator in estimators():
        with pytest.raises(BadFeeQuery):
            estimator.estimate(blocks, confidence)  # type: ignore[arg-type]


def test_a_block_with_room_clears_at_zero_and_a_full_one_at_its_lowest_rate() -> None:
    assert block(1, [3.0, 1.0]).clearing_rate == 0.0
    assert block(1, [3.0] * 9 + [1.5]).clearing_rate == 1.5
    by_bytes = block(1, [2.0, 4.0], size=1400)  # 2800 of 3000 bytes: no room for a third
    assert by_bytes.clearing_rate == 2.0
    assert block(1, []).clearing_rate == 0.0


def test_the_basis_reports_pool_fullness_and_arrivals() -> None:
    estimator = PercentileEstimator()
    feed(estimator, [([1.0] * 10, [1.0] * 5), ([1.0] * 5, [])])
    basis = estimator.estimate().basis
    assert basis.pool_txs == 0 and basis.recent_blocks == 2 and basis.height == 2
    assert basis.block_fullness == pytest.approx((1.0 + 0.5) / 2)
    assert basis.arrival_tps == pytest.approx(5.0)  # 15 then 5 more over one second


@settings(max_examples=40)
@given(market=markets, blocks=st.integers(1, 30), low=st.floats(0.01, 0.98))
def test_answers_are_fee_rates_that_never_fall_as_confidence_rises(
    market: Market, blocks: int, low: float
) -> None:
    high = min(0.99, low + 0.01 + (0.99 - low) / 2)
    for estimator in estimators():
        feed(estimator, market)
        a, b = estimator.estimate(blocks, low), estimator.estimate(blocks, high)
        if estimator.name == "buckets" and not (a.answered and b.answered):
            continue  # too little data: Core answers nothing
        assert a.fee_rate >= 0 and math.isfinite(a.fee_rate), estimator.name
        assert b.fee_rate >= a.fee_rate - 1e-9, estimator.name
        assert a.fee(250) is not None and a.fee(250) >= 0


@settings(max_examples=25)
@given(market=markets, scale=st.sampled_from([0.01, 3.0, 1000.0]), confidence=st.floats(0.05, 0.99))
def test_scaling_every_fee_scales_the_answer(
    market: Market, scale: float, confidence: float
) -> None:
    for make in (QuantileEstimator, PercentileEstimator):
        plain, scaled = make(), make()
        feed(plain, market)
        feed(scaled, market, scale)
        a = plain.estimate(3, confidence).fee_rate
        b = scaled.estimate(3, confidence).fee_rate
        assert b == pytest.approx(a * scale, rel=1e-6, abs=1e-9), make.name


@settings(max_examples=20)
@given(market=markets)
def test_the_same_views_give_the_same_answers(market: Market) -> None:
    for one, two in zip(estimators(), estimators(), strict=True):
        feed(one, market)
        feed(two, market)
        a, b = one.estimate(2, 0.8), two.estimate(2, 0.8)
        assert (a.fee_rate == b.fee_rate) or (math.isnan(a.fee_rate) and math.isnan(b.fee_rate))


def test_the_percentile_baseline_is_the_confidence_percentile_of_the_cheapest_txs() -> None:
    estimator = PercentileEstimator()
    feed(estimator, [([5.0, 1.0, 2.0, 3.0], []), ([10.0, 4.0, 6.0, 8.0], [])])
    # the 3 cheapest of each: 1, 2, 3, 4, 6, 8; geth picks index (6 - 1) * P
    assert estimator.estimate(1, 0.5).fee_rate == 3.0
    assert estimator.estimate(1, 0.99).fee_rate == 6.0
    assert estimator.estimate(9, 0.5).fee_rate == 3.0  # no target in geth's oracle


def test_the_bucket_baseline_learns_which_rates_get_in() -> None:
    """Txs paying 8 get in at the next block; txs paying 1 wait for ever."""
    estimator = BucketEstimator()
    admitted = 0
    cheap = [f"cheap-{i}" for i in range(5)]
    for h in range(1, 80):
        fresh = [f"rich-{h}-{i}" for i in range(10)]
        admitted += len(fresh)
        seen = PoolView(
            float(h),
            np.array([8.0] * 10 + [1.0] * 5),
            np.full(15, 200, dtype=np.int64),
            15,
            3000,
            admitted,
            tuple(fresh + cheap),
        )
        estimator.observe_pool(seen)
        estimator.observe_block(
            BlockView(h, float(h), np.full(10, 8.0), np.full(10, 200), 10, 3000, tuple(fresh))
        )
        left = PoolView(float(h), np.ones(5), np.full(5, 200), 5, 1000, admitted, tuple(cheap))
        estimator.observe_pool(left)
    assert estimator.estimate(1, 0.9).fee_rate == pytest.approx(8.0)
    assert estimator.estimate(3, 0.95).fee_rate == pytest.approx(8.0)


def test_a_new_estimator_has_no_answer_from_buckets_and_a_pool_rate_from_the_model() -> None:
    assert not BucketEstimator().estimate().answered
    model = QuantileEstimator()
    assert model.estimate().fee_rate == 0.0
    model.observe_pool(pool(0, [2.0, 7.0], 2))
    assert model.estimate().fee_rate == 7.0  # no block yet: outbid the best


def test_recalibration_levels() -> None:
    levels = np.array([0.0, 0.5, 0.9])
    rates = np.array([0.0, 2.0, 4.0])
    assert first_hit_level(levels, rates, 0.0) == 0.0
    assert first_hit_level(levels, rates, 1.0) == pytest.approx(0.25)
    assert first_hit_level(levels, rates, 3.0) == pytest.approx(0.7)
    assert first_hit_level(levels, rates, 5.0) == 1.0
    u = np.array([0.0, 0.0, 0.5, 1.0])
    assert weighted_level(u, np.ones(4), 0.5) == 0.0
    assert weighted_level(u, np.ones(4), 0.75) == 0.5
    assert weighted_level(u, np.array([1.0, 1.0, 1.0, 5.0]), 0.5) == 1.0
