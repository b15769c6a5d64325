"""The load generator against a real node: a replayed workload lands with
the trace's fees, and txs a full pool refuses are sent again until every
one is committed, none twice, with each sender's nonces unbroken."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.client import Client
from node.research.trace import Trace
from node.research.workloads import generate, load_workload
from node.testnet.load import LoadGenerator, LoadReport
from node.testnet.network import Testnet
from node.testnet.profile import TestnetProfile
from node.testnet.session import load_wallets

WORKLOADS = Path(__file__).resolve().parents[2] / "configs" / "workloads"


@pytest.fixture
def single_node(net_home: Path) -> Iterator[Testnet]:
    """One PoA node with a small pool (64 txs), so that load overflows it."""
    profile = TestnetProfile(
        nodes=1,
        consensus="poa",
        accounts=40,
        config={"mempool": {"max_txs": 64}},
        params={"block_interval_ms": 300},
    ).check()
    net = Testnet.create(profile, net_home)
    net.start_all()
    net.wait_ready(120.0)
    yield net
    net.stop_all()


def _run(net: Testnet, *, tps: float, duration_s: float, trace: Trace | None = None) -> LoadReport:
    async def go() -> LoadReport:
        wallets = load_wallets(net.home / "accounts")
        urls = [n.rpc_url for n in net.nodes]
        async with LoadGenerator(urls, wallets, tps=tps, duration_s=duration_s, trace=trace) as g:
            await g.run()
            await g.drain(120.0)
            return g.report()

    return asyncio.run(go())


def test_refused_txs_are_sent_again_until_all_are_committed(single_node: Testnet) -> None:
    report = _run(single_node, tps=400, duration_s=4)
    assert report.refused.get("mempool_full", 0) + report.refused.get("sender_full", 0) > 0
    assert report.sends > report.built  # the refused ones went again
    assert report.built >= 400 and report.never_accepted == 0
    assert report.lost == 0 and report.duplicates == 0
    assert report.committed == report.built
    assert report.latency_ms_p50 is not None and report.latency_ms_p99 is not None
    assert report.latency_ms_p50 <= report.latency_ms_p99
    # each sender's committed nonce is exactly the count of its txs: no gap, no skip
    client = Client(single_node.nodes[0].rpc_url)
    wallets = load_wallets(single_node.home / "accounts")
    nonces = [client.account(w.address)["nonce"] for w in wallets]
    assert sum(nonces) == report.committed


def test_a_workload_is_replayed_with_its_fees(single_node: Testnet) -> None:
    trace = generate(load_workload(WORKLOADS / "steady.toml"), seed=3, duration_s=30.0)
    report = _run(single_node, tps=150, duration_s=3, trace=trace)
    assert report.built > 100 and report.lost == 0 and report.committed == report.built
    client = Client(single_node.nodes[0].rpc_url)
    fees = {int(f) for f in trace.fee}
    sample = report.accepted_ids[:20]
    assert all(client.tx(tx_id)["tx"]["fee"] in fees for tx_id in sample)
