"""Block timestamps: one rule against the parent, one bound against the clock.

Every engine and the ledger apply the same rule (node/header_rules.py): a
block is stamped strictly after its parent. A node that votes on a block
(BFT prevote, PoA ack) or mines on it refuses one stamped more than its
engine's ``MAX_AHEAD_MS`` ahead of its own clock; for BFT that is a nil
prevote, never evidence nor a fault of the peer that relayed it.
"""

from __future__ import annotations

import pytest
from consensus_cluster import Cluster
from test_bft_engine import feed, own_votes, signed_vote
from test_bft_engine import proposal as bft_proposal
from test_poa_engine import acks
from test_poa_engine import proposal as poa_proposal
from test_pow_engine import PARAMS as POW_PARAMS
from test_pow_engine import mine

from node import header_rules
from node.consensus import bft, poa, pow
from node.consensus.events import Broadcast, PeerMisbehaved, ReportEvidence, RequestProposal
from node.consensus.messages import BlockMsg, ProposalMsg
from node.errors import InvalidBlock
from node.types import PRECOMMIT, PREVOTE, ZERO_HASH, Block

YEAR_MS = 365 * 24 * 3600 * 1000
NOW = 50_000  # the validator's clock in these tests


def signed_block(c: Cluster, i: int, h: int, ts: int) -> Block:
    request = RequestProposal(height=h, round=0, timestamp_ms=ts, last_commit=None)
    block = c.build(i, request)
    # build_block raises a too-early timestamp to the earliest allowed one:
    # force the exact timestamp the test wants (the body stays valid)
    block = Block(header=block.header.replace(timestamp_ms=ts), txs=block.txs)
    return block.signed(c.seeds[i])


# -- the rules themselves -----------------------------------------------------------


def test_a_timestamp_must_be_strictly_after_the_parents() -> None:
    header_rules.check_follows_parent(1001, 1000)
    for ts in (1000, 999):
        with pytest.raises(InvalidBlock) as refused:
            header_rules.check_follows_parent(ts, 1000)
        assert refused.value.code == "timestamp_too_early"
    header_rules.check_follows_parent(2000, 1000, min_gap_ms=1000)
    with pytest.raises(InvalidBlock):
        header_rules.check_follows_parent(1999, 1000, min_gap_ms=1000)
    # a gap below the base one never loosens rule 1
    with pytest.raises(InvalidBlock):
        header_rules.check_follows_parent(1000, 1000, min_gap_ms=0)


def test_a_timestamp_ahead_of_the_clock_is_bounded() -> None:
    header_rules.check_not_ahead(NOW + 2000, NOW, 2000)
    with pytest.raises(InvalidBlock) as refused:
        header_rules.check_not_ahead(NOW + 2001, NOW, 2000)
    assert refused.value.code == "timestamp_in_future"
    assert "2001 ms ahead" in refused.value.message


def test_a_new_timestamp_is_the_clock_raised_past_the_parent() -> None:
    assert header_rules.next_timestamp_ms(5000, 1000) == 5000
    assert header_rules.next_timestamp_ms(500, 1000) == 1001
    assert header_rules.next_timestamp_ms(1500, 1000, min_gap_ms=1000) == 2000


def test_each_engine_documents_its_bound() -> None:
    assert bft.MAX_AHEAD_MS == poa.MAX_AHEAD_MS == 2_000
    assert pow.MAX_AHEAD_MS == 15_000


# -- BFT ----------------------------------------------------------------------------


def prevote_for(c: Cluster, ts: int) -> tuple[bytes, list]:
    """Validator 0 (at NOW) gets height 1's proposal from its proposer (1),
    stamped ``ts``: what it prevotes and what it did."""
    c.start(NOW, only=[0])
    block = signed_block(c, 1, 1, ts)
    actions = feed(c, 0, bft_proposal(c, 1, 1, 0, block), now=NOW)
    (vote,) = own_votes(c, 0, PREVOTE, 0)
    return vote.block_hash, actions


def test_bft_prevotes_nil_on_a_proposal_a_year_ahead(cluster_factory) -> None:
    c = cluster_factory("bft")
    voted, actions = prevote_for(c, NOW + YEAR_MS)
    assert voted == ZERO_HASH
    # the proposer's clock is wrong: that is not a relaying peer's fault, nor evidence
    assert not any(isinstance(a, PeerMisbehaved | ReportEvidence) for a in actions)


def test_bft_prevotes_a_proposal_within_the_bound(cluster_factory) -> None:
    c = cluster_factory("bft")
    voted, _ = prevote_for(c, NOW + bft.MAX_AHEAD_MS)
    assert voted != ZERO_HASH


def test_bft_prevotes_nil_on_a_proposal_stamped_like_its_parent(cluster_factory) -> None:
    c = cluster_factory("bft")
    voted, _ = prevote_for(c, c.genesis.timestamp_ms)
    assert voted == ZERO_HASH


