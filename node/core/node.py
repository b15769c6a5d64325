"""``NodeCore``: the parts of one node, assembled once, and the one action interpreter.

A node is a ledger (SQLite through node/store.py), a mempool ordered by a
scheduling policy, a consensus engine over the ledger (``LedgerApp``) and
the evidence it has recorded. Everything that reaches the engine goes
through ``step(event)``, which calls ``Engine.step`` with the node's clock
and carries out the actions it returns, in order, with ``perform``: the
only place where an action gets its meaning. What an action needs from
the world goes to ``NodeIO``; what the world may want to hear about goes
to the ``Observer``.

Transactions enter through ``receive_txs`` (from a client or a peer): one
batch admitted by the pool, the accepted ones relayed. A block proposal is
built from the pool in the policy's order by ``build_proposal``; a
committed block leaves the pool; reverted blocks' txs come back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from node import crypto
from node.consensus import SignatureVerifier, create_engine
from node.consensus.engine import Engine
from node.consensus.events import (
    Action,
    BlockReceived,
    Broadcast,
    CancelTimer,
    Committed,
    FetchBlocks,
    MessageReceived,
    Mine,
    PeerId,
    PeerMisbehaved,
    ProposalReady,
    Readmit,
    ReportEvidence,
    RequestProposal,
    Reverted,
    Send,
    SetTimer,
    StopMining,
    TimerFired,
)
from node.consensus.ledger_app import LedgerApp
from node.consensus.messages import StatusMsg
from node.core import catchup
from node.core.catchup import (
    Blocks,
    BlocksReceived,
    CatchUp,
    GetBlocks,
    NodeEvent,
    PeerGone,
    PeerStatus,
)
from node.core.io import NodeIO, Observer
from node.errors import DecodeError
from node.genesis import Genesis
from node.ledger import Ledger
from node.mempool import Mempool, MempoolConfig
from node.mempool.pool import AdmitResult
from node.scheduling.policy import BlockLimits, Policy
from node.types import ZERO_HASH, Block, Commit, Transaction, VerifiedTxs

#: where a node keeps the evidence it recorded (the store's meta table)
EVIDENCE_META_KEY = "evidence"


class NodeCore:
    """One node's ledger, pool, policy and engine, driven through ``NodeIO``."""

    def __init__(
        self,
        *,
        genesis: Genesis,
        ledger: Ledger,
        policy: Policy,
        io: NodeIO,
        key_seed: bytes,
        signs: bool,
        observer: Observer | None = None,
        mempool_config: MempoolConfig | None = None,
        verifier: SignatureVerifier | None = None,
        engine_options: Mapping[str, Any] | None = None,
        catch_up: CatchUp | None = None,
        verified_txs: VerifiedTxs | None = None,
    ) -> None:
        """``key_seed``: the node's Ed25519 key (its id, the proposer it
        writes); ``signs``: whether the engine signs (votes, proposes, mines)
        with it; ``verified_txs``: the record of checked tx signatures the
        pool and the ledger share (the simulator shares one across nodes)."""
        self.genesis = genesis
        self.ledger = ledger
        self.policy = policy
        self.io = io
        self.observer = observer if observer is not None else Observer()
        self.node_id = crypto.keypair_from_seed(key_seed)[1]
        self.signs = signs
        if verified_txs is not None:
            ledger.verified = verified_txs
        self.mempool = Mempool(
            chain_id=genesis.chain_id,
            accounts=self._account_of,
            policy=policy,
            config=mempool_config or MempoolConfig(),
            verified=ledger.verified,
        )
        self.verifier = verifier if verifier is not None else SignatureVerifier()
        self.engine: Engine = create_engine(
            genesis,
            LedgerApp(ledger),
            seed=key_seed if signs else None,
            verifier=self.verifier,
            **dict(engine_options or {}),
        )
        self.evidence: list[dict[str, Any]] = self._load_evidence()
        # a one-block lag is chased after two status rounds without a commit
        self.catchup = (
            catch_up
            if catch_up is not None
            else CatchUp(stall_ms=2 * self.engine.gossip_interval_ms)
        )
        self.events = 0

    # -- driving the engine ------------------------------------------------------

    def start(self) -> None:
        """The engine's first actions (after boot or a restart)."""
        self.perform(self.engine.start(self.io.now_ms()))

    def step(self, event: NodeEvent) -> bool:
        """Feed one event; True if it showed a peer at fault.

        Catch-up's own events (a peer's head, an answer to a block request,
        the request timer) are the catch-up's; everything else goes to
        ``Engine.step``."""
        self.events += 1
        kind = type(event)
        if kind is MessageReceived:
            assert isinstance(event, MessageReceived)
            if type(event.message) is StatusMsg:
                return self._peer_status(event.peer, event.message)
        elif kind is TimerFired:
            assert isinstance(event, TimerFired)
            if event.key[0] == catchup.TIMER:
                self._request_timed_out(event.key[1])
                return False
        elif kind is BlocksReceived:
            assert isinstance(event, BlocksReceived)
            return self._blocks_received(event.peer, event.reply)
        elif kind is PeerStatus:
            assert isinstance(event, PeerStatus)
            return self._peer_head(event.peer, event.height, event.work)
        elif kind is PeerGone:
            assert isinstance(event, PeerGone)
            if self.catchup.on_gone(event.peer):
                self._catch_up()
            return False
        return self.perform(self.engine.step(event, self.io.now_ms()))  # type: ignore[arg-type]

    def perform(self, actions: list[Action]) -> bool:
        """Carry out ``actions`` in order; True if one said a peer misbehaved."""
        io = self.io
        misbehaved = False
        for action in actions:
            kind = type(action)
            if kind is Broadcast:
                io.broadcast(action.message)  # type: ignore[union-attr]
            elif kind is Send:
                io.send(action.peer, action.message)  # type: ignore[union-attr]
            elif kind is SetTimer:
                io.set_timer(action.key, action.at_ms)  # type: ignore[union-attr]
            elif kind is CancelTimer:
                io.cancel_timer(action.key)  # type: ignore[union-attr]
            elif kind is RequestProposal:
                assert isinstance(action, RequestProposal)
                block = self.build_proposal(action)
                if block is not None:
                    io.queue(ProposalReady(action, block))
            elif kind is Committed:
                assert isinstance(action, Committed)
                self.mempool.on_block(action.block.txs, io.now_s())
                self.observer.on_committed(action.block, action.proof)
            elif kind is Reverted:
                assert isinstance(action, Reverted)
                self.observer.on_reverted(action.height, action.blocks)
            elif kind is Readmit:
                assert isinstance(action, Readmit)
                results = self.mempool.readmit(action.txs, io.now_s())
                self.observer.on_readmitted(action.txs, sum(r.accepted for r in results))
            elif kind is Mine:
                assert isinstance(action, Mine)
                io.mine(action.job, action.prefix, action.target)
            elif kind is StopMining:
                io.stop_mining(action.job)  # type: ignore[union-attr]
            elif kind is ReportEvidence:
                self._record_evidence(action.evidence)  # type: ignore[union-attr]
            elif kind is FetchBlocks:
                self.catchup.want(action.peer)  # type: ignore[union-attr]
                self._catch_up()
            elif kind is PeerMisbehaved:
                assert isinstance(action, PeerMisbehaved)
                misbehaved = True
                io.penalise(action.peer, action.reason)
                self.observer.on_misbehaved(action.peer, action.reason)
            else:
                raise AssertionError(f"unknown action {action!r}")
        return misbehaved

    # -- blocks --------------------------------------------------------------------

    def build_proposal(self, request: RequestProposal) -> Block | None:
        """An unsigned block on the head from the pool, in the policy's order
        (None if the head moved past the request)."""
        ledger = self.ledger
        if ledger.height + 1 != request.height:
            return None
        started_s = self.io.perf_s()
        limits = BlockLimits(max_txs=ledger.max_block_txs, max_bytes=ledger.max_block_bytes)
        candidates = self.mempool.select(limits, self.io.now_s())
        block, refused = ledger.build_block(
            candidates,
            proposer=self.node_id,
            timestamp_ms=request.timestamp_ms,
            policy=self.policy.name,
            model_hash=self.policy.model_hash,
            last_commit=request.last_commit,
            pow_target=request.pow_target if request.pow_target is not None else ZERO_HASH,
        )
        if refused:
            # The state cannot execute these: left in the pool, each would be
            # picked again for every block and hold back its sender's later nonces.
            self.mempool.remove([tx.id for tx, _ in refused])
        self.observer.on_built(block, len(refused), self.io.perf_s() - started_s)
        return block

    # -- catch-up (node/core/catchup.py) ------------------------------------------------

    def blocks_for(self, request: GetBlocks, max_bytes: int) -> Blocks:
        """The answer to a peer's GetBlocks, read from the store."""
        return catchup.serve(self.ledger, request, max_bytes)

    def _peer_status(self, peer: PeerId, status: StatusMsg) -> bool:
        """A peer's status: catch up if it is ahead; if it is behind, tell it
        where we are (a node that makes progress sends no status of its own)."""
        height, work = self.engine.peer_head(status)
        if self.engine.leads(height, work):
            self.io.send(peer, self.engine.status_message())
        return self._peer_head(peer, height, work)

    def _peer_head(self, peer: PeerId, height: int, work: int) -> bool:
        self.catchup.on_status(peer, height, work)
        if self.engine.is_behind(height, work):
            self._catch_up()
        return False

    def _catch_up(self) -> None:
        """Ask a peer that is ahead for the next blocks, if none is being asked."""
        io = self.io
        now_ms = io.now_ms()
        ask = self.catchup.next_request(
            height=self.ledger.height,
            is_behind=self.engine.is_behind,
            locator=self.engine.catch_up_locator,
            now_ms=now_ms,
        )
        if ask is None:
            return
        peer, number, request = ask
        io.set_timer((catchup.TIMER, number, 0), now_ms + self.catchup.request_timeout_ms)
        io.request_blocks(peer, request)

    def _request_timed_out(self, number: int) -> None:
        if self.catchup.on_timeout(number, self.ledger.height) is not None:
            self._catch_up()

    def _blocks_received(self, peer: PeerId, reply: Blocks | None) -> bool:
        """Hand a peer's blocks to the engine, one ``BlockReceived`` each."""
        cu = self.catchup
        if cu.in_flight is None or cu.in_flight[0] != peer:
            return False  # not asked, or too late: the timer gave up on it
        self.io.cancel_timer((catchup.TIMER, cu.in_flight[1], 0))
        entries: list[tuple[Block, Commit | None]] = []
        faulty = False
        try:
            for raw_block, raw_commit in reply.blocks if reply is not None else ():
                block = Block.decode(raw_block)
                commit = Commit.decode(raw_commit) if raw_commit else None
                entries.append((block, None if commit is not None and commit.is_empty else commit))
        except DecodeError as exc:
            faulty = self.perform([PeerMisbehaved(peer, f"invalid_blocks:{exc.code}")])
            entries = []
        before = self.ledger.height
        for block, commit in entries:
            faulty |= self.perform(
                self.engine.step(BlockReceived(peer, block, commit), self.io.now_ms())
            )
        cu.on_answer(peer, len(entries), self.ledger.height - before, self.ledger.height)
        self._catch_up()
        return faulty

    # -- transactions ----------------------------------------------------------------

    def receive_txs(
        self,
        txs: Sequence[Transaction],
        origin: PeerId | None,
        *,
        labels: Mapping[str, np.ndarray] | None = None,
    ) -> list[AdmitResult]:
        """Admit one batch (from a client when ``origin`` is None, else from
        that peer), signatures checked in one call; relay the accepted ones."""
        results = self.mempool.admit(txs, self.io.now_s(), labels=labels)
        accepted = [tx for tx, r in zip(txs, results, strict=True) if r.accepted]
        if accepted:
            self.io.relay_txs(accepted, origin)
        return results

    def expire(self) -> list[bytes]:
        """Drop pooled txs past their lifetime (housekeeping)."""
        return self.mempool.expire(self.io.now_s())

    def _account_of(self, address: bytes) -> tuple[int, int]:
        account = self.ledger.account(address)
        return account.balance, account.nonce

    # -- evidence ----------------------------------------------------------------------

    def _record_evidence(self, evidence: Any) -> None:
        record = evidence.to_json()
        self.evidence.append(record)
        self.ledger.store.save_meta(EVIDENCE_META_KEY, json.dumps(self.evidence).encode())
        self.observer.on_evidence(record)

    def _load_evidence(self) -> list[dict[str, Any]]:
        raw = self.ledger.store.load_meta(EVIDENCE_META_KEY)
        if raw is None:
            return []
        try:
            records = json.loads(raw)
        except ValueError:
            return []
        return records if isinstance(records, list) else []
