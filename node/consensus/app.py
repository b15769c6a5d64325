"""What an engine needs from the ledger: the ``Application`` protocol.

An engine reaches the chain only through these synchronous calls. They are
deterministic functions of the chain (no clock, no network), so an engine
stays a pure state machine over (events, now) and its ledger. The live node
and the simulator both pass a ``LedgerApp`` (node/consensus/ledger_app.py)
wrapping the real Ledger and Store; the engines never import the ledger.
"""

from __future__ import annotations

from typing import Protocol

from node.types import Block, BlockHeader, Commit


class Application(Protocol):
    """The chain as an engine sees it."""

    @property
    def chain_id(self) -> str: ...

    @property
    def height(self) -> int:
        """Height of the head block (0 = genesis only)."""
        ...

    @property
    def head(self) -> BlockHeader: ...

    def validate(self, block: Block) -> str | None:
        """Everything but consensus proofs, against the head: None if the
        block may extend the head, else the reason it may not."""
        ...

    def commit(self, block: Block, proof: Commit | None) -> None:
        """Append ``block`` (validated) to the chain, with its certificate."""
        ...

    def block(self, height: int) -> Block | None:
        """The block at ``height`` on the chain, None above the head."""
        ...

    def commit_certificate(self, height: int) -> Commit | None:
        """The certificate stored with block ``height`` (BFT, PoA)."""
        ...

    @property
    def revert_floor(self) -> int:
        """The lowest height ``revert_to`` can reach: the store keeps undo
        history only so deep (PoW: ``pow_reorg_depth`` below the head)."""
        ...

    def revert_to(self, height: int) -> list[Block]:
        """Remove blocks above ``height`` (PoW reorgs; not below
        ``revert_floor``); newest first."""
        ...

    def save_signing_state(self, height: int, round: int, step: int, extra: bytes) -> None:
        """Record durably what this validator is about to sign."""
        ...

    def load_signing_state(self) -> tuple[int, int, int, bytes] | None: ...
