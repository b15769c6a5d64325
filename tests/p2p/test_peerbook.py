"""The address book: parsing, backoff with jitter, forgetting, bans."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import ConfigError
from node.p2p.peerbook import PeerBook, backoff_s, format_address, is_loopback, parse_address

STATIC = ("10.0.0.1", 26656)
LEARNED = ("10.0.0.2", 26656)


def book(**overrides: object) -> PeerBook:
    options: dict[str, object] = {
        "static": (STATIC,),
        "max_known": 4,
        "backoff_base_s": 1.0,
        "backoff_max_s": 8.0,
        "max_failures": 3,
        "rng": random.Random(7),
    }
    options.update(overrides)
    return PeerBook(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "addr"),
    [
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("node-1.example:1", ("node-1.example", 1)),
        ("[::1]:65535", ("::1", 65535)),
    ],
)
def test_addresses_parse_and_format_back(text: str, addr: tuple[str, int]) -> None:
    assert parse_address(text) == addr
    assert format_address(addr) == text


@pytest.mark.parametrize("text", ["", "host", ":9000", "host:", "host:0", "host:65536", "h:x1"])
def test_malformed_addresses_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_address(text)


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.9.9.9") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.org")


@given(st.integers(0, 100), st.integers(0, 2**32))
def test_backoff_grows_to_its_cap_with_jitter_in_the_upper_half(failures: int, seed: int) -> None:
    delay = backoff_s(failures, base_s=0.5, max_s=30.0, rng=random.Random(seed))
    ceiling = min(30.0, 0.5 * 2**failures)
    assert ceiling / 2 <= delay <= ceiling


def test_a_failing_address_backs_off_and_a_connection_resets_it() -> None:
    b = book()
    assert [e.addr for e in b.due(0.0)] == [STATIC]
    b.dial_failed(STATIC, 0.0)
    assert b.due(0.0) == []
    b.dial_failed(STATIC, 0.0)
    b.dial_failed(STATIC, 0.0)
    entry = b.get(STATIC)
    assert entry is not None and entry.failures == 3 and 4.0 <= entry.next_dial_s <= 8.0
    assert [e.addr for e in b.due(8.0)] == [STATIC]
    b.connected(STATIC, b"n" * 32)
    b.disconnected(STATIC, 10.0)
    assert entry.failures == 0 and entry.next_dial_s <= 11.0
    assert entry.node_id == b"n" * 32


def test_learned_addresses_are_bounded_and_forgotten_after_failures_static_ones_stay() -> None:
    b = book()
    assert b.learn(LEARNED, None, 0.0)
    assert not b.learn(LEARNED, b"x" * 32, 0.0)  # known: left as it is
    assert b.get(LEARNED).claimed_id is None  # type: ignore[union-attr]
    for i in range(10):
        b.learn((f"10.1.0.{i}", 1), None, 0.0)
    assert len(b) == 4  # max_known
    for _ in range(4):
        b.dial_failed(LEARNED, 0.0)
        b.dial_failed(STATIC, 0.0)
    assert LEARNED not in b and STATIC in b
    b.forget(STATIC)
    assert STATIC in b


def test_bans_by_id_address_and_ip_expire() -> None:
    b = book()
    b.ban(100.0, node_id=b"i" * 32, addr=LEARNED, ip="10.9.9.9")
    assert b.is_banned(50.0, node_id=b"i" * 32)
    assert b.is_banned(50.0, addr=LEARNED)
    assert b.is_banned(50.0, ip="10.9.9.9")
    assert not b.is_banned(50.0, node_id=b"j" * 32, addr=STATIC, ip="10.9.9.8")
    assert b.bans(50.0) == {
        "node_ids": [(b"i" * 32).hex()],
        "addresses": ["10.0.0.2:26656"],
        "ips": ["10.9.9.9"],
    }
    b.learn(LEARNED, None, 0.0)
    assert LEARNED not in [e.addr for e in b.due(50.0)]  # banned addresses are not dialled
    assert not b.is_banned(100.0, node_id=b"i" * 32)
    assert b.bans(100.0) == {"node_ids": [], "addresses": [], "ips": []}


def test_loopback_ips_are_never_banned_since_local_nodes_share_them() -> None:
    b = book()
    b.ban(100.0, ip="127.0.0.1")
    assert not b.is_banned(0.0, ip="127.0.0.1")


def test_reset_backoff_makes_everyone_due_now() -> None:
    b = book()
    b.learn(LEARNED, None, 0.0)
    for _ in range(3):
        b.dial_failed(STATIC, 0.0)
        b.dial_failed(LEARNED, 0.0)
    b.reset_backoff(1.0)
    assert {e.addr for e in b.due(1.0)} == {STATIC, LEARNED}


def test_a_learned_address_has_no_node_id_until_a_dial_proves_one() -> None:
    b = book()
    b.learn(LEARNED, b"c" * 32, 0.0)
    b.learn(STATIC, b"c" * 32, 0.0)
    entry = b.get(LEARNED)
    assert entry is not None and entry.node_id is None  # whoever named it is not believed
    assert entry.claimed_id == b"c" * 32  # a hint, that no ban follows
    assert b.get(STATIC).claimed_id is None  # type: ignore[union-attr]
    b.ban(100.0, node_id=b"c" * 32)
    assert LEARNED in [e.addr for e in b.due(0.0)]
    b.connected(LEARNED, b"p" * 32)  # our dial, authenticated
    assert entry.node_id == entry.claimed_id == b"p" * 32
    b.ban(100.0, node_id=b"p" * 32)
    assert LEARNED not in [e.addr for e in b.due(0.0)]
