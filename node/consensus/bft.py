"""Tendermint BFT consensus as a pure state machine.

This file is the whole algorithm: Buchman, Kwon and Milosevic, "The latest
gossip on BFT consensus" (2018), Algorithm 1, with the line numbers of the
paper in the comments (L22, L28, ...). Per height, rounds of three steps:

- propose: the round's proposer (weighted round robin, validators.py)
  proposes its ``valid`` block if it has one, else a new block;
- prevote: a validator prevotes the proposal if the block is valid and it
  is not locked on another one (or the proposal carries a proof-of-lock
  newer than its lock), else nil;
- precommit: on prevotes of > 2/3 of the power for the block a validator
  locks on it and precommits it; on > 2/3 for nil, precommits nil.

Precommits of > 2/3 of the power for a block decide it (L49): the engine
commits it with those precommits as its certificate (a ``types.Commit``),
which also travels as the next block's ``last_commit``. Every timeout grows
with the round (``base + round * delta``, genesis params), and > 1/3 of the
power seen in a later round pulls a validator forward (L55), so rounds
synchronise after the network heals.

Beyond the paper:
- signing guard: before emitting any proposal or vote the engine records
  (height, round, step, block hash, lock) through
  ``Application.save_signing_state``; after a restart it never signs a
  message for an earlier (height, round, step), nor a different block for
  the same one;
- evidence: two different signed votes (or proposals) from one validator
  for the same (height, round, kind) are kept as ``DoubleSign``;
- catch-up: every ``gossip`` tick a validator re-sends its own messages of
  the current round and its status; a node that learns from a status that
  it is behind fetches the blocks it misses, with their certificates,
  through the node's one catch-up path (node/core/catchup.py), and each
  comes back here as ``BlockReceived``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
    VoteMsg,
)
from node.consensus.signing import SigningRecord
from node.types import PRECOMMIT, PREVOTE, ZERO_HASH, Block, Commit, Proposal, Vote

if TYPE_CHECKING:
    pass

# steps; NEW_HEIGHT is the pause after a commit (timeout_commit)
NEW_HEIGHT = "new_height"
PROPOSE = "propose"
PREVOTE_STEP = "prevote"
PRECOMMIT_STEP = "precommit"
_STEP_RANK = {NEW_HEIGHT: 0, PROPOSE: 1, PREVOTE_STEP: 2, PRECOMMIT_STEP: 3}

# what the signing state's ``step`` means
SIGNED_PROPOSAL = 1
SIGNED_PREVOTE = 2
SIGNED_PRECOMMIT = 3

MAX_FUTURE_MESSAGES = 10_000
# A validator prevotes nil on a new proposal (pol_round -1) stamped more than
# this far ahead of its clock (node/header_rules.py rule 2). CometBFT's
# proposer-based timestamps call it PRECISION (505 ms by default) and bound
# the other side too; two seconds leaves room for clocks kept by NTP on a
# loaded machine. A re-proposal with a proof-of-lock is exempt, as in
# CometBFT: 2f+1 validators found it timely by their own clocks.
MAX_AHEAD_MS = 2_000


class VoteSet:
    """The votes of one kind in one round, tallied by voting power.

    A validator counts once towards ``power_any`` (its first vote) but a
    validly signed vote counts towards the hash it names even when the same
    validator signed another one: "2f+1 prevotes for v" is about signed
    messages, and the quorum-intersection argument leaves room for the
    Byzantine validators to be in both quorums. Without that, an
    equivocator could show each honest node a different vote and keep a
    proof-of-lock from ever reaching 2f+1 at some of them.
    """

    __slots__ = ("by_hash", "first", "power_any", "power_for")

    def __init__(self) -> None:
        self.first: dict[bytes, Vote] = {}
        self.by_hash: dict[bytes, dict[bytes, Vote]] = {}
        self.power_for: dict[bytes, int] = {}
        self.power_any = 0

    def has(self, vote: Vote) -> bool:
        voters = self.by_hash.get(vote.block_hash)
        return voters is not None and vote.validator in voters

    def add(self, vote: Vote, power: int) -> Vote | None:
        """Count ``vote``; return the same validator's earlier, different vote."""
        voters = self.by_hash.get(vote.block_hash)
        if voters is None:
            voters = self.by_hash[vote.block_hash] = {}
        voters[vote.validator] = vote
        self.power_for[vote.block_hash] = self.power_for.get(vote.block_hash, 0) + power
        earlier = self.first.get(vote.validator)
        if earlier is None:
            self.first[vote.validator] = vote
            self.power_any += power
        return earlier

    def to_json(self) -> dict[str, int]:
        return {("nil" if h == ZERO_HASH else h.hex()): p for h, p in self.power_for.items()}

    def signers(self) -> dict[str, list[str]]:
        """Who signed a vote for each hash ("nil" for nil), in key order."""
        return {
            ("nil" if h == ZERO_HASH else h.hex()): sorted(v.hex() for v in votes)
            for h, votes in self.by_hash.items()
        }


