"""Catch-up: one message pair, one server, one decision of whom to ask.

Unit checks of node/core/catchup.py (the range a request gets, the choice
of a peer, the stall rule, giving up), then the path end to end in the
simulator: a node down for many blocks comes back and fetches them.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from node import crypto
from node.core.catchup import MAX_BLOCKS_PER_REQUEST, CatchUp, GetBlocks, serve, serve_range
from node.ledger import Ledger
from node.sim.scenario import Crash
from node.sim.simulator import SimConfig, Simulation, run_simulation
from node.types import ZERO_HASH


def _chain(height: int) -> Ledger:
    """A PoA-free ledger with ``height`` empty blocks."""
    sim = Simulation(SimConfig(consensus="poa", nodes=1, blocks=1), 0)
    ledger = Ledger.open(":memory:", sim.genesis)
    for h in range(1, height + 1):
        block, _ = ledger.build_block([], proposer=bytes(32), timestamp_ms=1000 * h)
        ledger.commit_block(block)
    return ledger


def test_a_range_is_served_within_the_chain_and_the_limit() -> None:
    ledger = _chain(10)
    try:
        assert serve_range(ledger, GetBlocks(3, 5)) == (3, 5)
        assert serve_range(ledger, GetBlocks(8, 20)) == (8, 10)
        assert serve_range(ledger, GetBlocks(11, 20)) is None
        assert serve_range(ledger, GetBlocks(5, 4)) is None
        assert serve_range(ledger, GetBlocks(0, 2)) == (1, 2)
        reply = serve(ledger, GetBlocks(2, 4), 1 << 20)
        assert [raw for raw, _ in reply.blocks] == [
            ledger.store.load_raw_blocks(h, h, 1 << 20)[0][0] for h in (2, 3, 4)
        ]
        assert serve(ledger, GetBlocks(2, 4), 10).blocks == ()  # not even one fits
    finally:
        ledger.close()


def test_a_locator_moves_the_range_down_to_the_fork_point() -> None:
    ledger = _chain(10)
    try:
        fork = ledger.header(4)
        assert fork is not None
        unknown = crypto.sha256(b"a block of another branch")
        request = GetBlocks(11, 20, (unknown, fork.hash, ledger.header(0).hash))  # type: ignore[union-attr]
        assert serve_range(ledger, request) == (5, 10)  # after the fork, ten blocks long
        only_unknown = GetBlocks(11, 12, (unknown,))
        assert serve_range(ledger, only_unknown) == (1, 2)  # genesis is shared
    finally:
        ledger.close()


@given(start=st.integers(0, 400), length=st.integers(0, 400), height=st.integers(0, 300))
def test_a_served_range_never_exceeds_the_request_or_the_limit(
    start: int, length: int, height: int
) -> None:
    class Chain:
        def __init__(self) -> None:
            self.height = height

    got = serve_range(Chain(), GetBlocks(start, start + length))  # type: ignore[arg-type]
    if got is not None:
        first, last = got
        assert 1 <= first <= last <= height
        assert last - first < min(length + 1, MAX_BLOCKS_PER_REQUEST)


def _behind(ours: int):  # type: ignore[no-untyped-def]
    return lambda height, work: height > ours


def test_the_highest_peer_is_asked_one_request_at_a_time() -> None:
    cu = CatchUp(batch_blocks=8)
    cu.on_status("a", 20, 0)
    cu.on_status("b", 30, 0)
    ask = cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=0)
    assert ask is not None and ask[0] == "b" and ask[2] == GetBlocks(6, 13, ())
    assert (
        cu.syncing
        and cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=1) is None
    )
    cu.on_answer("b", 8, 8, 13)
    ask = cu.next_request(height=13, is_behind=_behind(13), locator=tuple, now_ms=2)
    assert ask is not None and ask[2] == GetBlocks(14, 21, ())


def test_a_one_block_lag_waits_for_the_stall_and_a_useless_peer_is_dropped() -> None:
    cu = CatchUp(stall_ms=2_000, request_timeout_ms=500)
    cu.on_status("a", 6, 0)
    assert cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=0) is None
    assert cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=1_999) is None
    ask = cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=2_000)
    assert ask is not None
    assert cu.on_timeout(ask[1] + 1, 5) is None  # an old timer: ignored
    assert cu.on_timeout(ask[1], 5) == "a"
    # not asked again until it reports a new head
    assert cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=9_000) is None
    cu.on_status("a", 9, 0)
    assert cu.next_request(height=5, is_behind=_behind(5), locator=tuple, now_ms=9_001) is not None
    assert cu.on_gone("a") and cu.in_flight is None and "a" not in cu.peers


def test_an_engine_that_wants_blocks_is_served_at_once() -> None:
    cu = CatchUp(stall_ms=60_000)
    cu.want("p")
    ask = cu.next_request(
        height=3, is_behind=lambda h, w: False, locator=lambda: (ZERO_HASH,), now_ms=0
    )
    assert ask is not None and ask[0] == "p" and ask[2].locator == (ZERO_HASH,)
    cu.on_answer("p", 0, 0, 3)
    assert not cu.wanted


def test_a_node_down_for_many_blocks_catches_up_through_getblocks(tmp_path: Path) -> None:
    for consensus in ("bft", "poa", "pow"):
        config = SimConfig(consensus=consensus, nodes=4, blocks=25)
        config.keep_log = True
        sim = Simulation(config, 4)
        sim.nodes[3].path = str(tmp_path / f"{consensus}-node3.db")
        sim.scenario.crashes = [Crash(3, 500, 20_000)]
        result = sim.run()
        assert result.violations == [], (consensus, result.violations)
        lines = result.log or []
        asked = [line for line in lines if " getblocks " in line and line.endswith("from node3")]
        fetched = [line for line in lines if line.split()[1:3] == ["node3", "blocks"]]
        assert asked and fetched, consensus
        assert result.committed_height >= 25


def test_same_seed_same_catch_up() -> None:
    config = SimConfig(consensus="pow", nodes=4, blocks=6, faults=frozenset({"partition"}))
    a, b = run_simulation(config, 8), run_simulation(config, 8)
    assert a.violations == [] and a.event_log_sha256 == b.event_log_sha256
