"""EventHub: fan-out to bounded subscriptions that never slow the publisher."""

from __future__ import annotations

import asyncio

import pytest
from rpc_kit import LocalNode

from node.rpc import Event, EventHub


async def _drain(sub, n: int) -> list[Event]:
    return [await asyncio.wait_for(sub.get(), timeout=5) for _ in range(n)]


def test_every_subscriber_gets_the_kinds_it_asked_for() -> None:
    async def main() -> None:
        hub = EventHub()
        everything = hub.subscribe()
        blocks = hub.subscribe(["block"])
        hub.publish("block", {"height": 1})
        hub.publish("tx", {"id": "ab"})
        assert [e.kind for e in await _drain(everything, 2)] == ["block", "tx"]
        assert [e.data for e in await _drain(blocks, 1)] == [{"height": 1}]
        assert hub.wants("tx") and hub.wants("block")
        everything.close()
        assert not hub.wants("tx") and hub.wants("block")

    asyncio.run(main())


def test_publishing_with_no_subscriber_is_a_no_op() -> None:
    hub = EventHub()
    hub.publish("block", {"height": 1})
    assert hub.seq == 0 and hub.subscriber_count == 0


def test_a_full_queue_drops_its_oldest_and_announces_the_loss_once() -> None:
    async def main() -> None:
        hub = EventHub(queue_size=3)
        sub = hub.subscribe()
        for i in range(10):
            hub.publish("n", {"i": i})
        lagged, *rest = await _drain(sub, 4)
        assert (lagged.kind, lagged.data) == ("lagged", {"missed": 7})
        assert lagged.seq == rest[0].seq
        assert [e.data["i"] for e in rest] == [7, 8, 9]
        assert sub.missed_total == 7
        hub.publish("n", {"i": 10})
        assert (await sub.get()).data == {"i": 10}  # type: ignore[union-attr]

    asyncio.run(main())


def test_a_waiting_subscriber_wakes_on_publish_and_ends_on_close() -> None:
    async def main() -> None:
        hub = EventHub()
        sub = hub.subscribe()
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)  # let it block on the empty queue
        hub.publish("block", {"height": 2})
        assert (await asyncio.wait_for(waiter, 5)).data == {"height": 2}  # type: ignore[union-attr]
        received = []

        async def consume() -> None:
            async for event in sub:
                received.append(event.kind)

        consumer = asyncio.create_task(consume())
        hub.publish("tx", {})
        hub.close()
        await asyncio.wait_for(consumer, 5)
        assert received == ["tx"]
        assert hub.subscribe().closed, "a closed hub hands out ended subscriptions"

    asyncio.run(main())


def test_block_committed_publishes_the_block_then_each_tx(tmp_path) -> None:
    async def main() -> None:
        node = LocalNode(tmp_path)
        try:
            sub = node.events.subscribe(["block", "tx"])
            raws = [node.transfer(0, n).encode() for n in range(3)]
            await node.submit_txs(raws)
            block = node.produce_block()
            events = await _drain(sub, 4)
            assert events[0].kind == "block" and events[0].data["tx_count"] == 3
            assert [e.data["index"] for e in events[1:]] == [0, 1, 2]
            assert [e.data["id"] for e in events[1:]] == [tx.id.hex() for tx in block.txs]
        finally:
            node.close()

    asyncio.run(main())


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EventHub(queue_size=0)
