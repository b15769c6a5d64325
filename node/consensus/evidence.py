"""Evidence of double signing: two conflicting messages signed by one validator.

A validator that signs two different votes of the same kind for the same
(height, round), or two different proposals for the same (height, round),
has broken the protocol: honest code never does (the signing guard makes
sure of it, across restarts too). Both signed messages are kept, so anyone
can check the evidence with the validator's public key alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.types import Proposal, Vote


@dataclass(frozen=True, slots=True)
class DoubleSign:
    """``first`` and ``second`` are both signed by ``validator`` for one slot."""

    validator: bytes
    height: int
    round: int
    kind: str  # "prevote", "precommit", "proposal" or "skip"/"ack" (PoA)
    first: Vote | Proposal
    second: Vote | Proposal

    @property
    def key(self) -> tuple[bytes, int, int, str]:
        return (self.validator, self.height, self.round, self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "validator": self.validator.hex(),
            "height": self.height,
            "round": self.round,
            "kind": self.kind,
            "first": self.first.encode().hex(),
            "second": self.second.encode().hex(),
        }


def vote_evidence(first: Vote, second: Vote, kind: str | None = None) -> DoubleSign:
    return DoubleSign(
        validator=first.validator,
        height=first.height,
        round=first.round,
        kind=kind or first.kind_name,
        first=first,
        second=second,
    )


def proposal_evidence(first: Proposal, second: Proposal) -> DoubleSign:
    return DoubleSign(
        validator=first.proposer,
        height=first.height,
        round=first.round,
        kind="proposal",
        first=first,
        second=second,
    )
