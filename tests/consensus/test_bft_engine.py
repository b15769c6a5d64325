"""Tendermint BFT: the tricky cases of Algorithm 1, one engine at a time.

Most tests drive validator 0's engine with messages signed by the other
validators' keys (they are all known here), so each interleaving is
spelled out. With 4 validators of power 1: quorum 3, round-skip 2, and the
proposer of (height, round) is validator (height + round) % 4.
"""

from __future__ import annotations

import json

from consensus_cluster import CHAIN_ID, Cluster

from node.consensus.bft import PRECOMMIT_STEP, PREVOTE_STEP, BftEngine
from node.consensus.events import (
    Broadcast,
    Committed,
    PeerMisbehaved,
    ReportEvidence,
    RequestProposal,
)
from node.consensus.messages import ProposalMsg, VoteMsg
from node.consensus.validators import ValidatorSet
from node.genesis import Validator
from node.types import PRECOMMIT, PREVOTE, ZERO_HASH, Block, Commit, Proposal, Vote


def signed_vote(c: Cluster, i: int, kind: int, h: int, r: int, block_hash: bytes) -> VoteMsg:
    vote = Vote(kind=kind, height=h, round=r, block_hash=block_hash, validator=c.keys[i])
    return VoteMsg(vote.signed(CHAIN_ID, c.seeds[i]))


def new_block(c: Cluster, i: int, h: int, ts: int = 1000) -> Block:
    request = RequestProposal(height=h, round=0, timestamp_ms=ts, last_commit=None)
    return c.build(i, request).signed(c.seeds[i])


def proposal(c: Cluster, i: int, h: int, r: int, block: Block, pol: int = -1) -> ProposalMsg:
    p = Proposal(height=h, round=r, pol_round=pol, block_hash=block.hash, proposer=c.keys[i])
    return ProposalMsg(p.signed(CHAIN_ID, c.seeds[i]), block)


def own_votes(c: Cluster, i: int, kind: int, r: int) -> list[Vote]:
    return [
        a.message.vote
        for a in c.actions[i]
        if isinstance(a, Broadcast)
        and isinstance(a.message, VoteMsg)
        and a.message.vote.kind == kind
        and a.message.vote.round == r
        and a.message.vote.validator == c.keys[i]
    ]


def feed(c: Cluster, i: int, *msgs, src: int = 1, now: int = 0) -> list:
    out = []
    for m in msgs:
        actions = c.engines[i].on_message(src, m, now)
        c.handle(i, actions, now)
        out.extend(actions)
    return out


def test_four_validators_commit_a_block_with_a_certificate(cluster_factory) -> None:
    c = cluster_factory("bft")
    c.start(0)
    c.deliver(0)
    hashes = {c.committed[i][0].block.hash for i in range(4)}
    assert len(hashes) == 1
    for i in range(4):
        cert = c.committed[i][0].proof
        assert isinstance(cert, Commit) and cert.height == 1
        assert len(cert.signatures) >= 3
        assert c.ledgers[i].height == 1
        assert c.ledgers[i].commit(1) == cert  # stored with the block
        assert c.engines[i].height == 2
    # the next block carries the certificate of this one
    for i in range(4):
        c.fire(i, "commit", now=2000)
    c.deliver(2000)
    block2 = c.committed[0][1].block
    assert block2.height == 2 and not block2.last_commit.is_empty
    assert block2.last_commit.block_hash == c.committed[0][0].block.hash


def test_silent_proposer_gets_nil_votes_and_the_next_round(cluster_factory) -> None:
    c = cluster_factory("bft")
    c.start(0)
    c.deliver(0, drop=lambda s, d, m: isinstance(m, ProposalMsg))
    for i in (0, 2, 3):
        c.fire(i, "propose")
    c.deliver(1000)
    for i in range(4):
        (precommit,) = own_votes(c, i, PRECOMMIT, 0)
        assert precommit.is_nil
    assert [v.is_nil for v in own_votes(c, 0, PREVOTE, 0)] == [True]
    for i in range(4):
        c.fire(i, "precommit")
        assert c.engines[i].round == 1
    assert not any(c.committed)


