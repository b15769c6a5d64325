"""Proof of authority: round-robin proposers, fixed block interval, crash-tolerant.

Validators take turns: the proposer of height h in round r is slot
``h + r`` of the weighted round robin (validators.py), so every node names
the same proposer from the genesis alone, without synchronised clocks.
Round 0's proposer signs a block ``block_interval_ms`` after its parent's
timestamp. When nothing is committed ``poa_slot_timeout_ms`` (plus half of
it per further round) after the round began, validators give up on the
round and the slot passes to the next validator.

A block is final once validators holding a majority (> 1/2) of the power
acknowledged it; it is then committed and never reverted. Passing a slot
is done so that a block that may have been final is never replaced: it is
single-decree Paxos per height, with the round as ballot:

- round 0: the proposer proposes, validators ack (phase 2 directly);
- moving to round r > 0, a validator promises to ack nothing older and
  reports the block it acked last, with its round (``SkipMsg``, phase 1);
- round r's proposer waits for promises of a majority and re-proposes the
  block acked in the highest round among them, or a new block if none.

Two majorities always share a validator, so a final block is reported to
every later proposer. What it tolerates: crashes and restarts of any
number of validators (it is live while a majority is up and connected) and
any network delays, losses and partitions; what it does NOT: a validator
that lies (signs two acks or two proposals in one round, or breaks a
promise) can make two blocks final. PoA is not BFT. Such double signing is
kept as evidence. The signing guard persists each promise, proposal and
ack (and the last acked block) before it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from node.consensus.bft import MAX_FUTURE_MESSAGES, VoteSet
from node.consensus.engine import Engine
from node.consensus.events import (
    Action,
    Broadcast,
    Committed,
    PeerId,
    PeerMisbehaved,
    RequestProposal,
    SetTimer,
    TimerKey,
)
from node.consensus.evidence import proposal_evidence, vote_evidence
from node.consensus.messages import (
    Message,
    ProposalMsg,
    SkipMsg,
    VoteMsg,
)
from node.consensus.signing import SigningRecord
from node.types import PRECOMMIT, PREVOTE, ZERO_HASH, Block, Commit, Proposal, Vote

if TYPE_CHECKING:
    pass

# A validator acks no block stamped more than this far ahead of its clock
# (node/header_rules.py rule 2), and a proposer re-proposes none: it
# proposes from a majority of promises that report no such block, which
# Paxos allows (any majority's promises will do), so a validator whose clock
# runs ahead can neither move the chain's time nor stall it.
MAX_AHEAD_MS = 2_000

# what the signing state's ``step`` means (ordered within a round)
SIGNED_SKIP = 1
SIGNED_PROPOSAL = 2
SIGNED_ACK = 3


class PoaEngine(Engine):
    """One validator's (or follower's) PoA state machine."""

    name = "poa"
    max_ahead_ms = MAX_AHEAD_MS
    accepted_block: Block | None

    @staticmethod
    def default_gossip_interval_ms(params: Mapping[str, Any]) -> int:
        return int(params["poa_slot_timeout_ms"])

    def __init__(self, **options: Any) -> None:
        """Options: see ``Engine.__init__`` (app, validators, params, seed, ...)."""
        super().__init__(**options)
        app, params = self.app, self.params
        assert self.validator_set is not None
        self.vs = self.validator_set
        self.finality_power = self.vs.majority
        self.interval_ms = int(params["block_interval_ms"])
        self.min_gap_ms = self.interval_ms  # a round-0 proposer waits one interval
        self.slot_timeout_ms = int(params["poa_slot_timeout_ms"])
        self.signed: SigningRecord | None = None
        self._future: list[tuple[PeerId, Message]] = []
        self._last_tick: tuple[int, int, int] | None = None
        self._reset_height(app.height + 1)
        saved = app.load_signing_state()
        if saved is not None:
            self.signed = SigningRecord.decode(*saved)
            if self.signed.height == self.height:
                self.round = self.signed.round
                if self.signed.valid_block is not None:
                    self.accepted_round = self.signed.valid_round
                    self.accepted_block = self.signed.valid_block

    def _reset_height(self, height: int) -> None:
        self.height = height
        self.round = 0
        self.accepted_round = -1
        self.accepted_block = None
        self.proposals: dict[int, list[ProposalMsg]] = {}
        self.blocks: dict[bytes, Block] = {}
        self.acks: dict[int, VoteSet] = {}
        self.skips: dict[int, dict[bytes, SkipMsg]] = {}
        self.skip_power: dict[int, int] = {}
        self.proposed = False
        self.pending_request: RequestProposal | None = None
        self.own: list[Message] = []
        self._validity: dict[bytes, str | None] = {}

    def timeout_ms(self, round_: int) -> int:
        return self.slot_timeout_ms + round_ * (self.slot_timeout_ms // 2)

    # -- the signing guard ---------------------------------------------------------

    def _may_sign(self, step: int, block_hash: bytes) -> bool:
        key = (self.height, self.round, step)
        rec = self.signed
        if rec is not None:
            last = (rec.height, rec.round, rec.step)
            if key < last:
                return False
            if key == last:
                return rec.block_hash == block_hash
        accepted = self.accepted_block
        if step == SIGNED_ACK:
            accepted = self.blocks.get(block_hash)
        rec = SigningRecord(
            height=self.height,
            round=self.round,
            step=step,
            block_hash=block_hash,
            valid_round=self.round if step == SIGNED_ACK else self.accepted_round,
            valid_block=accepted,
        )
        self.app.save_signing_state(rec.height, rec.round, rec.step, rec.extra())
        self.signed = rec
        return True

    # -- events ----------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Action]:
        out: list[Action] = [SetTimer(("gossip", 0, 0), now_ms + self.gossip_interval_ms)]
        rec = self.signed
        if self.round > 0:
            self._enter_round(self.round, now_ms, out, resume=True)
        else:
            self._enter_height(now_ms, out)
        if (
            rec is not None
            and (rec.height, rec.round, rec.step) == (self.height, self.round, SIGNED_ACK)
            and self.accepted_block is not None
        ):
            self._emit_ack(self.accepted_block.hash, out)
        return out

    def on_timer(self, key: TimerKey, now_ms: int) -> list[Action]:
        name, height, round_ = key
        out: list[Action] = []
        if name == "gossip":
            # only a node that made no progress since the last tick speaks
            state = (self.height, self.round, len(self.own))
            if state == self._last_tick:
                out.append(Broadcast(self.status_message()))
                out.extend(Broadcast(m) for m in self.own)
            self._last_tick = state
            out.append(SetTimer(key, now_ms + self.gossip_interval_ms))
        elif height != self.height or round_ != self.round:
            pass
        elif name == "propose":
            self._request(now_ms, out)
        elif name == "round":
            self._enter_round(self.round + 1, now_ms, out)
        return out

    def on_proposal_ready(
        self, request: RequestProposal, block: Block, now_ms: int
    ) -> list[Action]:
        out: list[Action] = []
        if (
            request is not self.pending_request
            or (request.height, request.round) != (self.height, self.round)
            or self.proposed
        ):
            return out
        self.pending_request = None
        assert self.seed is not None
        self._propose(block.signed(self.seed), -1, now_ms, out)
        return out

    def on_message(self, peer: PeerId, message: Any, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if isinstance(message, VoteMsg):
            self._receive_ack(peer, message, now_ms, out)
        elif isinstance(message, ProposalMsg):
            self._receive_proposal(peer, message, now_ms, out)
        elif isinstance(message, SkipMsg):
            self._receive_skip(peer, message, now_ms, out)
        return out

    def on_block(
        self, peer: PeerId, block: Block, commit: Commit | None, now_ms: int
    ) -> list[Action]:
        out: list[Action] = []
        self.receive_decided(peer, block, commit, now_ms, out)
        return out

    # -- rounds ------------------------------------------------------------------------

    def _enter_height(self, now_ms: int, out: list[Action]) -> None:
        """Round 0: the proposer proposes one interval after the parent."""
        propose_at = self.next_timestamp_ms(now_ms)
        if self._am_proposer():
            out.append(SetTimer(("propose", self.height, 0), propose_at))
        out.append(SetTimer(("round", self.height, 0), propose_at + self.timeout_ms(0)))

    def _enter_round(
        self, round_: int, now_ms: int, out: list[Action], *, resume: bool = False
    ) -> None:
        """Give up on earlier rounds: promise, report what we accepted (phase 1)."""
        self.round = round_
        self.proposed = False
        self.pending_request = None
        self.own = []
        out.append(SetTimer(("round", self.height, round_), now_ms + self.timeout_ms(round_)))
        if self.me is None or self.me not in self.vs:
            return
        accepted = self.accepted_block.hash if self.accepted_block is not None else ZERO_HASH
        if resume:
            # after a restart, send the promise again only if it is exactly
            # the last thing signed (else it was superseded in this round)
            rec = self.signed
            if rec is None or (rec.step, rec.block_hash) != (SIGNED_SKIP, accepted):
                return
        elif not self._may_sign(SIGNED_SKIP, accepted):
            return
        vote = Vote(
            kind=PREVOTE, height=self.height, round=round_, block_hash=accepted, validator=self.me
        )
        assert self.seed is not None
        skip = SkipMsg(
            vote.signed(self.chain_id, self.seed), self.accepted_round, self.accepted_block
        )
        self.own.append(skip)
        out.append(Broadcast(skip))
        self._count_skip(skip)
        self._maybe_propose(now_ms, out)

    def _am_proposer(self) -> bool:
        return self.me is not None and self.vs.proposer(self.height, self.round) == self.me

    def _request(self, now_ms: int, out: list[Action]) -> None:
        if self.proposed or not self._am_proposer():
            return
        self.pending_request = RequestProposal(
            height=self.height, round=self.round, timestamp_ms=self.next_timestamp_ms(now_ms)
        )
        out.append(self.pending_request)

    def _maybe_propose(self, now_ms: int, out: list[Action]) -> None:
        """Round r > 0: with promises of a majority, propose (phase 2a)."""
        if self.round == 0 or self.proposed or not self._am_proposer():
            return
        if self.skip_power.get(self.round, 0) < self.vs.majority:
            return
        # promises that report a block too far ahead of our clock are left
        # out: we would not ack it, and another majority proves it not final
        usable = [
            skip
            for skip in self.skips[self.round].values()
            if skip.block is None or self.check_not_ahead(skip.block, now_ms) is None
        ]
        if sum(self.vs.power[s.vote.validator] for s in usable) < self.vs.majority:
            return
        best: SkipMsg | None = None
        for skip in usable:
            if skip.block is not None and (
                best is None or skip.accepted_round > best.accepted_round
            ):
                best = skip
        if best is not None and best.block is not None:
            self._propose(best.block, best.accepted_round, now_ms, out)
        elif self.pending_request is None:
            self._request(now_ms, out)

    def _propose(self, block: Block, pol_round: int, now_ms: int, out: list[Action]) -> None:
        assert self.seed is not None and self.me is not None
        if not self._may_sign(SIGNED_PROPOSAL, block.hash):
            return
        self.proposed = True
        proposal = Proposal(
            height=self.height,
            round=self.round,
            pol_round=pol_round,
            block_hash=block.hash,
            proposer=self.me,
        ).signed(self.chain_id, self.seed)
        msg = ProposalMsg(proposal, block)
        self.own.append(msg)
        out.append(Broadcast(msg))
        self._receive_proposal(None, msg, now_ms, out)

    # -- receiving ------------------------------------------------------------------------

    def _buffer(self, peer: PeerId, msg: Message, height: int) -> bool:
        """True if ``msg`` is not for this height (and was kept if for the next)."""
        if height == self.height:
            return False
        if height == self.height + 1 and len(self._future) < MAX_FUTURE_MESSAGES:
            self._future.append((peer, msg))
        return True

    def _catch_up_round(self, round_: int, now_ms: int, out: list[Action]) -> None:
        # Crash faults only: a message from a later round is never a lie, so
        # follow it at once (safe: moving up only adds promises).
        if round_ > self.round:
            self._enter_round(round_, now_ms, out)

    def _receive_skip(self, peer: PeerId, msg: SkipMsg, now_ms: int, out: list[Action]) -> None:
        vote = msg.vote
        if self._buffer(peer, msg, vote.height):
            return
        if vote.validator not in self.vs:
            out.append(PeerMisbehaved(peer, "skip from a non-validator"))
            return
        known = self.skips.get(vote.round, {}).get(vote.validator)
        if known is not None:
            if known.vote.block_hash != vote.block_hash and self._verify_vote(vote):
                self.record_evidence(vote_evidence(known.vote, vote, "skip"), out)
            return
        if not self._verify_vote(vote):
            out.append(PeerMisbehaved(peer, "skip with an invalid signature"))
            return
        self._catch_up_round(vote.round, now_ms, out)
        self._count_skip(msg)
        if vote.round == self.round:
            self._maybe_propose(now_ms, out)

    def _count_skip(self, msg: SkipMsg) -> None:
        vote = msg.vote
        skips = self.skips.setdefault(vote.round, {})
        if vote.validator in skips:
            return
        skips[vote.validator] = msg
        self.skip_power[vote.round] = (
            self.skip_power.get(vote.round, 0) + self.vs.power[vote.validator]
        )

    def _receive_proposal(
        self, peer: PeerId, msg: ProposalMsg, now_ms: int, out: list[Action]
    ) -> None:
        p = msg.proposal
        if self._buffer(peer, msg, p.height):
            return
        if p.proposer != self.vs.proposer(p.height, p.round):
            out.append(PeerMisbehaved(peer, "proposal from the wrong proposer"))
            return
        known = self.proposals.get(p.round, [])
        if any(m.proposal == p for m in known):
            return
        if not self.verifier.verify(p.proposer, p.sign_bytes(self.chain_id), p.signature):
            out.append(PeerMisbehaved(peer, "proposal with an invalid signature"))
            return
        if known:
            self.record_evidence(proposal_evidence(known[0].proposal, p), out)
            return
        self.proposals[p.round] = [msg]
        self.blocks.setdefault(p.block_hash, msg.block)
        self._catch_up_round(p.round, now_ms, out)
        if p.round != self.round or self.me is None or self.me not in self.vs:
            self._try_commit(now_ms, out)
            return
        reason = self.validate_proposed(msg.block)
        if reason is not None:
            out.append(PeerMisbehaved(peer, f"proposed block refused: {reason}"))
            return
        if self.check_not_ahead(msg.block, now_ms) is not None:
            # the proposer's clock runs ahead: no fault of the relaying peer
            self._try_commit(now_ms, out)
            return
        if self._may_sign(SIGNED_ACK, p.block_hash):  # phase 2b
            self.accepted_round, self.accepted_block = self.round, msg.block
            self._emit_ack(p.block_hash, out)
        self._try_commit(now_ms, out)

    def _emit_ack(self, block_hash: bytes, out: list[Action]) -> None:
        assert self.seed is not None and self.me is not None
        vote = Vote(
            kind=PRECOMMIT,
            height=self.height,
            round=self.round,
            block_hash=block_hash,
            validator=self.me,
        ).signed(self.chain_id, self.seed)
        acks = self.acks.setdefault(self.round, VoteSet())
        if not acks.has(vote):
            acks.add(vote, self.vs.power[self.me])
        msg = VoteMsg(vote)
        self.own.append(msg)
        out.append(Broadcast(msg))

    def _receive_ack(self, peer: PeerId, msg: VoteMsg, now_ms: int, out: list[Action]) -> None:
        vote = msg.vote
        if self._buffer(peer, msg, vote.height):
            return
        power = self.vs.power.get(vote.validator)
        if power is None or vote.kind != PRECOMMIT or vote.is_nil:
            out.append(PeerMisbehaved(peer, "not an ack from a validator"))
            return
        acks = self.acks.setdefault(vote.round, VoteSet())
        if acks.has(vote):
            return
        if not self._verify_vote(vote):
            out.append(PeerMisbehaved(peer, "ack with an invalid signature"))
            return
        earlier = acks.add(vote, power)
        if earlier is not None:
            self.record_evidence(vote_evidence(earlier, vote, "ack"), out)
        self._try_commit(now_ms, out)

    def _verify_vote(self, vote: Vote) -> bool:
        return self.verifier.verify(vote.validator, vote.sign_bytes(self.chain_id), vote.signature)

    # -- deciding ---------------------------------------------------------------------------

    def validate_proposed(self, block: Block) -> str | None:
        block_hash = block.hash
        if block_hash in self._validity:
            return self._validity[block_hash]
        reason = self.check_extends_head(block)  # with one interval after the parent
        if reason is None and block.header.proposer not in self.vs:
            reason = "block proposer is not a validator"
        if reason is None and not self.check_block_signature(block):
            reason = "block signature is invalid"
        if reason is None:
            reason = self.app.validate(block)
        self._validity[block_hash] = reason
        return reason

    def _try_commit(self, now_ms: int, out: list[Action]) -> None:
        for round_, acks in self.acks.items():
            for block_hash, power in acks.power_for.items():
                if power < self.vs.majority:
                    continue
                block = self.blocks.get(block_hash)
                if block is None or self.validate_proposed(block) is not None:
                    continue
                signatures = [(v.validator, v.signature) for v in acks.by_hash[block_hash].values()]
                cert = Commit(
                    height=self.height, round=round_, block_hash=block_hash, signatures=signatures
                )
                self.commit_certified(block, cert, now_ms, out)
                return

    def commit_certified(self, block: Block, cert: Commit, now_ms: int, out: list[Action]) -> None:
        self.app.commit(block, cert)
        out.append(Committed(block, cert))
        self._reset_height(self.height + 1)
        self._enter_height(now_ms, out)
        future, self._future = self._future, []
        for peer, msg in future:
            if self.height != block.height + 1:
                break
            out.extend(self.on_message(peer, msg, now_ms))

    # -- inspection ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "height": self.height,
            "round": self.round,
            "proposer": self.vs.proposer(self.height, self.round).hex(),
            "accepted_round": self.accepted_round,
            "accepted_hash": self.accepted_block.hash.hex() if self.accepted_block else None,
            "acks": {str(r): a.to_json() for r, a in sorted(self.acks.items())},
            "skips": {str(r): p for r, p in sorted(self.skip_power.items())},
            "majority_power": self.vs.majority,
            "total_power": self.vs.total_power,
            "last_signed": (
                [self.signed.height, self.signed.round, self.signed.step] if self.signed else None
            ),
            "evidence": [e.to_json() for e in self.evidence],
        }
