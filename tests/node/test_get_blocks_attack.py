"""A peer that asks for many big block ranges and never reads costs the node
a bounded amount of memory and no responsiveness: the answers are read off
the event loop without decoding, a peer's requests count until their answer
is written, and a peer that does not read is dropped as a slow reader."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

from attacker import Attacker, load_big_blocks
from nodekit import Cluster, NodeProcess, wait_until

from node.client import Client
from node.p2p.messages import GetBlocks
from node.store import Store

REQUESTS = 60
MB = 1_000_000
TXS = 20_000  # 1 KiB of data each: a dozen blocks of 2 MB


def rss_bytes(node: NodeProcess) -> int:
    assert node.proc is not None
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def peer_ids(node: NodeProcess) -> set[str]:
    return {p["node_id"] for p in node.client.peers()}


class Watch:
    """Polls /status and RSS from a thread while the attack runs."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.client = Client(node.home.rpc_url, timeout=30.0)
        self.worst_s = 0.0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            self.client.status()
            self.worst_s = max(self.worst_s, time.monotonic() - start)
            self.peak_rss = max(self.peak_rss, rss_bytes(self.node))
            time.sleep(0.05)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.client.close()


def test_many_get_blocks_from_a_peer_that_never_reads_cost_little_and_stall_nothing(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(
        "poa",
        nodes=2,
        validators=1,
        accounts=TXS // 50 + 1,
        config={"p2p": {"write_timeout_s": 3.0}},
    )
    cluster.start()
    node0, node1 = cluster.nodes
    load_big_blocks(node0.client, cluster.accounts, cluster.chain_id, txs=TXS)
    height = node0.height()
    cluster.wait_height(height)  # node1 has the chain too
    assert node0.client.block(height)["tx_count"] >= 0
    baseline_rss = rss_bytes(node0)
    honest = peer_ids(node0)
    assert node1.home.key.address_hex in honest

    async def attack() -> None:
        attacker = Attacker.of(node0.client, node0.home.p2p_port)
        await attacker.connect()
        try:
            await asyncio.to_thread(
                wait_until, lambda: attacker.node_id.hex() in peer_ids(node0), "attacker in"
            )
            for request_id in range(1, REQUESTS + 1):  # the whole chain, every time
                await attacker.send_frame(GetBlocks(start=1, end=256), request_id)
            # it reads nothing; the node must let it go by itself
            await asyncio.to_thread(
                wait_until,
                lambda: attacker.node_id.hex() not in peer_ids(node0),
                "the attacker dropped",
                60.0,
            )
        finally:
            await attacker.close()

    with Watch(node0) as watch:
        asyncio.run(attack())
        time.sleep(1.0)  # a last look after the attacker is gone
    assert watch.worst_s < 5.0, f"/status took {watch.worst_s:.1f} s during the attack"
    growth_mb = (watch.peak_rss - baseline_rss) / MB
    assert growth_mb < 150, f"RSS grew {growth_mb:.0f} MB"
    assert 'ordinet_p2p_disconnects_total{reason="slow_reader"}' in node0.client.metrics()
    assert honest <= peer_ids(node0)  # the honest peers stayed
    assert node0.alive and "Traceback" not in node0.log_path.read_text()


def test_raw_blocks_are_served_as_stored_within_a_byte_budget(tmp_path: Path) -> None:
    from node.genesis import Genesis
    from node.ledger import Ledger
    from node.wallet import Wallet

    key = Wallet.generate()
    genesis = Genesis.from_dict(
        {
            "chain_id": "raw-test",
            "timestamp_ms": 0,
            "consensus": "poa",
            "validators": [{"public_key": key.address_hex, "power": 1}],
            "balances": {key.address_hex: 10**9},
        }
    )
    path = tmp_path / "chain.db"
    with Ledger.open(path, genesis) as ledger:
        for nonce in range(3):
            tx = key.transfer(to=bytes(32), amount=1, fee=1, nonce=nonce, chain_id="raw-test")
            block, _ = ledger.build_block([tx], proposer=key.address, timestamp_ms=nonce + 1)
            ledger.commit_block(block.signed(key.seed))
        store = ledger.store
        stored = [(b.encode(), b"") for b in store.load_blocks(0, 3)]
        assert store.load_raw_blocks(0, 99, 10**9) == stored
        sizes = [len(b) for b, _ in stored]
        assert store.load_raw_blocks(1, 3, sizes[1] + sizes[2]) == stored[1:3]
        assert store.load_raw_blocks(1, 3, sizes[1] + sizes[2] - 1) == stored[1:2]
        assert store.load_raw_blocks(2, 1, 10**9) == []
        assert isinstance(store, Store)
        # from another thread, while the store's own connection is in use
        assert asyncio.run(asyncio.to_thread(store.load_raw_blocks, 0, 3, 10**9)) == stored
