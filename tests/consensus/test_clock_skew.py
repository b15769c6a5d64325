"""A validator whose clock runs a year ahead, against real node processes.

Four BFT validators on loopback; node3 is started with the test-only
``ORDINET_CLOCK_OFFSET_MS`` a year ahead (node/runtime/clock.py). The three
others prevote nil on its proposals (stamped a year ahead by its clock), so
its slots pass to the next round: the chain keeps committing, node3 follows
it, and no committed block is stamped more than ``bft.MAX_AHEAD_MS`` ahead
of real time. Before the bound, node3's first proposal moved every node's
head a year ahead, and the blocks after it advanced 1 ms each.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nodekit import Cluster

from node.consensus import bft
from node.errors import ConfigError
from node.runtime.clock import CLOCK_OFFSET_ENV, Clock, clock_offset_ms

YEAR_MS = 365 * 24 * 3600 * 1000
# heights to watch: node3 owns round 0 of every fourth height, so it gets
# several slots and each has to pass to the next round
HEIGHTS = 10


def test_a_validator_a_year_ahead_cannot_move_the_chains_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = Cluster(tmp_path, consensus="bft", nodes=4)
    try:
        honest, skewed = cluster.nodes[:3], cluster.nodes[3]
        for node in honest:
            node.start()
        with monkeypatch.context() as env:
            env.setenv(CLOCK_OFFSET_ENV, str(YEAR_MS))
            skewed.start()
        for node in cluster.nodes:
            node.wait_ready()
        start = min(cluster.heights())
        cluster.wait_height(start + HEIGHTS)
        upto = cluster.assert_same_chain()
        now_ms = time.time_ns() // 1_000_000
        skewed_key = cluster.homes.nodes[3].key.address_hex
        proposers = set()
        for height in range(1, upto + 1):
            block = honest[0].client.block(height)
            assert block["timestamp_ms"] <= now_ms + bft.MAX_AHEAD_MS, (
                f"block {height} is stamped {block['timestamp_ms'] - now_ms} ms ahead"
            )
            proposers.add(block["proposer"])
        # the skew was real: none of node3's proposals was committed ...
        assert skewed_key not in proposers
        # ... and node3 follows the chain the others make
        assert skewed.height() >= start + HEIGHTS - 1
        assert "clock.offset" in skewed.log_path.read_text(errors="replace")
    finally:
        cluster.close()


def test_the_clock_offset_knob_takes_an_integer_only() -> None:
    assert clock_offset_ms({}) == 0
    assert clock_offset_ms({CLOCK_OFFSET_ENV: "-1500"}) == -1500
    for bad in ("soon", "1e9", str(200 * YEAR_MS)):
        with pytest.raises(ConfigError, match=CLOCK_OFFSET_ENV):
            clock_offset_ms({CLOCK_OFFSET_ENV: bad})
    assert abs(Clock(offset_ms=YEAR_MS).now_ms() - (time.time_ns() // 1_000_000 + YEAR_MS)) < 60_000
