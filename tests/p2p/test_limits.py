"""Token buckets, the per-peer throttle, and the seen cache."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.p2p.ratelimit import PeerThrottle, TokenBucket
from node.p2p.seen import SeenCache


def test_a_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate_per_s=10, burst=5, now_s=0.0)
    assert all(bucket.take(1, 0.0) for _ in range(5))
    assert not bucket.take(1, 0.0)
    assert bucket.take(1, 0.1)  # one token back after 0.1 s
    assert not bucket.take(1, 0.1)
    assert bucket.tokens(100.0) == 5  # never above the burst
    assert not bucket.take(6, 100.0)  # more than the burst never passes
    with pytest.raises(ValueError):
        TokenBucket(rate_per_s=0, burst=1, now_s=0.0)


@given(st.lists(st.tuples(st.floats(0, 2), st.floats(0, 10)), max_size=50))
def test_a_bucket_never_grants_more_than_burst_plus_rate_times_time(
    steps: list[tuple[float, float]],
) -> None:
    bucket = TokenBucket(rate_per_s=3, burst=10, now_s=0.0)
    now, granted = 0.0, 0.0
    for dt, amount in steps:
        now += dt
        if bucket.take(amount, now):
            granted += amount
    assert granted <= 10 + 3 * now + 1e-9


def throttle(**overrides: float) -> PeerThrottle:
    options: dict[str, float] = {
        "msgs_per_s": 10,
        "burst_msgs": 10,
        "bytes_per_s": 1000,
        "burst_bytes": 1000,
        "flood_strikes": 5,
        "flood_window_s": 10,
        "now_s": 0.0,
    }
    options.update(overrides)
    return PeerThrottle(**options)  # type: ignore[arg-type]


def test_the_throttle_limits_messages_and_bytes() -> None:
    t = throttle()
    assert all(t.admit(10, 0.0) for _ in range(10))
    assert not t.admit(10, 0.0)  # out of messages
    t = throttle()
    assert t.admit(900, 0.0)
    assert not t.admit(200, 0.0)  # out of bytes
    assert t.admit(100, 0.0)  # a refused message did not use a message token
    assert not t.flooding


def test_a_peer_that_keeps_overshooting_is_flagged_as_flooding() -> None:
    t = throttle()
    for _ in range(10):
        t.admit(1, 0.0)
    for _ in range(5):
        assert not t.admit(1, 0.0)
    assert not t.flooding  # five strikes spent
    assert not t.admit(1, 0.0)
    assert t.flooding


def test_strikes_come_back_so_occasional_overshoot_is_only_throttled() -> None:
    t = throttle()
    now = 0.0
    for _ in range(100):  # one overshoot every 2 s: strikes refill at 0.5/s
        while t.admit(1, now):
            pass
        now += 2.0
    assert not t.flooding


def test_the_seen_cache_forgets_the_least_recently_used_key() -> None:
    seen = SeenCache(3)
    assert seen.add_many([b"a", b"b", b"c", b"a"]) == [True, True, True, False]
    assert seen.add(b"d")  # evicts b (a was touched again)
    assert b"b" not in seen and b"a" in seen and b"c" in seen and len(seen) == 3
    assert seen.add(b"b")
    with pytest.raises(ValueError):
        SeenCache(0)


@given(st.lists(st.binary(max_size=2), max_size=200), st.integers(1, 20))
def test_the_seen_cache_is_bounded_and_remembers_its_recent_keys(
    keys: list[bytes], capacity: int
) -> None:
    seen = SeenCache(capacity)
    for key in keys:
        seen.add(key)
    assert len(seen) <= capacity
    recent = list(dict.fromkeys(reversed(keys)))[:capacity]
    assert all(key in seen for key in recent)
