"""A real node without a network, for the API tests: ``LocalNode``.

It implements ``NodeService`` over a real Ledger (SQLite in a temp dir,
genesis with funded wallets), a real Mempool, a real scheduling Policy and
a real single-validator PoA engine that a test drives by hand
(``produce_block``): the engine's timers run on a logical clock, its
proposals are built from the mempool by the ledger, and its commits update
the mempool, the events and the metrics the way the runtime does. Only the
P2P side is absent: admin calls are recorded in ``admin_calls``.

``with_api(node, body)`` runs ``body(client)`` against the node's app on
an in-process aiohttp TestServer; ``with_server(node, body)`` serves it
with the node's own HttpServer (node/httpserve.py), for what happens
below the app: the parser, timeouts, the connection cap. ``ServerThread`` serves an app on a
random free port from a background thread's loop, for the synchronous SDK
client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from node import crypto
from node.consensus import create_engine
from node.consensus.engine import Engine
from node.consensus.events import Action, Committed, RequestProposal, SetTimer, TimerKey
from node.consensus.ledger_app import LedgerApp
from node.fees.estimator import Estimate
from node.fees.live import LiveFees
from node.genesis import Genesis
from node.httpserve import HttpLimits, HttpServer
from node.ledger import Ledger
from node.mempool import Mempool
from node.rpc import EventHub, NodeMetrics, SubmitResult, make_app
from node.rpc.service import admit_encoded
from node.scheduling.policy import BlockLimits, make_policy
from node.types import Block, Transaction
from node.wallet import Wallet

T = TypeVar("T")

ApiBody = Callable[[TestClient], Coroutine[Any, Any, Any]]

CHAIN_ID = "rpc-test"
FUNDS = 10**12


def wallet(i: int) -> Wallet:
    return Wallet.from_seed(crypto.sha256(b"rpc-test-wallet" + bytes([i])))


class LocalNode:
    """NodeService over real parts, driven by the test (no network, no clock)."""

    def __init__(
        self, directory: Path, *, admin_enabled: bool = False, policy: str = "fee", wallets: int = 3
    ) -> None:
        self._seed = crypto.sha256(b"rpc-test-validator")
        self.validator = Wallet.from_seed(self._seed)
        self.wallets = [wallet(i) for i in range(wallets)]
        self.genesis = Genesis.from_dict(
            {
                "chain_id": CHAIN_ID,
                "timestamp_ms": 0,
                "consensus": "poa",
                "balances": {w.address_hex: FUNDS for w in self.wallets},
                "validators": [{"public_key": self.validator.address_hex, "power": 1}],
                "params": {},
            }
        )
        self.chain_id = CHAIN_ID
        self.node_id = crypto.sha256(b"rpc-test-node-id")
        self.ledger = Ledger.open(directory / "chain.db", self.genesis)
        self.policy = make_policy(policy)
        self.mempool = Mempool(chain_id=CHAIN_ID, accounts=self._account, policy=self.policy)
        self.events = EventHub()
        self.metrics = NodeMetrics()
        self.admin_enabled = admin_enabled
        self.admin_calls: list[tuple[str, Any]] = []
        self.fees = LiveFees()
        self.gossiped: list[Transaction] = []
        self.now_ms = 1_000
        self._timers: dict[TimerKey, int] = {}
        self._committed: list[Block] = []
        self.engine: Engine = create_engine(self.genesis, LedgerApp(self.ledger), seed=self._seed)
        self._handle(self.engine.start(self.now_ms))

    def _account(self, address: bytes) -> tuple[int, int]:
        account = self.ledger.account(address)
        return account.balance, account.nonce

    # -- NodeService ------------------------------------------------------------

    def now_s(self) -> float:
        return self.now_ms / 1000

    def status(self) -> dict[str, Any]:
        head = self.ledger.head
        return {
            "chain_id": self.chain_id,
            "node_id": self.node_id.hex(),
            "height": head.height,
            "head_hash": head.hash.hex(),
            "consensus": self.genesis.consensus,
            "policy": self.policy.name,
            "model_hash": None,
            "peers": 0,
            "mempool_size": len(self.mempool),
            "syncing": False,
        }

    async def submit_txs(self, raws: list[bytes]) -> list[SubmitResult]:
        results, accepted = admit_encoded(
            lambda txs: self.mempool.admit(txs, self.now_ms / 1000), raws
        )
        self.gossiped.extend(accepted)
        return results

    def fee_estimate(self, blocks: int, confidence: float) -> Estimate:
        return self.fees.estimate(blocks, confidence)

    def peers(self) -> list[dict[str, Any]]:
        return []

    def consensus_status(self) -> dict[str, Any]:
        return self.engine.status()

    async def admin_block_peers(self, node_ids: list[bytes]) -> None:
        self.admin_calls.append(("block_peers", node_ids))

    async def admin_heal(self) -> None:
        self.admin_calls.append(("heal", None))

    async def admin_set_delay(self, delay_ms: int) -> None:
        self.admin_calls.append(("set_delay", delay_ms))

    # -- driving the engine -------------------------------------------------------

    def produce_block(self) -> Block:
        """Fire the engine's timers in time order until it commits a block."""
        self._committed.clear()
        for _ in range(100):
            key, at_ms = min(self._timers.items(), key=lambda item: item[1])
            del self._timers[key]
            self.now_ms = max(self.now_ms, at_ms)
            self._handle(self.engine.on_timer(key, self.now_ms))
            if self._committed:
                return self._committed[-1]
        raise AssertionError("the single validator did not commit within 100 timers")

    def _handle(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SetTimer):
                self._timers[action.key] = action.at_ms
            elif isinstance(action, RequestProposal):
                limits = BlockLimits(self.ledger.max_block_txs, self.ledger.max_block_bytes)
                block, _ = self.ledger.build_block(
                    self.mempool.select(limits, self.now_s()),
                    proposer=self.validator.address,
                    timestamp_ms=action.timestamp_ms,
                    last_commit=action.last_commit,
                    policy=self.policy.name,
                )
                self._handle(self.engine.on_proposal_ready(action, block, self.now_ms))
            elif isinstance(action, Committed):
                self._on_commit(action.block)

    def _on_commit(self, block: Block) -> None:
        self._committed.append(block)
        self.mempool.on_block(block.txs, self.now_ms / 1000)
        self.fees.on_committed(block, self.mempool, self.ledger, self.now_ms / 1000)
        self.metrics.block_committed(block.height, len(block.txs))
        self.events.block_committed(block)

    # -- helpers for tests -------------------------------------------------------------

    def transfer(self, sender: int, nonce: int, *, amount: int = 5, fee: int = 10) -> Transaction:
        to = self.wallets[(sender + 1) % len(self.wallets)].address
        return self.wallets[sender].transfer(
            to=to, amount=amount, fee=fee, nonce=nonce, chain_id=CHAIN_ID
        )

    def close(self) -> None:
        self.events.close()
        self.ledger.close()


