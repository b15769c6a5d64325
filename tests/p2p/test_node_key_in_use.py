"""Two processes with one node key: each side that dials says so once, as an
ERROR that tells the operator what to do, and keeps backing off."""

from __future__ import annotations

import logging
import os

import pytest
from p2pkit import Net, connected, free_port, net_test, wait_until

from node.p2p.transport import Transport


def key_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and "p2p.node_key_in_use" in r.getMessage()
    ]


def failures(t: Transport, peer: Transport) -> int:
    """Dials of ``peer`` that failed in a row: each one backs off longer."""
    entry = t._book.get(("127.0.0.1", peer.listen_port))
    return entry.failures if entry is not None else 0


def duplicate_refusals(t: Transport) -> int:
    return sum(n for reason, n in t.metrics.refused.items() if "duplicate_connection" in reason)


def test_a_second_process_with_a_connected_key_is_told_once_and_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body(net: Net) -> None:
        seed = os.urandom(32)
        clone_port = free_port()
        a = await net.node(static_peers=(f"127.0.0.1:{clone_port}",), pex_interval_s=0)
        b = await net.node(seed=seed, peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "the first holder of the key")
        with caplog.at_level(logging.INFO, logger="node.p2p"):
            # the same key again, elsewhere; it dials A, and A dials it
            clone = await net.node(seed=seed, port=clone_port, peers=(a,), pex_interval_s=0)
            await wait_until(lambda: len(key_errors(caplog)) == 2, "both dialling sides say so")
            await wait_until(lambda: failures(clone, a) >= 3, "the clone keeps trying, slower")
        assert clone.peer_ids == [] and connected(a, b)  # the first link is kept, not swapped
        errors = key_errors(caplog)
        assert len(errors) == 2  # once per address, however often it is retried
        assert all(
            "another process uses this node's key; give each node its own key" in e for e in errors
        )
        assert any(f"addr=127.0.0.1:{a.listen_port}" in e for e in errors)  # the clone's view
        assert any(f"addr=127.0.0.1:{clone_port}" in e for e in errors)  # A's view
        assert duplicate_refusals(clone) >= 3

    net_test(body)