def test_lock_across_rounds_and_proof_of_lock_reproposal(cluster_factory) -> None:
    c = cluster_factory("bft")
    e0 = c.engines[0]
    assert isinstance(e0, BftEngine)
    c.start(0, only=[0])
    b = new_block(c, 1, 1)
    feed(c, 0, proposal(c, 1, 1, 0, b))
    assert [v.block_hash for v in own_votes(c, 0, PREVOTE, 0)] == [b.hash]
    feed(c, 0, signed_vote(c, 1, PREVOTE, 1, 0, b.hash), signed_vote(c, 2, PREVOTE, 1, 0, b.hash))
    assert e0.locked_round == 0 and e0.locked_block == b  # L36
    assert [v.block_hash for v in own_votes(c, 0, PRECOMMIT, 0)] == [b.hash]
    # the others precommitted nil: no decision, round 1 after the timeout
    feed(c, 0, signed_vote(c, 1, PRECOMMIT, 1, 0, ZERO_HASH))
    feed(c, 0, signed_vote(c, 2, PRECOMMIT, 1, 0, ZERO_HASH))
    c.fire(0, "precommit")
    assert e0.round == 1 and not c.committed[0]
    # round 1: a new block from validator 2; locked on b, validator 0 prevotes nil
    b2 = new_block(c, 2, 1, ts=1500)
    feed(c, 0, proposal(c, 2, 1, 1, b2), src=2)
    assert [v.block_hash for v in own_votes(c, 0, PREVOTE, 1)] == [ZERO_HASH]
    # f+1 (2 of 4) in round 3 pull validator 0 there; it proposes round 3
    # and re-proposes its valid block with its proof-of-lock round
    c.actions[0].clear()
    feed(c, 0, signed_vote(c, 2, PREVOTE, 1, 3, ZERO_HASH))
    assert e0.round == 1
    feed(c, 0, signed_vote(c, 3, PREVOTE, 1, 3, ZERO_HASH))
    assert e0.round == 3
    sent = [a.message for a in c.of(0, Broadcast) if isinstance(a.message, ProposalMsg)]
    assert len(sent) == 1
    assert sent[0].proposal.pol_round == 0 and sent[0].block == b
    relayed = [a.message.vote for a in c.of(0, Broadcast) if isinstance(a.message, VoteMsg)]
    assert {v.validator for v in relayed if v.round == 0 and v.kind == PREVOTE} >= {
        c.keys[1],
        c.keys[2],
    }


def test_a_locked_validator_accepts_a_newer_proof_of_lock(cluster_factory) -> None:
    c = cluster_factory("bft")
    e0 = c.engines[0]
    c.start(0, only=[0])
    b = new_block(c, 1, 1)
    feed(c, 0, proposal(c, 1, 1, 0, b))
    feed(c, 0, *(signed_vote(c, i, PREVOTE, 1, 0, b.hash) for i in (1, 2)))
    assert e0.locked_block == b
    # round 1: b2 gets a polka (prevotes of 1, 2, 3) that validator 0 sees
    b2 = new_block(c, 2, 1, ts=1500)
    feed(c, 0, *(signed_vote(c, i, PREVOTE, 1, 1, ZERO_HASH) for i in (1, 2)))  # skip to 1
    assert e0.round == 1
    feed(c, 0, *(signed_vote(c, i, PREVOTE, 1, 1, b2.hash) for i in (1, 2, 3)))
    # round 2: validator 3 re-proposes b2 with pol_round 1 > locked_round 0 (L28)
    feed(c, 0, *(signed_vote(c, i, PRECOMMIT, 1, 2, ZERO_HASH) for i in (2, 3)))
    assert e0.round == 2
    feed(c, 0, proposal(c, 3, 1, 2, b2, pol=1), src=3)
    assert [v.block_hash for v in own_votes(c, 0, PREVOTE, 2)] == [b2.hash]


def test_an_equivocating_proposer_is_recorded_and_only_its_first_block_prevoted(
    cluster_factory,
) -> None:
    c = cluster_factory("bft")
    e0 = c.engines[0]
    c.start(0, only=[0])
    a, a2 = new_block(c, 1, 1, ts=1000), new_block(c, 1, 1, ts=1001)
    feed(c, 0, proposal(c, 1, 1, 0, a))
    actions = feed(c, 0, proposal(c, 1, 1, 0, a2))
    assert [x for x in actions if isinstance(x, ReportEvidence)]
    (evidence,) = e0.evidence
    assert evidence.kind == "proposal" and evidence.validator == c.keys[1]
    assert [v.block_hash for v in own_votes(c, 0, PREVOTE, 0)] == [a.hash]
    # a polka for the second block still decides it: votes count for what they name
    feed(c, 0, *(signed_vote(c, i, PREVOTE, 1, 0, a2.hash) for i in (1, 2, 3)))
    feed(c, 0, *(signed_vote(c, i, PRECOMMIT, 1, 0, a2.hash) for i in (1, 2, 3)))
    assert c.committed[0][0].block == a2


def test_double_votes_are_evidence(cluster_factory) -> None:
    c = cluster_factory("bft")
    e0 = c.engines[0]
    c.start(0, only=[0])
    b = new_block(c, 1, 1)
    feed(c, 0, signed_vote(c, 2, PREVOTE, 1, 0, b.hash))
    actions = feed(c, 0, signed_vote(c, 2, PREVOTE, 1, 0, ZERO_HASH))
    assert [x for x in actions if isinstance(x, ReportEvidence)]
    status = e0.status()
    assert status["evidence"][0]["kind"] == "prevote"
    assert status["evidence"][0]["validator"] == c.keys[2].hex()
    json.dumps(status)  # JSON-able, for GET /consensus
    # the same vote twice is not evidence
    feed(c, 0, signed_vote(c, 3, PREVOTE, 1, 0, b.hash), signed_vote(c, 3, PREVOTE, 1, 0, b.hash))
    assert len(e0.evidence) == 1