def with_server(
    node: LocalNode,
    body: Callable[[HttpServer], Coroutine[Any, Any, T]],
    limits: HttpLimits | None = None,
) -> T:
    """Run ``body(server)`` against ``make_app(node)`` served by an HttpServer
    (the node's own server: timeouts, cap, parser errors) on 127.0.0.1."""

    async def main() -> T:
        server = HttpServer(make_app(node), limits or HttpLimits(), name="rpc", host="127.0.0.1")
        await server.start()
        try:
            return await body(server)
        finally:
            await server.stop()

    return asyncio.run(main())


def with_api(node: LocalNode, body: ApiBody, **app_options: Any) -> Any:
    """Run ``body(client)`` against ``make_app(node)`` on an in-process server."""

    async def main() -> Any:
        async with TestClient(TestServer(make_app(node, **app_options))) as client:
            return await body(client)

    return asyncio.run(main())


class ServerThread:
    """An event loop in a background thread that serves apps on free ports.

    SQLite connections belong to the thread that opened them, so a node the
    server uses is built and driven in the server's thread: ``call``.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="rpc-test-server")
        self._servers: list[HttpServer] = []
        self._thread.start()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in the server's thread and return its result."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` in the server's thread without waiting for it."""
        self.loop.call_soon_threadsafe(fn)

    def serve(self, make_app: Callable[[], web.Application]) -> str:
        """Build an app in the server's thread, serve it on 127.0.0.1:<free
        port> and return its base URL."""

        async def start() -> int:
            server = HttpServer(make_app(), HttpLimits(), name="rpc", host="127.0.0.1")
            await server.start()
            self._servers.append(server)
            return server.port

        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=30)
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                await server.stop()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
