"""Proof of authority: round-robin slots, fixed interval, skipped slots, finality.

4 validators of power 1: the proposer of (height, round) is validator
(height + round) % 4, a block is final with acks of 3 (a majority), the
block interval is 1000 ms and a round times out 2000 ms (+1000 per round).
"""

from __future__ import annotations

import json

from consensus_cluster import CHAIN_ID, Cluster

from node.consensus.events import Broadcast, PeerMisbehaved, RequestProposal
from node.consensus.messages import ProposalMsg, SkipMsg, VoteMsg
from node.consensus.poa import PoaEngine
from node.types import PRECOMMIT, Block, Proposal


def proposal(c: Cluster, i: int, h: int, r: int, block: Block, pol: int = -1) -> ProposalMsg:
    p = Proposal(height=h, round=r, pol_round=pol, block_hash=block.hash, proposer=c.keys[i])
    return ProposalMsg(p.signed(CHAIN_ID, c.seeds[i]), block)


def new_block(c: Cluster, i: int, h: int, ts: int) -> Block:
    return c.build(i, RequestProposal(height=h, round=0, timestamp_ms=ts)).signed(c.seeds[i])


def acks(c: Cluster, i: int) -> list:
    return [
        a.message.vote
        for a in c.of(i, Broadcast)
        if isinstance(a.message, VoteMsg) and a.message.vote.kind == PRECOMMIT
    ]


def test_the_slot_owner_proposes_after_one_interval_and_a_majority_finalises(
    cluster_factory,
) -> None:
    c = cluster_factory("poa")
    c.start(0)
    assert c.timers[1][("propose", 1, 0)] == 1000  # parent at 0 + interval
    assert all(("propose", 1, 0) not in c.timers[i] for i in (0, 2, 3))
    c.fire(1, "propose")
    c.deliver(1000)
    blocks = {c.committed[i][0].block for i in range(4)}
    assert len(blocks) == 1
    (block,) = blocks
    assert block.header.proposer == c.keys[1] and block.verify_signature()
    assert block.header.timestamp_ms == 1000
    cert = c.committed[0][0].proof
    assert cert is not None and len(cert.signatures) >= 3
    assert c.ledgers[2].commit(1) is not None
    json.dumps(c.engines[0].status())
    # height 2 belongs to validator 2, one interval after block 1
    assert c.timers[2][("propose", 2, 0)] == 2000


def test_a_silent_proposer_loses_its_slot_to_the_next_validator(cluster_factory) -> None:
    c = cluster_factory("poa")
    c.down = {1}
    c.start(0, only=[0, 2, 3])
    for i in (0, 2, 3):
        assert c.fire(i, "round") == 3000  # 1000 + slot timeout
    c.deliver(3000)
    assert [c.ledgers[i].height for i in range(4)] == [1, 0, 1, 1]
    for i in (0, 2, 3):
        (block,) = [x.block for x in c.committed[i]]
        assert block.header.proposer == c.keys[2]  # slot (1, 1) is validator 2's


def test_a_block_from_the_wrong_signer_is_refused(cluster_factory) -> None:
    c = cluster_factory("poa")
    c.start(0, only=[0])
    intruder = proposal(c, 2, 1, 0, new_block(c, 2, 1, 1000))
    actions = c.engines[0].on_message(2, intruder, 1000)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)
    assert acks(c, 0) == []


def test_a_block_sooner_than_the_interval_is_refused(cluster_factory) -> None:
    c = cluster_factory("poa")
    c.start(0, only=[0])
    early = proposal(c, 1, 1, 0, new_block(c, 1, 1, 400))
    actions = c.engines[0].on_message(1, early, 400)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)


def test_a_block_acked_in_an_earlier_round_is_proposed_again(cluster_factory) -> None:
    """Only validator 3 acks round 0's block; the slot passes; the next proposer
    must re-propose that block (it may be final somewhere), not a new one."""
    c = cluster_factory("poa")
    c.start(0)
    c.fire(1, "propose")
    b = next(a.message.block for a in c.of(1, Broadcast) if isinstance(a.message, ProposalMsg))
    c.deliver(1000, drop=lambda s, d, m: d != 3 or isinstance(m, VoteMsg))
    assert [v.block_hash for v in acks(c, 3)] == [b.hash]
    assert not any(c.committed)
    for i in range(4):
        c.fire(i, "round")
    c.deliver(3000, drop=lambda s, d, m: s == 1 and isinstance(m, SkipMsg))
    for i in range(4):
        assert c.committed[i][0].block == b
    reproposal = [
        a.message.proposal for a in c.of(2, Broadcast) if isinstance(a.message, ProposalMsg)
    ]
    assert reproposal[0].round == 1 and reproposal[0].pol_round == 0


def test_restart_sends_the_same_ack_and_refuses_a_second_one(cluster_factory) -> None:
    c = cluster_factory("poa", on_disk=True)
    c.start(0, only=[0])
    b = new_block(c, 1, 1, 1000)
    c.handle(0, c.engines[0].on_message(1, proposal(c, 1, 1, 0, b), 1000), 1000)
    (first,) = acks(c, 0)
    c.actions[0].clear()
    c.restart(0, now=1100)
    assert isinstance(c.engines[0], PoaEngine)
    assert acks(c, 0) == [first]
    b2 = new_block(c, 1, 1, 1001)
    c.handle(0, c.engines[0].on_message(1, proposal(c, 1, 1, 0, b2), 1200), 1200)
    assert acks(c, 0) == [first]
