"""Proof of work: retargeting, heaviest-chain fork choice, reorgs, mining control."""

from __future__ import annotations

from consensus_cluster import Cluster

from node import crypto
from node.consensus.events import (
    Broadcast,
    Committed,
    FetchBlocks,
    Mine,
    PeerMisbehaved,
    Readmit,
    RequestProposal,
    Reverted,
    StopMining,
)
from node.consensus.messages import BlockMsg
from node.consensus.pow import PowEngine, PowRules, work_of
from node.genesis import DEFAULT_PARAMS
from node.types import Block, BlockHeader

EASY = ((1 << 256) // 4 - 1).to_bytes(32, "big")  # about 4 hashes per block
PARAMS = {"pow_initial_target": EASY.hex()}


def mine(c: Cluster, i: int, now: int) -> Block:
    """Run node i's pending nonce search (as the node would) and hand the nonce back."""
    job = [a for a in c.actions[i] if isinstance(a, Mine)][-1]
    nonce = crypto.pow_search(job.prefix, job.target, 0, 1 << 32)
    assert nonce is not None
    actions = c.engines[i].on_mined(job.job, nonce, now)
    c.handle(i, actions, now)
    (announce,) = [a for a in actions if isinstance(a, Broadcast)]
    return announce.message.block


def headers(spacing_ms: int, count: int, target: bytes) -> list[BlockHeader]:
    out = []
    for h in range(count):
        out.append(
            BlockHeader(
                chain_id="c",
                height=h,
                timestamp_ms=h * spacing_ms,
                prev_hash=bytes(32),
                proposer=bytes(32),
                tx_root=bytes(32),
                state_root=bytes(32),
                pow_target=target if h else bytes(32),
            )
        )
    return out


def test_retarget_follows_the_block_interval_within_limits() -> None:
    params = dict(DEFAULT_PARAMS, pow_retarget_window=10, block_interval_ms=1000)
    rules = PowRules(params)
    initial = int.from_bytes(params["pow_initial_target"], "big")
    half = (initial // 2).to_bytes(32, "big")
    value = lambda b: int.from_bytes(b, "big")  # noqa: E731
    assert rules.expected_target(1, []) == params["pow_initial_target"]
    # twice too fast: the target halves (twice as hard)
    assert value(rules.expected_target(20, headers(500, 20, half))) == initial // 4
    # four times too slow: four times easier, but never easier than the initial target
    assert value(rules.expected_target(20, headers(4000, 20, half))) == initial
    quarter = (initial // 16).to_bytes(32, "big")
    assert value(rules.expected_target(20, headers(4000, 20, quarter))) == (initial // 16) * 4
    # absurdly fast: clamped to a factor of 4
    assert value(rules.expected_target(20, headers(1, 20, half))) == initial // 8
    # between retargets the parent's target carries over
    assert rules.expected_target(21, headers(500, 21, half)) == half


def test_mined_blocks_extend_the_chain_and_carry_the_target(cluster_factory) -> None:
    c = cluster_factory("pow", n=1, params=PARAMS)
    c.start(0)
    block = mine(c, 0, 10)
    assert c.ledgers[0].height == 1
    assert block.header.pow_target == EASY
    assert int.from_bytes(block.hash, "big") <= int.from_bytes(EASY, "big")
    # the head moved: the next search is already asked for
    assert isinstance(c.actions[0][-1], Mine) and c.actions[0][-1].job == 2


def test_a_heavier_branch_reorgs_two_blocks_and_readmits_their_txs(cluster_factory) -> None:
    c = cluster_factory("pow", n=2, params=PARAMS)
    c.start(0)
    mine_a = [mine(c, 0, 10 + k) for k in range(2)]
    mine_b = [mine(c, 1, 20 + k) for k in range(3)]
    assert c.ledgers[0].height == 2 and c.ledgers[1].height == 3
    c.actions[0].clear()
    for block in mine_b:
        c.handle(0, c.engines[0].on_message(1, BlockMsg(block), 100), 100)
    (reverted,) = c.of(0, Reverted)
    assert reverted.height == 0 and [b.hash for b in reverted.blocks] == [
        b.hash for b in reversed(mine_a)
    ]
    assert [a.block.hash for a in c.of(0, Committed)] == [b.hash for b in mine_b]
    (readmit,) = c.of(0, Readmit)
    assert {tx.id for tx in readmit.txs} == {tx.id for b in mine_a for tx in b.txs}
    assert c.ledgers[0].head == c.ledgers[1].head
    assert c.ledgers[0].state.root() == c.ledgers[1].state.root()
    assert isinstance(c.engines[0], PowEngine) and c.engines[0].reorgs == 1
    # the lighter branch stays known: handing it back changes nothing
    c.actions[0].clear()
    for block in mine_a:
        c.engines[0].on_message(1, BlockMsg(block), 200)
    assert c.ledgers[0].head == c.ledgers[1].head


def test_equal_work_keeps_the_chain_seen_first(cluster_factory) -> None:
    c = cluster_factory("pow", n=2, params=PARAMS)
    c.start(0)
    a = mine(c, 0, 10)
    b = mine(c, 1, 11)
    assert work_of(a.header.pow_target) == work_of(b.header.pow_target)
    c.engines[0].on_message(1, BlockMsg(b), 50)
    assert c.ledgers[0].head.hash == a.hash


def test_a_competing_block_interrupts_mining(cluster_factory) -> None:
    c = cluster_factory("pow", n=2, params=PARAMS)
    c.start(0)
    (job,) = c.of(0, Mine)
    other = mine(c, 1, 10)
    actions = c.engines[0].on_message(1, BlockMsg(other), 20)
    stops = [a for a in actions if isinstance(a, StopMining)]
    assert [s.job for s in stops] == [job.job]
    assert any(isinstance(a, RequestProposal) and a.height == 2 for a in actions)
    # a nonce for the abandoned job is ignored
    assert c.engines[0].on_mined(job.job, 0, 30) == []


def test_blocks_breaking_the_rules_are_refused(cluster_factory) -> None:
    c = cluster_factory("pow", n=2, params=PARAMS)
    c.start(0)
    good = mine(c, 1, 10)
    nonce = good.header.pow_nonce
    while True:  # a nonce that misses the target
        nonce += 1
        header = good.header.replace(pow_nonce=nonce)
        if int.from_bytes(header.hash, "big") > int.from_bytes(EASY, "big"):
            break
    lazy = Block(header=header, txs=good.txs)
    actions = c.engines[0].on_message(1, BlockMsg(lazy), 20)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)
    easier = good.header.replace(pow_target=b"\xff" * 32)
    actions = c.engines[0].on_message(1, BlockMsg(Block(header=easier, txs=good.txs)), 20)
    assert any(isinstance(a, PeerMisbehaved) for a in actions)
    assert c.ledgers[0].height == 0


def test_an_orphan_asks_to_catch_up_and_the_missing_blocks_connect_it(cluster_factory) -> None:
    c = cluster_factory("pow", n=2, params=PARAMS)
    c.start(0)
    chain = [mine(c, 1, 10 + k) for k in range(3)]
    e0 = c.engines[0]
    # the tip alone is an orphan: ask the node to fetch from its sender
    actions = e0.on_message(1, BlockMsg(chain[-1]), 20)
    assert [a.peer for a in actions if isinstance(a, FetchBlocks)] == [1]
    assert c.ledgers[0].height == 0
    for block in chain[:-1]:  # what catch-up hands back, block by block
        e0.on_block(1, block, None, 22)
    assert c.ledgers[0].head.hash == chain[-1].hash


def test_more_work_is_ahead_and_the_locator_thins_out_to_genesis(cluster_factory) -> None:
    c = cluster_factory("pow", n=2, params=PARAMS)
    c.start(0)
    for k in range(30):
        c.engines[0].on_block(1, mine(c, 1, 10 + k), None, 10 + k)
    e0 = c.engines[0]
    work = e0.status()["total_work"]
    assert e0.is_behind(30, work + 1) and not e0.is_behind(30, work)
    assert e0.leads(29, work - 1) and not e0.leads(30, work)
    assert e0.peer_head(e0.status_message()) == (30, work)
    locator = e0.catch_up_locator()
    assert locator[0] == c.ledgers[0].head.hash and locator[-1] == c.ledgers[0].block(0).hash
    assert 10 < len(locator) < 30
