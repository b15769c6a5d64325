"""The base of every engine: event dispatch, identity and common checks.

A concrete engine (bft, poa, pow) implements the ``on_*`` handlers; each
returns the list of actions for the driver (node/consensus/events.py).
``step(event, now_ms)`` dispatches any event to its handler, for drivers
that keep events in one queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from node import crypto, header_rules
from node.consensus.app import Application
from node.consensus.events import (
    Action,
    BlockReceived,
    Event,
    MessageReceived,
    MinedNonce,
    PeerId,
    PeerMisbehaved,
    ProposalReady,
    ReportEvidence,
    RequestProposal,
    TimerFired,
    TimerKey,
)
from node.consensus.evidence import DoubleSign
from node.consensus.messages import StatusMsg
from node.consensus.validators import SignatureVerifier, ValidatorSet
from node.errors import InvalidBlock
from node.types import Block, BlockHeader, Commit, block_sign_bytes

if TYPE_CHECKING:
    from node.genesis import Validator


#: hashes a catch-up locator holds at most (``Engine.catch_up_locator``)
MAX_LOCATOR = 64


class Engine:
    """Shared state and dispatch. Subclasses set ``name`` and the handlers."""

    name = "engine"
    # how far ahead of this node's clock a block it votes or mines on may be
    # stamped (header_rules rule 2); each engine sets its own
    max_ahead_ms = 0
    # the least time from a parent's timestamp to its child's (rule 1)
    min_gap_ms = header_rules.MIN_GAP_MS

    def __init__(
        self,
        *,
        app: Application,
        validators: Sequence[Validator],
        params: Mapping[str, Any],
        seed: bytes | None = None,
        verifier: SignatureVerifier | None = None,
        gossip_interval_ms: int | None = None,
    ) -> None:
        self.app = app
        self.chain_id = app.chain_id
        self.params = params
        self.validator_set = ValidatorSet(validators) if validators else None
        self.seed = seed
        self.me: bytes | None = crypto.keypair_from_seed(seed)[1] if seed is not None else None
        self.verifier = verifier if verifier is not None else SignatureVerifier()
        self.evidence: list[DoubleSign] = []
        self._evidence_keys: set[tuple[bytes, int, int, str]] = set()
        self.gossip_interval_ms = gossip_interval_ms or self.default_gossip_interval_ms(params)

    @staticmethod
    def default_gossip_interval_ms(params: Mapping[str, Any]) -> int:
        """How often the engine may re-send and announce its status."""
        return int(params["block_interval_ms"])

    # -- the one entry point ------------------------------------------------

    def step(self, event: Event, now_ms: int) -> list[Action]:
        if isinstance(event, MessageReceived):
            return self.on_message(event.peer, event.message, now_ms)
        if isinstance(event, TimerFired):
            return self.on_timer(event.key, now_ms)
        if isinstance(event, ProposalReady):
            return self.on_proposal_ready(event.request, event.block, now_ms)
        if isinstance(event, BlockReceived):
            return self.on_block(event.peer, event.block, event.commit, now_ms)
        if isinstance(event, MinedNonce):
            return self.on_mined(event.job, event.nonce, now_ms)
        raise TypeError(f"not an engine event: {event!r}")

    # -- handlers (subclasses override) --------------------------------------

    def start(self, now_ms: int) -> list[Action]:
        """First actions after construction (or after a restart)."""
        raise NotImplementedError

    def on_message(self, peer: PeerId, message: Any, now_ms: int) -> list[Action]:
        raise NotImplementedError

    def on_timer(self, key: TimerKey, now_ms: int) -> list[Action]:
        raise NotImplementedError

    def on_proposal_ready(
        self, request: RequestProposal, block: Block, now_ms: int
    ) -> list[Action]:
        return []

    def on_block(
        self, peer: PeerId, block: Block, commit: Commit | None, now_ms: int
    ) -> list[Action]:
        return []

    def on_mined(self, job: int, nonce: int, now_ms: int) -> list[Action]:
        return []

    def status(self) -> dict[str, Any]:
        """The live state as JSON-able values (GET /consensus)."""
        raise NotImplementedError

    # -- catch-up (node/core/catchup.py asks, the engine judges the blocks) ---------

    def status_message(self) -> StatusMsg:
        """What this node tells its peers of where it is (the height in
        progress and its round, for the finality engines)."""
        return StatusMsg(self.app.height + 1, getattr(self, "round", 0), self.app.head.hash)

    def peer_head(self, status: StatusMsg) -> tuple[int, int]:
        """The (head height, total work or 0) a peer's status reports."""
        return status.height - 1, 0

    def is_behind(self, height: int, work: int) -> bool:
        """Whether a peer whose head is at ``height`` (with ``work``) holds
        blocks this engine should fetch. Final chains: a higher head."""
        return height > self.app.height

    def leads(self, height: int, work: int) -> bool:
        """Whether this node holds blocks a peer at ``height`` (with ``work``)
        should fetch: ``is_behind`` seen from the other side."""
        return self.app.height > height

    def catch_up_locator(self) -> tuple[bytes, ...]:
        """Hashes a catch-up request carries to find the fork point (PoW)."""
        return ()

    # -- shared checks -------------------------------------------------------

    @property
    def is_validator(self) -> bool:
        return (
            self.me is not None and self.validator_set is not None and self.me in self.validator_set
        )

    def check_block_signature(self, block: Block) -> bool:
        return self.verifier.verify(
            block.header.proposer, block_sign_bytes(block.hash), block.signature
        )

    def check_extends_head(self, block: Block) -> str | None:
        """Cheap structural checks of a block meant to extend the head."""
        head = self.app.head
        if block.height != head.height + 1:
            return f"block height {block.height} does not follow head {head.height}"
        if block.header.prev_hash != head.hash:
            return "block does not extend the head"
        if block.header.chain_id != self.chain_id:
            return "block is for another chain"
        reason = self.check_timestamp(block.header, head)
        if reason is not None:
            return reason
        return block.check_body()

    def check_timestamp(self, header: BlockHeader, parent: BlockHeader) -> str | None:
        """Rule 1 of node/header_rules.py with this engine's gap: None if ``header``
        is stamped late enough after ``parent``."""
        try:
            header_rules.check_follows_parent(
                header.timestamp_ms, parent.timestamp_ms, self.min_gap_ms
            )
        except InvalidBlock as exc:
            return header_rules.violation(exc)
        return None

    def check_not_ahead(self, block: Block, now_ms: int) -> str | None:
        """Rule 2 with this engine's bound: None unless ``block`` is stamped
        more than ``max_ahead_ms`` ahead of ``now_ms``."""
        try:
            header_rules.check_not_ahead(block.header.timestamp_ms, now_ms, self.max_ahead_ms)
        except InvalidBlock as exc:
            return header_rules.violation(exc)
        return None

    def next_timestamp_ms(self, now_ms: int) -> int:
        """Rule 3: the timestamp of a new block on the head."""
        return header_rules.next_timestamp_ms(now_ms, self.app.head.timestamp_ms, self.min_gap_ms)

    def record_evidence(self, evidence: DoubleSign, out: list[Action]) -> None:
        """Keep ``evidence`` (once) and ask the node to persist/publish it."""
        if evidence.key in self._evidence_keys:
            return
        self._evidence_keys.add(evidence.key)
        self.evidence.append(evidence)
        out.append(ReportEvidence(evidence))

    # -- finality engines (bft, poa): blocks that come with a certificate ------

    height: int
    finality_power: int  # the power a certificate needs

    def validate_proposed(self, block: Block) -> str | None:
        """None when ``block`` may be the next block (every engine rule)."""
        raise NotImplementedError

    def commit_certified(self, block: Block, cert: Commit, now_ms: int, out: list[Action]) -> None:
        raise NotImplementedError

    def receive_decided(
        self, peer: PeerId, block: Block, commit: Commit | None, now_ms: int, out: list[Action]
    ) -> None:
        """A block of the height in progress with its certificate (catch-up):
        commit it if the certificate and the block check out."""
        if block.height != self.height or self.validator_set is None:
            return
        if commit is None:
            out.append(PeerMisbehaved(peer, "decided block without a certificate"))
            return
        reason = self.validator_set.check_commit(
            commit, self.chain_id, block.height, block.hash, self.verifier, need=self.finality_power
        )
        if reason is None:
            reason = self.validate_proposed(block)
        if reason is not None:
            out.append(PeerMisbehaved(peer, f"decided block refused: {reason}"))
            return
        self.commit_certified(block, commit, now_ms, out)
