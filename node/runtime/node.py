"""The Node: one process's ledger, mempool, policy, engine, P2P and API, wired.

``build_node(config)`` is the one factory: it reads the genesis, the node
key and the scheduling model the config names, opens the chain in SQLite
under the home directory, and builds every part (nothing listens yet).
``await node.start()`` binds the P2P port, then the API, whose aiohttp
application carries the node's background loops in a cleanup context
(the consensus driver, block sync, mempool housekeeping), so that
``await node.stop()`` ends every task the node started.

The Node plays three roles towards the parts it wires:

- the transport's ``Handler``: consensus messages go to the driver; tx
  batches are checked (signatures in one batch, off the event loop) and
  admitted to the mempool, and the accepted ones relayed; block requests
  are answered from the store; heights feed block sync;
- the driver's ``DriverHost``: it executes what the engine asks (send,
  build a block with the policy's order, publish a commit, readmit,
  record evidence, penalise a peer);
- the API's ``NodeService`` (node/rpc/service.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from node import __version__
from node.config import NodeConfig
from node.consensus.engine import Engine
from node.consensus.events import BlockReceived, PeerId
from node.consensus.messages import (
    Message,
    ProposalMsg,
    SkipMsg,
    VoteMsg,
    decode_message,
)
from node.core import NodeCore, Observer
from node.core.catchup import CatchUp, PeerGone, PeerStatus, serve_range
from node.errors import ConfigError, DecodeError, InvalidSignature, InvalidTransaction
from node.fees.estimator import Estimate
from node.fees.live import LiveFees
from node.genesis import Genesis
from node.httpserve import HttpLimits, HttpServer
from node.ledger import Ledger
from node.mempool.config import Refusal
from node.p2p import (
    Blocks,
    Consensus,
    GetBlocks,
    NewBlock,
    P2PError,
    PeerInfo,
    Status,
    Transport,
    Txs,
)
from node.p2p.messages import Message as WireMessage
from node.rpc.events import EVIDENCE, EventHub
from node.rpc.metrics import NodeMetrics
from node.rpc.service import SubmitResult, admit_encoded
from node.runtime.clock import Clock
from node.runtime.driver import ConsensusDriver
from node.scheduling.plugins import ensure_entry_point_policies, load_policy_modules
from node.scheduling.policy import Policy, load_policy
from node.types import ZERO_HASH, Block, Commit, Transaction
from node.wallet import Wallet

log = logging.getLogger("node.runtime")

# Consensus messages a node passes on to its other peers, by relay mode (the
# others are point to point: status, sync; a PoW engine relays blocks itself).
_RELAYED: dict[str, tuple[type, ...]] = {
    "all": (ProposalMsg, VoteMsg, SkipMsg),
    "votes": (VoteMsg, SkipMsg),
    "none": (),
}
# Admission times kept for the commit-latency metric, at most.
_MAX_TRACKED_TXS = 500_000
# ... pruned of txs no longer pooled beyond this many
_TRACKED_TXS_PRUNE = 50_000
# Block reads for peers at once, node-wide (each up to one frame's bytes).
_SERVING_READS = 2
# Mempool expiry and gauges, every so often.
_HOUSEKEEPING_S = 5.0
# Refusals by which a peer shows that it relays what it should not.
_PEER_FAULTS = frozenset({Refusal.INVALID_SIGNATURE.value, Refusal.WRONG_CHAIN_ID.value})

# The engines' periodic re-send timer (status and own messages); all three use it.
GOSSIP_TIMER = ("gossip", 0, 0)


def load_node_key(config: NodeConfig) -> Wallet:
    """The node's Ed25519 key (a wallet file): its P2P identity and, when the
    genesis lists it, its validator key."""
    if not config.node_key.exists():
        raise ConfigError(
            f"{config.source}: field 'node_key': {config.node_key} does not exist "
            "(create one with `ordinet keys new --out FILE` or `ordinet init`)"
        )
    return Wallet.load(config.node_key)


def build_node(config: NodeConfig) -> Node:
    """Read what the config names and build a Node (not started)."""
    genesis = Genesis.load(config.genesis)
    key = load_node_key(config)
    sched = config.scheduling
    try:
        load_policy_modules(sched.policy_module)
        ensure_entry_point_policies()
        policy = load_policy(
            sched.policy, model_path=sched.model_path, model_hash=sched.model_sha256
        )
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: [scheduling]: {exc.message}", code=exc.code) from None
    ledger = Ledger.open(
        config.store_path, genesis, pow_reorg_depth=config.consensus.pow_reorg_depth
    )
    try:
        return Node(config, genesis=genesis, ledger=ledger, key=key, policy=policy)
    except BaseException:
        ledger.close()
        raise


class Node(Observer):
    """A running (or ready to run) Ordinet node. Implements NodeService."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        genesis: Genesis,
        ledger: Ledger,
        key: Wallet,
        policy: Policy,
    ) -> None:
        self.config = config
        self.genesis = genesis
        self.ledger = ledger
        self.chain_id = genesis.chain_id
        self.genesis_hash = genesis.hash  # computed once: it hashes the whole genesis
        self.node_id = key.address
        self.policy = policy
        self.admin_enabled = config.rpc.admin_enabled
        self.clock = Clock()
        self.events = EventHub()
        self.metrics = NodeMetrics()
        self.is_validator = genesis.validator(self.node_id) is not None
        signs = config.consensus.validator and (self.is_validator or genesis.consensus == "pow")
        options: dict[str, Any] = {}
        if config.consensus.gossip_interval_ms:
            options["gossip_interval_ms"] = config.consensus.gossip_interval_ms
        self.signing = signs
        self._relayed = _RELAYED[config.consensus.relay]
        # one thread: the nonce search (GIL released) and batch signature checks
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ordinet-work")
        self.transport = Transport(
            config=config.p2p,
            node_seed=key.seed,
            chain_id=self.chain_id,
            genesis_hash=self.genesis_hash,
            handler=self,
            head=lambda: (self.ledger.height, self.ledger.head.hash),
        )
        self.driver = ConsensusDriver(
            net=self,
            clock=self.clock,
            executor=self.executor,
            mine_batch=config.consensus.mine_batch,
        )
        self.core = NodeCore(
            genesis=genesis,
            ledger=ledger,
            policy=policy,
            io=self.driver,
            key_seed=key.seed,
            signs=signs,
            observer=self,
            mempool_config=config.mempool,
            engine_options=options,
            catch_up=CatchUp(
                batch_blocks=config.sync.batch_blocks,
                request_timeout_ms=round(config.sync.request_timeout_s * 1000),
                stall_ms=2
                * (config.consensus.gossip_interval_ms or int(genesis.params["block_interval_ms"])),
            ),
        )
        self.driver.attach(self.core)
        self.mempool = self.core.mempool
        self.engine: Engine = self.core.engine
        self.verifier = self.core.verifier
        self.metrics.attach(
            mempool_stats=self.mempool.stats, p2p_snapshot=self.transport.metrics_snapshot
        )
        self.metrics.height.set(ledger.height)
        self.fees = LiveFees()
        self._admitted_s: dict[bytes, float] = {}
        self._serving_reads = asyncio.Semaphore(_SERVING_READS)
        self._step: tuple[int, int, str] | None = None
        self._step_since_s = self.clock.monotonic_s()
        self._rpc_server: HttpServer | None = None
        self._rpc_port = 0
        self._started = False
        self._stopped = False
        #: set when a loop of the node crashed (a bug): ``run_node`` then stops it
        self.fatal = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------

    def make_rpc_app(self) -> web.Application:
        """The API application (node/rpc) with the node's loops in a cleanup context."""
        from node.rpc.app import make_app

        app = make_app(self)
        app.cleanup_ctx.append(self._background)
        return app

    async def start(self) -> None:
        """Listen for peers, then serve the API and start the loops."""
        if self._started:
            raise RuntimeError("node already started")
        self._started = True
        try:
            try:
                await self.transport.start()
            except OSError as exc:
                raise self._cannot_listen(
                    "p2p", self.config.p2p.host, self.config.p2p.port, exc
                ) from None
            rpc = self.config.rpc
            limits = HttpLimits(
                head_timeout_s=rpc.head_timeout_s,
                body_timeout_s=rpc.body_timeout_s,
                idle_timeout_s=rpc.idle_timeout_s,
                max_connections=rpc.max_connections,
            )
            server = HttpServer(
                self.make_rpc_app(), limits, name="rpc", host=rpc.host, port=rpc.port
            )
            self._rpc_server = server
            try:
                await server.start()
            except OSError as exc:
                raise self._cannot_listen("rpc", rpc.host, rpc.port, exc) from None
            self._rpc_port = server.port
            self.metrics.attach(http_stats=self._http_stats)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "node.started chain=%s node=%s height=%d consensus=%s validator=%s "
            "p2p=%s:%d rpc=%s policy=%s",
            self.chain_id,
            self.node_id.hex()[:16],
            self.ledger.height,
            self.genesis.consensus,
            self.signing,
            self.config.p2p.host,
            self.transport.listen_port,
            self.rpc_url,
            self.policy.name,
        )

    async def stop(self) -> None:
        """Close the P2P links, the API and the loops, the worker thread and the
        store (a node that never started just closes its store)."""
        if self._stopped:
            return
        self._stopped = True
        await self._teardown()
        log.info("node.stopped height=%d", self.ledger.height)

    def _cannot_listen(self, table: str, host: str, port: int, exc: OSError) -> ConfigError:
        return ConfigError(
            f"{self.config.source}: field '{table}.port': cannot listen on {host}:{port}: "
            f"{exc.strerror or exc}",
            code="cannot_listen",
        )

    async def _teardown(self) -> None:
        await self.transport.stop()
        if self._rpc_server is not None:
            await self._rpc_server.stop()
            self._rpc_server = None
        self.events.close()
        self.executor.shutdown(wait=True)
        self.ledger.close()

    async def _background(self, app: web.Application) -> AsyncIterator[None]:
        """The node's loops live as long as the API application."""
        tasks = [
            asyncio.create_task(self.driver.run(), name="consensus-driver"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
        ]
        for task in tasks:
            task.add_done_callback(self._loop_ended)
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.driver.close()

    def _loop_ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        log.critical("node.loop_crashed task=%s error=%r", task.get_name(), exc, exc_info=exc)
        self.fatal.set()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(_HOUSEKEEPING_S)
            expired = self.mempool.expire(self.clock.now_s())
            if expired:
                log.info("mempool.expired txs=%d", len(expired))
            if len(self._admitted_s) > _TRACKED_TXS_PRUNE:
                # txs that left the pool uncommitted (expired, evicted, replaced)
                pool = self.mempool
                self._admitted_s = {i: s for i, s in self._admitted_s.items() if i in pool}
            self._update_gauges()

    def _http_stats(self) -> dict[str, Any]:
        servers = {"rpc": self._rpc_server, "p2p": self.transport.listener}
        return {name: server.stats() for name, server in servers.items() if server is not None}

    @property
    def rpc_port(self) -> int:
        return self._rpc_port

    @property
    def rpc_url(self) -> str:
        return f"http://{self.config.rpc.host}:{self._rpc_port}"

    @property
    def p2p_port(self) -> int:
        return self.transport.listen_port

    # -- NodeService -----------------------------------------------------------------

    def now_s(self) -> float:
        return self.clock.now_s()

    def status(self) -> dict[str, Any]:
        head = self.ledger.head
        return {
            "chain_id": self.chain_id,
            "node_id": self.node_id.hex(),
            "height": head.height,
            "head_hash": head.hash.hex(),
            "head_timestamp_ms": head.timestamp_ms,
            "consensus": self.genesis.consensus,
            "policy": self.policy.name,
            "model_hash": None
            if self.policy.model_hash == ZERO_HASH
            else self.policy.model_hash.hex(),
            "peers": len(self.transport.peer_ids),
            "mempool_size": len(self.mempool),
            "mempool_bytes": self.mempool.size_bytes,
            "syncing": self.core.catchup.syncing,
            "best_peer_height": self.core.catchup.best_peer_height,
            "validator": self.signing,
            "genesis_hash": self.genesis_hash.hex(),
            "p2p_port": self.transport.listen_port,
            "evidence": len(self.core.evidence),
            "version": __version__,
        }

    async def submit_txs(self, raws: list[bytes]) -> list[SubmitResult]:
        return await self._admit_raw(raws, origin=None)

    def fee_estimate(self, blocks: int, confidence: float) -> Estimate:
        return self.fees.estimate(blocks, confidence)

    def peers(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.transport.peers]

    def consensus_status(self) -> dict[str, Any]:
        out = self.engine.status()
        out["recorded_evidence"] = list(self.core.evidence)
        return out

    async def admin_block_peers(self, node_ids: list[bytes]) -> None:
        self.transport.block_peers(node_ids)

    async def admin_heal(self) -> None:
        self.transport.heal()

    async def admin_set_delay(self, delay_ms: int) -> None:
        self.transport.set_delay(delay_ms)

    # -- transactions ------------------------------------------------------------------

    async def _admit_raw(self, raws: Sequence[bytes], origin: bytes | None) -> list[SubmitResult]:
        """Decode and admit a batch (signatures checked in one call), relay the
        accepted txs; from a peer, txs that no honest peer relays cost it."""
        results, accepted = admit_encoded(lambda txs: self.core.receive_txs(txs, origin), raws)
        if accepted and len(self._admitted_s) < _MAX_TRACKED_TXS:
            mono_s = self.clock.monotonic_s()
            for tx in accepted:
                self._admitted_s[tx.id] = mono_s
        if origin is not None:
            # A peer relays only what it admitted: undecodable bytes, a bad
            # signature or another chain's tx means it does not check, or lies.
            undecodable = [r for r in results if r.id is None]
            if undecodable:
                raise DecodeError(
                    f"{len(undecodable)} relayed txs do not decode",
                    code=undecodable[0].code or "decode_error",
                )
            faults = [r.code for r in results if r.code in _PEER_FAULTS]
            if Refusal.INVALID_SIGNATURE.value in faults:
                raise InvalidSignature(f"{len(faults)} relayed txs do not verify")
            if faults:
                raise InvalidTransaction(f"{len(faults)} relayed txs refused", code=faults[0])
        return results

    # -- the transport's Handler ---------------------------------------------------------

    async def on_message(self, peer_id: bytes, msg: WireMessage) -> WireMessage | None:
        if isinstance(msg, Consensus):
            message = decode_message(msg.data)  # DecodeError: the transport penalises
            await self.driver.message(peer_id, message, msg.data)
        elif isinstance(msg, Txs):
            await self._admit_raw(msg.txs, origin=peer_id)
        elif isinstance(msg, Status):
            self.driver.queue(PeerStatus(peer_id, msg.height))
        elif isinstance(msg, GetBlocks):
            return await self._serve_blocks(msg)
        elif isinstance(msg, NewBlock):
            block = Block.decode(msg.block)
            if self.genesis.consensus == "pow":
                self.driver.feed(BlockReceived(peer_id, block, None))
        return None

    async def on_peer_connected(self, peer: PeerInfo) -> None:
        self.driver.queue(PeerStatus(peer.node_id, peer.height))
        # Re-send our status and current-round messages now rather than at the
        # next gossip tick: the newcomer may be a validator the round waits for.
        self.driver.fire_now(GOSSIP_TIMER)
        self.metrics.peers.set(len(self.transport.peer_ids))

    async def on_peer_disconnected(self, peer_id: bytes, reason: str) -> None:
        self.driver.queue(PeerGone(peer_id))
        self.metrics.peers.set(len(self.transport.peer_ids))

    async def _serve_blocks(self, request: GetBlocks) -> Blocks:
        """A peer's catch-up request, answered as node/core/catchup.py says.

        The range is worked out here (the locator's hashes looked up); the
        blocks go out as stored (never decoded and encoded again), at most
        one frame's worth, read from SQLite in a worker thread so that the
        event loop keeps running; at most ``_SERVING_READS`` reads at once for
        all peers together (each peer is held to ``max_served_requests``).
        """
        heights = serve_range(self.ledger, request)
        if heights is None:
            return Blocks(())
        async with self._serving_reads:
            entries = await asyncio.to_thread(
                self.ledger.store.load_raw_blocks,
                heights[0],
                heights[1],
                self.config.p2p.max_msg_bytes,
            )
        return Blocks(tuple(entries))

    async def request_blocks(self, peer: PeerId, request: GetBlocks) -> Blocks:
        assert isinstance(peer, bytes)
        reply = await self.transport.request(peer, request, self.config.sync.request_timeout_s)
        if not isinstance(reply, Blocks):
            raise P2PError(f"peer answered GetBlocks with {reply.KIND}", code="bad_answer")
        return reply

    # -- the driver's Network ------------------------------------------------------------

    def broadcast(self, message: Message) -> None:
        # The engine re-sends its own messages on purpose (peers that restarted
        # or lagged need them again): no de-duplication on the way out.
        self.transport.broadcast(Consensus(message.encode()), dedup=False)

    def send(self, peer: PeerId, message: Message) -> None:
        assert isinstance(peer, bytes)
        self.transport.send(peer, Consensus(message.encode()))

    def relay_txs(self, txs: Sequence[Transaction], origin: PeerId | None) -> None:
        assert origin is None or isinstance(origin, bytes)
        self.transport.queue_txs([tx.encode() for tx in txs], origin=origin)

    def penalise(self, peer: PeerId, reason: str) -> None:
        log.warning("consensus.peer_misbehaved peer=%s reason=%s", _short(peer), _slug(reason))
        if isinstance(peer, bytes):
            self.transport.penalise(peer, f"consensus:{_slug(reason)}"[:100])

    def on_message_done(self, peer: PeerId, message: Any, raw: bytes, accepted: bool) -> None:
        if accepted and isinstance(message, self._relayed):
            self.transport.broadcast(Consensus(raw), exclude=peer)  # type: ignore[arg-type]

    def after_event(self) -> None:
        self._note_step()

    # -- the core's Observer -------------------------------------------------------------

    def on_built(self, block: Block, refused: int, build_s: float) -> None:
        self.metrics.block_build_seconds.observe(build_s)
        log.debug(
            "node.built height=%d txs=%d refused=%d build_ms=%.1f",
            block.height,
            len(block.txs),
            refused,
            build_s * 1000,
        )

    def on_committed(self, block: Block, proof: Commit | None) -> None:
        header = block.header
        # (the pool already let the block's txs go: NodeCore does that first)
        self.fees.on_committed(block, self.mempool, self.ledger, self.clock.now_s())
        mono_s = self.clock.monotonic_s()
        admitted = self._admitted_s
        latency = self.metrics.tx_commit_latency_seconds
        for tx in block.txs:
            seen_s = admitted.pop(tx.id, None)
            if seen_s is not None:
                latency.observe(mono_s - seen_s)
        self.metrics.block_committed(header.height, len(block.txs))
        self._update_gauges()
        self.events.block_committed(block)
        log.info(
            "node.committed height=%d hash=%s txs=%d round=%d proposer=%s mempool=%d",
            header.height,
            header.hash.hex()[:16],
            len(block.txs),
            proof.round if proof is not None else 0,
            header.proposer.hex()[:16],
            len(self.mempool),
        )

    def on_reverted(self, height: int, blocks: tuple[Block, ...]) -> None:
        self.metrics.height.set(self.ledger.height)
        log.warning(
            "node.reverted to_height=%d blocks=%d first=%s",
            height,
            len(blocks),
            blocks[0].hash.hex()[:16] if blocks else "-",
        )

    def on_readmitted(self, txs: tuple[Transaction, ...], accepted: int) -> None:
        log.info("mempool.readmitted txs=%d accepted=%d", len(txs), accepted)

    def on_evidence(self, record: dict[str, Any]) -> None:
        self.metrics.evidence.labels(kind=str(record.get("kind", "double_sign"))).inc()
        self.events.publish(EVIDENCE, record)
        brief = {k: record.get(k) for k in ("kind", "validator", "height", "round")}
        log.warning("consensus.evidence %s", _fields(brief))

    # -- bookkeeping ---------------------------------------------------------------------

    def _note_step(self) -> None:
        """Metrics and /ws events when the engine moved to a new height, round or step."""
        engine = self.engine
        step = (
            int(getattr(engine, "height", self.ledger.height + 1)),
            int(getattr(engine, "round", 0)),
            str(getattr(engine, "round_step", "")),
        )
        if step == self._step:
            return
        now_s = self.clock.monotonic_s()
        previous, self._step = self._step, step
        if previous is not None:
            self.metrics.step_finished(previous[2] or "round", now_s - self._step_since_s)
        self._step_since_s = now_s
        if previous is None or previous[:2] != step[:2]:
            self.metrics.round_entered(step[0], step[1])
        self.events.consensus_step(step[0], step[1], step[2] or "round")

    def _update_gauges(self) -> None:
        m = self.metrics
        m.height.set(self.ledger.height)
        m.mempool_txs.set(len(self.mempool))
        m.mempool_bytes.set(self.mempool.size_bytes)
        m.peers.set(len(self.transport.peer_ids))
        m.syncing.set(1 if self.core.catchup.syncing else 0)


def _hash_or_none(value: bytes) -> str | None:
    return None if value == ZERO_HASH else value.hex()


def _short(peer: PeerId) -> str:
    return peer.hex()[:16] if isinstance(peer, bytes) else str(peer)


def _slug(text: str) -> str:
    return "_".join(text.split())


def _fields(record: dict[str, Any]) -> str:
    return " ".join(f"{k}={_slug(str(v))}" for k, v in record.items())