def test_bft_commits_a_decided_block_whatever_its_timestamp(cluster_factory) -> None:
    """2f+1 validators found it timely by their clocks: the bound is for
    prevoting, not for following a decision (as in CometBFT)."""
    c = cluster_factory("bft")
    c.start(NOW, only=[0])
    block = signed_block(c, 1, 1, NOW + 10 * bft.MAX_AHEAD_MS)
    feed(c, 0, bft_proposal(c, 1, 1, 0, block), now=NOW)
    (vote,) = own_votes(c, 0, PREVOTE, 0)
    assert vote.is_nil
    for i in (1, 2, 3):
        feed(c, 0, signed_vote(c, i, PRECOMMIT, 1, 0, block.hash), src=i, now=NOW)
    assert c.ledgers[0].height == 1 and c.ledgers[0].head.hash == block.hash


def test_a_bft_proposer_stamps_its_clock_not_the_parents_plus_one(cluster_factory) -> None:
    c = cluster_factory("bft")
    engine = c.engines[0]
    assert engine.next_timestamp_ms(NOW) == NOW
    assert engine.next_timestamp_ms(c.genesis.timestamp_ms) == c.genesis.timestamp_ms + 1


# -- PoA ----------------------------------------------------------------------------


def poa_ack_for(c: Cluster, ts: int) -> list:
    c.start(NOW, only=[0])
    block = signed_block(c, 1, 1, ts)
    return c.engines[0].on_message(1, poa_proposal(c, 1, 1, 0, block), NOW)


def test_poa_does_not_ack_a_block_a_year_ahead(cluster_factory) -> None:
    c = cluster_factory("poa")
    actions = poa_ack_for(c, NOW + YEAR_MS)
    c.handle(0, actions, NOW)
    assert acks(c, 0) == []
    assert not any(isinstance(a, PeerMisbehaved | ReportEvidence) for a in actions)


def test_poa_acks_a_block_within_the_bound(cluster_factory) -> None:
    c = cluster_factory("poa")
    c.handle(0, poa_ack_for(c, NOW + poa.MAX_AHEAD_MS), NOW)
    assert len(acks(c, 0)) == 1


def test_poa_still_wants_one_interval_after_the_parent(cluster_factory) -> None:
    c = cluster_factory("poa")
    interval = int(c.genesis.params["block_interval_ms"])
    actions = poa_ack_for(c, c.genesis.timestamp_ms + interval - 1)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)


# -- PoW ----------------------------------------------------------------------------


def test_pow_takes_no_block_beyond_its_bound_and_refuses_an_equal_timestamp(
    cluster_factory,
) -> None:
    c = cluster_factory("pow", n=2, params=POW_PARAMS)
    c.start(0)
    good = mine(c, 1, 10)
    engine = c.engines[0]
    early_now = good.header.timestamp_ms - pow.MAX_AHEAD_MS - 1
    assert engine.on_message(1, BlockMsg(good), early_now) == []
    assert c.ledgers[0].height == 0
    engine.on_message(1, BlockMsg(good), good.header.timestamp_ms)
    assert c.ledgers[0].height == 1
    reason = engine.rules.check_header(
        good.header.replace(timestamp_ms=c.genesis.timestamp_ms), [c.ledgers[0].header(0)]
    )
    assert reason is not None and reason.startswith("timestamp_too_early")


def test_poa_leaves_out_a_promise_that_reports_a_block_too_far_ahead(cluster_factory) -> None:
    """Validator 1 (round 0's proposer) runs a year ahead and acks its own
    block; nobody else does. Round 1's proposer must not re-propose that
    block (nobody would ack it: the chain would stall) and need not: the
    promises of 0, 2 and 3 are a majority that proves it is not final."""
    c = cluster_factory("poa")
    c.start(NOW)
    ahead = NOW + YEAR_MS
    c.fire(1, "propose", now=ahead)  # validator 1 proposes and acks by its clock
    (skewed,) = [a.message.block for a in c.of(1, Broadcast) if isinstance(a.message, ProposalMsg)]
    assert skewed.header.timestamp_ms == ahead and len(acks(c, 1)) == 1
    c.deliver(NOW)
    assert [len(acks(c, i)) for i in (0, 2, 3)] == [0, 0, 0]
    later = NOW + 3 * poa.MAX_AHEAD_MS
    c.fire(1, "round", now=ahead + 3000)  # its promise reports the skewed block
    for i in (0, 2, 3):
        c.fire(i, "round", now=later)
    c.deliver(later)
    for i in (0, 2, 3):
        (committed,) = c.committed[i]
        assert committed.block.hash != skewed.hash
        assert committed.block.header.proposer == c.keys[2]  # slot (1, 1)
        assert committed.block.header.timestamp_ms <= later + poa.MAX_AHEAD_MS
