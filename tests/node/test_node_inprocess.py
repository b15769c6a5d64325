"""One Node in this process (PoA, one validator): it commits what it is
sent, publishes what it commits, refuses garbage, stops leaving no task,
and resumes from its store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from nodekit import until

from node.consensus.messages import StatusMsg
from node.errors import DecodeError
from node.p2p import Consensus, GetBlocks, NewBlock, Txs
from node.runtime import Node, build_node
from node.runtime.home import HomeSet, init_homes
from node.types import ZERO_HASH
from node.wallet import Wallet

DEADLINE_S = 60.0


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body; fail if a task is left behind."""

    async def main() -> None:
        async with asyncio.timeout(DEADLINE_S * 2):
            await body()
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftover == [], f"tasks left running: {leftover}"

    asyncio.run(main())


@pytest.fixture
def home(tmp_path: Path) -> HomeSet:
    return init_homes(
        tmp_path / "home",
        consensus="poa",
        accounts=2,
        params={"block_interval_ms": 100},
        config_overrides={"rpc": {"port": 0}, "p2p": {"port": 0}},
    )


def _node(home: HomeSet) -> Node:
    return build_node(home.nodes[0].config())


def test_commits_submitted_txs_publishes_them_and_stops_clean(home: HomeSet) -> None:
    sender, recipient = home.accounts[0], Wallet.generate()
    txs = [
        sender.transfer(
            to=recipient.address, amount=7, fee=1, nonce=n, chain_id=home.genesis.chain_id
        )
        for n in range(20)
    ]

    async def body() -> None:
        node = _node(home)
        await node.start()
        try:
            events = node.events.subscribe(["tx"])
            results = await node.submit_txs([tx.encode() for tx in txs] + [b"\x00garbage"])
            assert [r.accepted for r in results] == [True] * 20 + [False]
            assert results[-1].id is None and results[-1].code
            await until(lambda: all(node.ledger.tx(tx.id) for tx in txs), "txs committed")
            assert node.ledger.account(recipient.address).balance == 7 * 20
            assert len(node.mempool) == 0
            seen = set()
            while len(seen) < len(txs):
                event = await events.get()
                assert event is not None
                seen.add(bytes.fromhex(event.data["id"]))
            assert seen == {tx.id for tx in txs}
            status = node.status()
            assert status["height"] == node.ledger.height >= 1
            assert status["mempool_size"] == 0 and status["validator"] is True
            block = node.ledger.block(node.ledger.tx(txs[0].id)[1])
            assert block is not None and block.header.policy == "fee"
            assert b"ordinet_txs_committed_total 20.0" in node.metrics.render()
        finally:
            await node.stop()

    run(body)


def test_resumes_from_its_store_after_a_stop(home: HomeSet) -> None:
    heights: list[int] = []

    async def once() -> None:
        node = _node(home)
        start = node.ledger.height
        await node.start()
        try:
            await until(lambda: node.ledger.height >= start + 3, "three more blocks")
            heights.append(start)
            heights.append(node.ledger.height)
        finally:
            await node.stop()

    run(once)
    run(once)
    assert heights[2] >= heights[1] > heights[0] == 0


def test_the_peer_handler_refuses_garbage_and_serves_blocks(home: HomeSet) -> None:
    peer = Wallet.generate().address

    async def body() -> None:
        node = _node(home)
        await node.start()
        try:
            await until(lambda: node.ledger.height >= 2, "two blocks")
            with pytest.raises(DecodeError):
                await node.on_message(peer, Consensus(b"\xee not a message"))
            with pytest.raises(DecodeError):
                await node.on_message(peer, NewBlock(b"\x01\x02"))
            with pytest.raises(DecodeError):
                await node.on_message(peer, Txs((b"\x05junk",)))
            # a well-formed message is taken (a status only feeds block serving)
            await node.on_message(peer, Consensus(StatusMsg(1, 0, ZERO_HASH).encode()))
            reply = await node.on_message(peer, GetBlocks(1, 2))
            assert reply is not None and len(reply.blocks) == 2
            assert all(commit for _, commit in reply.blocks)
            beyond = await node.on_message(peer, GetBlocks(10_000, 10_001))
            assert beyond is not None and beyond.blocks == ()
            height = node.ledger.height
            await until(lambda: node.ledger.height > height, "the node goes on")
        finally:
            await node.stop()

    run(body)


def test_a_relayed_tx_with_a_bad_signature_costs_the_peer(home: HomeSet) -> None:
    sender = home.accounts[1]
    good = sender.transfer(to=bytes(32), amount=1, fee=1, nonce=0, chain_id=home.genesis.chain_id)
    forged = good.replace(amount=1000)  # signature no longer matches

    async def body() -> None:
        node = _node(home)
        await node.start()
        try:
            from node.errors import InvalidSignature

            with pytest.raises(InvalidSignature):
                await node.on_message(Wallet.generate().address, Txs((forged.encode(),)))
            results = await node.submit_txs([forged.encode(), good.encode()])
            assert [r.accepted for r in results] == [False, True]
            assert results[0].code == "invalid_signature"
        finally:
            await node.stop()

    run(body)


def test_a_pow_node_mines_in_its_worker_thread_and_stops_mid_search(tmp_path: Path) -> None:
    homes = init_homes(
        tmp_path / "pow",
        consensus="pow",
        accounts=1,
        params={"block_interval_ms": 100, "pow_initial_target": bytes.fromhex("00ff" + "ff" * 30)},
        config_overrides={
            "rpc": {"port": 0},
            "p2p": {"port": 0},
            "consensus": {"mine_batch": 5000},
        },
    )
    sender = homes.accounts[0]
    tx = sender.transfer(to=bytes(32), amount=3, fee=2, nonce=0, chain_id=homes.genesis.chain_id)

    async def body() -> None:
        node = _node(homes)
        await node.start()
        try:
            assert (await node.submit_txs([tx.encode()]))[0].accepted
            await until(lambda: node.ledger.height >= 3, "three mined blocks")
            found = node.ledger.tx(tx.id)
            assert found is not None
            block = node.ledger.block(found[1])
            assert block is not None and block.header.proposer == node.node_id
            # the miner earned the fee
            assert node.ledger.account(node.node_id).balance >= 2
        finally:
            await node.stop()  # while a nonce search is in flight

    run(body)