class Timeouts:
    """Step timeouts of round r: ``base + r * delta`` milliseconds."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.propose = (params["timeout_propose_ms"], params["timeout_propose_delta_ms"])
        self.prevote = (params["timeout_prevote_ms"], params["timeout_prevote_delta_ms"])
        self.precommit = (params["timeout_precommit_ms"], params["timeout_precommit_delta_ms"])
        self.commit = int(params["timeout_commit_ms"])

    @staticmethod
    def at(pair: tuple[int, int], round_: int) -> int:
        return int(pair[0] + round_ * pair[1])


class BftEngine(Engine):
    """One validator's (or full node's) Tendermint state machine."""

    name = "bft"
    max_ahead_ms = MAX_AHEAD_MS

    @staticmethod
    def default_gossip_interval_ms(params: Mapping[str, Any]) -> int:
        return int(params["timeout_propose_ms"])

    def __init__(self, **options: Any) -> None:
        """Options: see ``Engine.__init__`` (app, validators, params, seed, ...)."""
        super().__init__(**options)
        app, params = self.app, self.params
        assert self.validator_set is not None
        self.vs = self.validator_set
        self.finality_power = self.vs.quorum
        self.timeouts = Timeouts(params)
        self.signed: SigningRecord | None = None
        self.last_commit: Commit | None = (
            app.commit_certificate(app.height) if app.height > 0 else None
        )
        self._future: list[tuple[PeerId, Message]] = []
        self._last_tick: tuple[int, int, str] | None = None
        self._last_precommits: dict[int, VoteSet] = {}
        self._outbox: list[Action] = []  # evidence found while validating
        self._reset_height(app.height + 1)
        self._restore_signing_state()

    # -- per-height state ------------------------------------------------------

    def _reset_height(self, height: int) -> None:
        self.height = height
        self.round = 0
        self.round_step = NEW_HEIGHT
        self.locked_round = -1
        self.locked_block: Block | None = None
        self.valid_round = -1
        self.valid_block: Block | None = None
        self.proposals: dict[int, list[ProposalMsg]] = {}
        self.blocks: dict[bytes, Block] = {}
        self.prevotes: dict[int, VoteSet] = {}
        self.precommits: dict[int, VoteSet] = {}
        self.round_senders: dict[int, set[bytes]] = {}
        self.round_power: dict[int, int] = {}
        self.skip_target = -1
        self.decidable_rounds: set[int] = set()
        self.fired: set[tuple[str, int]] = set()
        self.own: dict[int, list[Message]] = {}
        self.pending_request: RequestProposal | None = None
        self._validity: dict[bytes, str | None] = {}

    def _restore_signing_state(self) -> None:
        saved = self.app.load_signing_state()
        if saved is None:
            return
        rec = SigningRecord.decode(*saved)
        self.signed = rec
        if rec.height != self.height:
            return
        # Same height as before the restart: resume in the signed round, keep
        # the lock (Tendermint's safety relies on it) and re-send what was
        # signed in that round (start() does).
        self.round = rec.round
        self.locked_round, self.locked_block = rec.locked_round, rec.locked_block
        self.valid_round, self.valid_block = rec.valid_round, rec.valid_block
        for block in (rec.locked_block, rec.valid_block):
            if block is not None:
                self.blocks.setdefault(block.hash, block)
        for vote in rec.pol:
            votes = self.prevotes.setdefault(vote.round, VoteSet())
            if vote.validator in self.vs and not votes.has(vote):
                self._count_vote(votes, vote, self.vs.power[vote.validator])

    @property
    def last_signed(self) -> tuple[int, int, int, bytes] | None:
        rec = self.signed
        return None if rec is None else (rec.height, rec.round, rec.step, rec.block_hash)

    def _may_sign(
        self, step_code: int, block_hash: bytes, proposal: tuple[int, Block] | None = None
    ) -> bool:
        """The signing guard: persist before signing, refuse what could conflict."""
        key = (self.height, self.round, step_code)
        rec = self.signed
        if rec is not None:
            last = (rec.height, rec.round, rec.step)
            if key < last:
                return False
            if key == last:
                return rec.block_hash == block_hash
        if rec is None or (rec.height, rec.round) != (self.height, self.round):
            rec = SigningRecord(self.height, self.round, step_code, block_hash)
        rec = SigningRecord(
            height=self.height,
            round=self.round,
            step=step_code,
            block_hash=block_hash,
            locked_round=self.locked_round,
            locked_block=self.locked_block,
            valid_round=self.valid_round,
            valid_block=self.valid_block,
            proposal=proposal if step_code == SIGNED_PROPOSAL else rec.proposal,
            prevote=block_hash if step_code == SIGNED_PREVOTE else rec.prevote,
            precommit=block_hash if step_code == SIGNED_PRECOMMIT else rec.precommit,
            pol=self._proofs_of_lock(),
        )
        self.app.save_signing_state(rec.height, rec.round, rec.step, rec.extra())
        self.signed = rec
        return True

    def _proofs_of_lock(self) -> tuple[Vote, ...]:
        out: list[Vote] = []
        for round_, block in (
            (self.locked_round, self.locked_block),
            (self.valid_round, self.valid_block),
        ):
            prevotes = self.prevotes.get(round_)
            if block is not None and prevotes is not None:
                out.extend(prevotes.by_hash.get(block.hash, {}).values())
        return tuple(dict.fromkeys(out))

    def _resend_signed(self, out: list[Action]) -> None:
        """After a restart: sign again (identically) what this round already had."""
        rec = self.signed
        if rec is None or (rec.height, rec.round) != (self.height, self.round):
            return
        assert self.seed is not None and self.me is not None
        if rec.proposal is not None:
            pol_round, block = rec.proposal
            self._emit_proposal(block, pol_round, out)
        if rec.prevote is not None:
            self._emit_vote(PREVOTE, rec.prevote, out)
            self.round_step = PREVOTE_STEP
        if rec.precommit is not None:
            self._emit_vote(PRECOMMIT, rec.precommit, out)
            self.round_step = PRECOMMIT_STEP

    # -- events ------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Action]:
        out: list[Action] = [SetTimer(("gossip", 0, 0), now_ms + self.gossip_interval_ms)]
        self._start_round(self.round, now_ms, out)
        self._resend_signed(out)
        self._advance(now_ms, out)
        return out

    def on_timer(self, key: TimerKey, now_ms: int) -> list[Action]:
        name, height, round_ = key
        out: list[Action] = []
        if name == "gossip":
            self._gossip(out)
            out.append(SetTimer(key, now_ms + self.gossip_interval_ms))
            return out
        if height != self.height:
            return out
        if name == "commit":
            if self.round_step == NEW_HEIGHT:
                self._start_round(self.round, now_ms, out)
        elif round_ != self.round:
            return out
        elif name == "propose":  # L57
            if self.round_step == PROPOSE:
                self._vote(PREVOTE, ZERO_HASH, out)
                self.round_step = PREVOTE_STEP
        elif name == "prevote":  # L61
            if self.round_step == PREVOTE_STEP:
                self._vote(PRECOMMIT, ZERO_HASH, out)
                self.round_step = PRECOMMIT_STEP
        elif name == "precommit":  # L65
            self._start_round(self.round + 1, now_ms, out)
        self._advance(now_ms, out)
        return out

    def on_proposal_ready(
        self, request: RequestProposal, block: Block, now_ms: int
    ) -> list[Action]:
        out: list[Action] = []
        if (
            request is not self.pending_request
            or request.height != self.height
            or request.round != self.round
            or self.round_step != PROPOSE
        ):
            return out
        self.pending_request = None
        assert self.seed is not None and self.me is not None
        self._propose(block.signed(self.seed), -1, out)
        self._advance(now_ms, out)
        return out

    def on_message(self, peer: PeerId, message: Any, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if isinstance(message, VoteMsg):
            self._receive_vote(peer, message, out)
        elif isinstance(message, ProposalMsg):
            self._receive_proposal(peer, message, out)
        else:
            return out
        self._advance(now_ms, out)
        return out

    def on_block(
        self, peer: PeerId, block: Block, commit: Commit | None, now_ms: int
    ) -> list[Action]:
        out: list[Action] = []
        self.receive_decided(peer, block, commit, now_ms, out)
        self._advance(now_ms, out)
        return out

    # -- receiving ---------------------------------------------------------------

    def _receive_vote(self, peer: PeerId, msg: VoteMsg, out: list[Action]) -> None:
        vote = msg.vote
        if vote.height != self.height:
            if vote.height == self.height + 1 and len(self._future) < MAX_FUTURE_MESSAGES:
                self._future.append((peer, msg))
            return
        power = self.vs.power.get(vote.validator)
        if power is None:
            out.append(PeerMisbehaved(peer, "vote from a non-validator"))
            return
        sets = self.prevotes if vote.kind == PREVOTE else self.precommits
        votes = sets.get(vote.round)
        if votes is None:
            votes = sets[vote.round] = VoteSet()
        if votes.has(vote):
            return
        if not self.verifier.verify(vote.validator, vote.sign_bytes(self.chain_id), vote.signature):
            out.append(PeerMisbehaved(peer, "vote with an invalid signature"))
            return
        earlier = self._count_vote(votes, vote, power)
        if earlier is not None:
            self.record_evidence(vote_evidence(earlier, vote), out)

    def _count_vote(self, votes: VoteSet, vote: Vote, power: int) -> Vote | None:
        earlier = votes.add(vote, power)
        self._note_sender(vote.round, vote.validator, power)
        if vote.block_hash != ZERO_HASH and votes.power_for[vote.block_hash] >= self.vs.quorum:
            if vote.kind == PRECOMMIT:
                self.decidable_rounds.add(vote.round)
            else:
                self._note_polka(vote.round, vote.block_hash)
        return earlier

    def _note_polka(self, round_: int, block_hash: bytes) -> None:
        """> 2/3 prevotes for a block in an earlier round than ours: it becomes
        our valid value if newer (as CometBFT does; the paper only updates it
        in the current round, which can leave a proof-of-lock with nobody
        who would propose it)."""
        if not self.valid_round < round_ < self.round:
            return
        block = self.blocks.get(block_hash)
        if block is not None and self.validate_proposed(block) is None:
            self.valid_round, self.valid_block = round_, block

    def _receive_proposal(self, peer: PeerId, msg: ProposalMsg, out: list[Action]) -> None:
        p = msg.proposal
        if p.height != self.height:
            if p.height == self.height + 1 and len(self._future) < MAX_FUTURE_MESSAGES:
                self._future.append((peer, msg))
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
            if len(known) >= 2:
                return  # two proposals suffice to follow an equivocating proposer
        self.proposals.setdefault(p.round, []).append(msg)
        self.blocks.setdefault(p.block_hash, msg.block)
        self._note_sender(p.round, p.proposer, self.vs.power[p.proposer])
        prevotes = self.prevotes.get(p.round)
        if prevotes is not None and prevotes.power_for.get(p.block_hash, 0) >= self.vs.quorum:
            self._note_polka(p.round, p.block_hash)

    def _note_sender(self, round_: int, validator: bytes, power: int) -> None:
        senders = self.round_senders.get(round_)
        if senders is None:
            senders = self.round_senders[round_] = set()
        if validator in senders:
            return
        senders.add(validator)
        total = self.round_power[round_] = self.round_power.get(round_, 0) + power
        if round_ > self.round and round_ > self.skip_target and total >= self.vs.skip:
            self.skip_target = round_

    # -- validity -----------------------------------------------------------------

    def validate_proposed(self, block: Block) -> str | None:
        """valid(v) of the paper: None when ``block`` may be height ``self.height``."""
        block_hash = block.hash
        if block_hash in self._validity:
            return self._validity[block_hash]
        reason = self.check_extends_head(block)
        if reason is None and block.header.proposer not in self.vs:
            reason = "block proposer is not a validator"
        if reason is None and not self.check_block_signature(block):
            reason = "block signature is invalid"
        if reason is None:
            reason = self._check_last_commit(block)
        if reason is None:
            reason = self.app.validate(block)
        self._validity[block_hash] = reason
        return reason

    def _check_last_commit(self, block: Block) -> str | None:
        if block.height == 1:
            return None if block.last_commit.is_empty else "block 1 carries a last_commit"
        reason = self.vs.check_commit(
            block.last_commit, self.chain_id, block.height - 1, self.app.head.hash, self.verifier
        )
        if reason is None:
            self._cross_check(block.last_commit)
        return reason

    def _cross_check(self, cert: Commit) -> None:
        """Precommits in a certificate that contradict ones we saw are double
        signing: votes are not relayed, so this is where an equivocator's
        two faces meet (the signatures were just checked)."""
        seen = self._last_precommits.get(cert.round)
        if seen is None:
            return
        for vote in cert.votes():
            earlier = seen.first.get(vote.validator)
            if earlier is not None and earlier.block_hash != vote.block_hash:
                self.record_evidence(vote_evidence(earlier, vote), self._outbox)

    # -- the algorithm --------------------------------------------------------------

    def _start_round(self, round_: int, now_ms: int, out: list[Action]) -> None:  # L11
        self.round = round_
        self.round_step = PROPOSE
        h = self.height
        rec = self.signed
        resumed = rec is not None and (rec.height, rec.round) == (h, round_) and rec.proposal
        if self.me is not None and self.vs.proposer(h, round_) == self.me and not resumed:
            if self.valid_block is not None:
                self._propose(self.valid_block, self.valid_round, out)
            else:
                self.pending_request = RequestProposal(
                    height=h,
                    round=round_,
                    timestamp_ms=self.next_timestamp_ms(now_ms),
                    last_commit=self.last_commit,
                )
                out.append(self.pending_request)
        out.append(
            SetTimer(("propose", h, round_), now_ms + Timeouts.at(self.timeouts.propose, round_))
        )

    def _propose(self, block: Block, pol_round: int, out: list[Action]) -> None:
        if self._may_sign(SIGNED_PROPOSAL, block.hash, (pol_round, block)):
            self._emit_proposal(block, pol_round, out)

    def _emit_proposal(self, block: Block, pol_round: int, out: list[Action]) -> None:
        assert self.seed is not None and self.me is not None
        proposal = Proposal(
            height=self.height,
            round=self.round,
            pol_round=pol_round,
            block_hash=block.hash,
            proposer=self.me,
        ).signed(self.chain_id, self.seed)
        msg = ProposalMsg(proposal, block)
        self.proposals.setdefault(self.round, []).append(msg)
        self.blocks.setdefault(block.hash, block)
        own = self.own.setdefault(self.round, [])
        own.append(msg)
        out.append(Broadcast(msg))
        if pol_round >= 0:
            # The proof-of-lock travels with the proposal: peers that missed
            # some of those prevotes could not accept it otherwise (L28).
            pol = self.prevotes.get(pol_round)
            for vote in pol.by_hash.get(block.hash, {}).values() if pol else ():
                relay = VoteMsg(vote)
                own.append(relay)
                out.append(Broadcast(relay))

    def _vote(self, kind: int, block_hash: bytes, out: list[Action]) -> None:
        if self.me is None or self.seed is None or self.me not in self.vs:
            return
        code = SIGNED_PREVOTE if kind == PREVOTE else SIGNED_PRECOMMIT
        if self._may_sign(code, block_hash):
            self._emit_vote(kind, block_hash, out)

    def _emit_vote(self, kind: int, block_hash: bytes, out: list[Action]) -> None:
        assert self.seed is not None and self.me is not None
        vote = Vote(
            kind=kind,
            height=self.height,
            round=self.round,
            block_hash=block_hash,
            validator=self.me,
        ).signed(self.chain_id, self.seed)
        sets = self.prevotes if kind == PREVOTE else self.precommits
        votes = sets.get(self.round)
        if votes is None:
            votes = sets[self.round] = VoteSet()
        if not votes.has(vote):
            self._count_vote(votes, vote, self.vs.power[self.me])
        msg = VoteMsg(vote)
        self.own.setdefault(self.round, []).append(msg)
        out.append(Broadcast(msg))

    def _advance(self, now_ms: int, out: list[Action]) -> None:
        """Apply every rule whose condition holds, until none does."""
        self._rules(now_ms, out)
        if self._outbox:
            out.extend(self._outbox)
            self._outbox.clear()

    def _rules(self, now_ms: int, out: list[Action]) -> None:
        while True:
            if self.decidable_rounds and self._try_decide(now_ms, out):
                continue
            if self.round_step == NEW_HEIGHT:
                return
            if self._try_round_skip(now_ms, out):
                continue
            if self.round_step == PROPOSE:
                choice = self._try_prevote(now_ms)
                if choice is not None:
                    self._vote(PREVOTE, choice, out)
                    self.round_step = PREVOTE_STEP
                    continue
            if self._try_lock(out):
                continue
            if self.round_step == PREVOTE_STEP:
                prevotes = self.prevotes.get(self.round)
                if prevotes is not None and prevotes.power_for.get(ZERO_HASH, 0) >= self.vs.quorum:
                    self._vote(PRECOMMIT, ZERO_HASH, out)  # L44
                    self.round_step = PRECOMMIT_STEP
                    continue
                if prevotes is not None and prevotes.power_any >= self.vs.quorum:
                    self._once("prevote_timer", out, now_ms)  # L34
            precommits = self.precommits.get(self.round)
            if precommits is not None and precommits.power_any >= self.vs.quorum:
                self._once("precommit_timer", out, now_ms)  # L47
            return

    def _once(self, what: str, out: list[Action], now_ms: int) -> None:
        if (what, self.round) in self.fired:
            return
        self.fired.add((what, self.round))
        if what == "prevote_timer":
            at = now_ms + Timeouts.at(self.timeouts.prevote, self.round)
            out.append(SetTimer(("prevote", self.height, self.round), at))
        else:
            at = now_ms + Timeouts.at(self.timeouts.precommit, self.round)
            out.append(SetTimer(("precommit", self.height, self.round), at))

    def _try_prevote(self, now_ms: int) -> bytes | None:
        """L22 and L28: what to prevote on the first proposal of this round that
        lets us prevote (a block hash or nil), or None to keep waiting."""
        for msg in self.proposals.get(self.round, ()):
            p = msg.proposal
            block_hash = p.block_hash
            if p.pol_round == -1:  # L22, and timely by our clock
                ok = (
                    self.validate_proposed(msg.block) is None
                    and self.check_not_ahead(msg.block, now_ms) is None
                ) and (
                    self.locked_round == -1
                    or (self.locked_block is not None and self.locked_block.hash == block_hash)
                )
            else:  # L28
                pol = self.prevotes.get(p.pol_round)
                if pol is None or pol.power_for.get(block_hash, 0) < self.vs.quorum:
                    continue
                ok = self.validate_proposed(msg.block) is None and (
                    self.locked_round <= p.pol_round
                    or (self.locked_block is not None and self.locked_block.hash == block_hash)
                )
            return block_hash if ok else ZERO_HASH
        return None

    def _try_lock(self, out: list[Action]) -> bool:
        """L36: a valid proposal of this round with > 2/3 prevotes, first time."""
        if (
            self.round_step not in (PREVOTE_STEP, PRECOMMIT_STEP)
            or ("lock", self.round) in self.fired
        ):
            return False
        prevotes = self.prevotes.get(self.round)
        if prevotes is None or prevotes.power_any < self.vs.quorum:
            return False
        for msg in self.proposals.get(self.round, ()):
            block_hash = msg.proposal.block_hash
            if prevotes.power_for.get(block_hash, 0) < self.vs.quorum:
                continue
            if self.validate_proposed(msg.block) is not None:
                continue
            self.fired.add(("lock", self.round))
            if self.round_step == PREVOTE_STEP:
                self.locked_block, self.locked_round = msg.block, self.round
                self._vote(PRECOMMIT, block_hash, out)
                self.round_step = PRECOMMIT_STEP
            self.valid_block, self.valid_round = msg.block, self.round
            return True
        return False

    def _try_round_skip(self, now_ms: int, out: list[Action]) -> bool:
        """L55: > 1/3 of the power is in a later round: go there."""
        if self.skip_target <= self.round:
            return False
        self._start_round(self.skip_target, now_ms, out)
        return True

    def _try_decide(self, now_ms: int, out: list[Action]) -> bool:
        """L49: > 2/3 precommits for a block of any round we hold and find valid."""
        for round_ in sorted(self.decidable_rounds):
            precommits = self.precommits[round_]
            for block_hash, power in precommits.power_for.items():
                if block_hash == ZERO_HASH or power < self.vs.quorum:
                    continue
                block = self.blocks.get(block_hash)
                if block is None or self.validate_proposed(block) is not None:
                    continue
                signatures = [
                    (v.validator, v.signature) for v in precommits.by_hash[block_hash].values()
                ]
                cert = Commit(
                    height=self.height, round=round_, block_hash=block_hash, signatures=signatures
                )
                self.commit_certified(block, cert, now_ms, out)
                return True
        return False

    def commit_certified(self, block: Block, cert: Commit, now_ms: int, out: list[Action]) -> None:
        self.app.commit(block, cert)
        out.append(Committed(block, cert))
        self.last_commit = cert
        self._last_precommits = self.precommits
        self._reset_height(self.height + 1)
        out.append(SetTimer(("commit", self.height, 0), now_ms + self.timeouts.commit))
        future, self._future = self._future, []
        for peer, msg in future:
            if isinstance(msg, VoteMsg):
                self._receive_vote(peer, msg, out)
            elif isinstance(msg, ProposalMsg):
                self._receive_proposal(peer, msg, out)

    # -- gossip and catch-up --------------------------------------------------------

    def _gossip(self, out: list[Action]) -> None:
        # Only a validator that made no progress since the last tick speaks:
        # its messages (or a peer's) may have been lost. A healthy network
        # then carries no gossip at all, which keeps 100-node runs cheap.
        state = (self.height, self.round, self.round_step)
        stuck, self._last_tick = state == self._last_tick, state
        if not stuck or self.round_step == NEW_HEIGHT:
            return
        out.append(Broadcast(self.status_message()))
        for round_ in (self.round - 1, self.round):
            for msg in self.own.get(round_, ()):
                out.append(Broadcast(msg))

    # -- inspection ----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        rounds = sorted(set(self.prevotes) | set(self.precommits) | set(self.proposals))
        return {
            "engine": self.name,
            "height": self.height,
            "round": self.round,
            "step": self.round_step,
            "proposer": self.vs.proposer(self.height, self.round).hex(),
            "locked_round": self.locked_round,
            "locked_hash": self.locked_block.hash.hex() if self.locked_block else None,
            "valid_round": self.valid_round,
            "valid_hash": self.valid_block.hash.hex() if self.valid_block else None,
            "votes": {
                str(r): {
                    "proposals": [m.proposal.block_hash.hex() for m in self.proposals.get(r, ())],
                    "prevotes": self.prevotes[r].to_json() if r in self.prevotes else {},
                    "precommits": self.precommits[r].to_json() if r in self.precommits else {},
                    "prevote_signers": self.prevotes[r].signers() if r in self.prevotes else {},
                    "precommit_signers": (
                        self.precommits[r].signers() if r in self.precommits else {}
                    ),
                }
                for r in rounds
            },
            "quorum_power": self.vs.quorum,
            "total_power": self.vs.total_power,
            "last_signed": list(self.last_signed[:3]) if self.last_signed else None,
            "evidence": [e.to_json() for e in self.evidence],
        }
