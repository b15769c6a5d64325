"""A Byzantine BFT validator that equivocates.

It runs the honest engine (so it stays in step with the protocol) but
rewrites what it broadcasts: each peer gets, at random, either the honest
message or a conflicting one signed with the same key. A conflicting vote
names another block (nil for a block vote, a made-up hash for a nil vote);
a conflicting proposal carries a different valid block (same transactions,
later timestamp). Honest nodes must stay safe and record the evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node import crypto
from node.consensus.messages import ProposalMsg, VoteMsg
from node.types import ZERO_HASH, Block, Proposal, Vote

if TYPE_CHECKING:
    from node.sim.simulator import SimNode, Simulation


class Equivocator:
    def __init__(self, sim: Simulation, node: SimNode) -> None:
        assert node.seed is not None
        self.sim = sim
        self.seed = node.seed
        self.chain_id = sim.genesis.chain_id

    def split(self, node: SimNode, msg: Any) -> list[tuple[int, Any]]:
        """(peer, message) pairs for one broadcast of ``msg``."""
        other = self._conflicting(msg)
        rng = self.sim.rng
        out = []
        for j in range(len(self.sim.nodes)):
            if j == node.index:
                continue
            out.append((j, other if other is not None and rng.random() < 0.5 else msg))
        return out

    def _conflicting(self, msg: Any) -> Any:
        if isinstance(msg, VoteMsg):
            v = msg.vote
            target = ZERO_HASH if not v.is_nil else crypto.sha256(b"equivocation" + v.encode())
            twin = Vote(
                kind=v.kind,
                height=v.height,
                round=v.round,
                block_hash=target,
                validator=v.validator,
            )
            return VoteMsg(twin.signed(self.chain_id, self.seed))
        if isinstance(msg, ProposalMsg):
            p, block = msg.proposal, msg.block
            header = block.header.replace(timestamp_ms=block.header.timestamp_ms + 1)
            twin_block = Block(header=header, txs=block.txs, last_commit=block.last_commit)
            if header.proposer == p.proposer:
                twin_block = twin_block.signed(self.seed)
            else:
                return None  # a re-proposed block of someone else: cannot forge its signature
            twin_proposal = Proposal(
                height=p.height,
                round=p.round,
                pol_round=p.pol_round,
                block_hash=twin_block.hash,
                proposer=p.proposer,
            ).signed(self.chain_id, self.seed)
            return ProposalMsg(twin_proposal, twin_block)
        return None
