"""The readable log: what happened in a simulated run, in words a student reads.

``ordinet sim --log FILE`` writes one line per event::

    t=1234ms node2 recv prevote h=5 r=0 from node1 block=ab12cd..
    t=1290ms node0 timer propose h=6 r=0
    t=1301ms node3 commit h=5 block=ab12cd.. txs=12 round=0

with the scenario (which faults, when) at the top and each node's final
state at the bottom. The binary event log and its SHA-256 (the replay
check) are unchanged: this is a narration of the same events, built only
when asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.consensus.messages import (
    BlockMsg,
    ProposalMsg,
    SkipMsg,
    StatusMsg,
    VoteMsg,
)
from node.types import ZERO_HASH, Vote


def short(digest: bytes) -> str:
    return digest.hex()[:8] + ".."


def _block(block_hash: bytes) -> str:
    return "nil" if block_hash == ZERO_HASH else short(block_hash)


def _vote(vote: Vote, names: Mapping[bytes, str]) -> str:
    signer = names.get(vote.validator, short(vote.validator))
    return (
        f"{vote.kind_name} h={vote.height} r={vote.round} block={_block(vote.block_hash)} "
        f"by {signer}"
    )


def message(msg: Any, names: Mapping[bytes, str]) -> str:
    """A consensus message in a few words; ``names``: validator key -> node name."""
    if isinstance(msg, VoteMsg):
        return _vote(msg.vote, names)
    if isinstance(msg, ProposalMsg):
        p = msg.proposal
        by = names.get(p.proposer, short(p.proposer))
        pol = f" pol={p.pol_round}" if p.pol_round >= 0 else ""
        return (
            f"proposal h={p.height} r={p.round} block={short(p.block_hash)} "
            f"txs={len(msg.block.txs)}{pol} by {by}"
        )
    if isinstance(msg, SkipMsg):
        return f"skip ({_vote(msg.vote, names)}) accepted_round={msg.accepted_round}"
    if isinstance(msg, StatusMsg):
        work = f" work={msg.work}" if msg.work else ""
        return f"status h={msg.height} r={msg.round} head={short(msg.head_hash)}{work}"
    if isinstance(msg, BlockMsg):
        return f"block h={msg.block.height} block={short(msg.block.hash)}"
    return type(msg).__name__


def timer(key: tuple[str, int, int]) -> str:
    """A timer key in words: ``propose h=5 r=0`` (just the name without a height)."""
    name, height, round_ = key
    return f"{name} h={height} r={round_}" if height or round_ else name


def node_state(name: str, node: Any) -> str:
    """One node's final state: alive or not, head, engine step, pool, penalties."""
    if not node.alive or node.core is None:
        return f"{name}: down"
    core = node.core
    head = core.ledger.head
    status = core.engine.status()
    step = status.get("step") or status.get("round_step") or ""
    parts = [
        f"{name}: height={head.height} head={short(head.hash)}",
        f"engine={status.get('engine', '?')}",
    ]
    if "round" in status:
        parts.append(f"round={status['round']}")
    if step:
        parts.append(f"step={step}")
    parts.append(f"pool={len(core.mempool)}")
    parts.append(f"penalties={node.penalties}")
    if node.skew_ms:
        parts.append(f"clock={node.skew_ms:+d}ms")
    return " ".join(parts)