def test_bad_signatures_and_strangers_cost_the_peer(cluster_factory) -> None:
    c = cluster_factory("bft")
    c.start(0, only=[0])
    good = signed_vote(c, 2, PREVOTE, 1, 0, ZERO_HASH).vote
    forged = Vote(
        kind=PREVOTE,
        height=1,
        round=0,
        block_hash=ZERO_HASH,
        validator=good.validator,
        signature=bytes(64),
    )
    actions = feed(c, 0, VoteMsg(forged), src=7)
    assert [a.peer for a in actions if isinstance(a, PeerMisbehaved)] == [7]
    wrong = proposal(c, 2, 1, 0, new_block(c, 2, 1))  # validator 1 proposes (1, 0)
    actions = feed(c, 0, wrong, src=8)
    assert [a.peer for a in actions if isinstance(a, PeerMisbehaved)] == [8]
    assert own_votes(c, 0, PREVOTE, 0) == []


def test_restart_mid_round_never_signs_a_conflicting_vote(cluster_factory) -> None:
    c = cluster_factory("bft", on_disk=True)
    c.start(0, only=[0])
    b = new_block(c, 1, 1)
    feed(c, 0, proposal(c, 1, 1, 0, b))
    (first,) = own_votes(c, 0, PREVOTE, 0)
    saved = c.ledgers[0].store.load_signing_state()
    assert saved is not None and saved[:3] == (1, 0, 2)  # persisted before it was sent
    c.actions[0].clear()
    c.restart(0, now=100)
    (again,) = own_votes(c, 0, PREVOTE, 0)
    assert again == first  # the same vote, sent again
    assert c.engines[0].round_step == PREVOTE_STEP
    # the proposer equivocates towards the restarted validator: no second prevote
    b2 = new_block(c, 1, 1, ts=1001)
    feed(c, 0, proposal(c, 1, 1, 0, b2), now=150)
    c.fire(0, "propose", now=2000)
    assert [v.block_hash for v in own_votes(c, 0, PREVOTE, 0)] == [b.hash]


def test_restart_keeps_the_lock(cluster_factory) -> None:
    c = cluster_factory("bft", on_disk=True)
    c.start(0, only=[0])
    b = new_block(c, 1, 1)
    feed(c, 0, proposal(c, 1, 1, 0, b))
    feed(c, 0, *(signed_vote(c, i, PREVOTE, 1, 0, b.hash) for i in (1, 2)))
    assert c.engines[0].round_step == PRECOMMIT_STEP
    c.restart(0, now=100)
    e0 = c.engines[0]
    assert e0.locked_block == b and e0.locked_round == 0
    assert [v.block_hash for v in own_votes(c, 0, PRECOMMIT, 0)] == [b.hash] * 2


def test_a_certificate_short_of_quorum_is_refused(cluster_factory) -> None:
    c = cluster_factory("bft")
    c.start(0)
    c.deliver(0)
    block = c.committed[0][0].block
    cert = c.committed[0][0].proof
    assert cert is not None
    short = Commit(
        height=1, round=cert.round, block_hash=block.hash, signatures=cert.signatures[:2]
    )
    fresh = cluster_factory("bft")
    fresh.start(0, only=[3])
    actions = fresh.engines[3].on_block(0, block, short, 10)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)
    assert fresh.ledgers[3].height == 0
    actions = fresh.engines[3].on_block(0, block, None, 10)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)
    actions = fresh.engines[3].on_block(0, block, cert, 10)
    assert any(isinstance(a, Committed) for a in actions)
    assert fresh.ledgers[3].height == 1


def test_weighted_round_robin_gives_slots_in_proportion_to_power() -> None:
    keys = [bytes([i]) * 32 for i in range(3)]
    vs = ValidatorSet([Validator(k, p) for k, p in zip(keys, [1, 2, 3], strict=True)])
    slots = [vs.proposer(h, 0) for h in range(600)]
    assert [slots.count(k) for k in keys] == [100, 200, 300]
    # smooth: the heaviest never proposes more than twice in a row here
    assert all(slots[i : i + 3].count(keys[2]) < 3 for i in range(597))
    assert vs.proposer(5, 2) == vs.proposer(7, 0)  # slot = height + round
    assert (vs.quorum, vs.skip, vs.majority) == (5, 3, 4)
    equal = ValidatorSet([Validator(k, 1) for k in keys])
    assert [equal.proposer(h, 0) for h in range(6)] == keys + keys
