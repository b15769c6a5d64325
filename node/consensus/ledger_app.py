"""``LedgerApp``: the Application an engine drives, over the real Ledger.

Validation runs ``Ledger.validate_block`` once per block and keeps the
resulting state diff, so committing the same block right after does not
execute its transactions a second time.
"""

from __future__ import annotations

from node.errors import InvalidBlock
from node.ledger import Ledger
from node.state import StateDiff
from node.types import Block, BlockHeader, Commit


class LedgerApp:
    """Implements node.consensus.app.Application with a Ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._diffs: dict[bytes, tuple[bytes, StateDiff]] = {}

    @property
    def chain_id(self) -> str:
        return self.ledger.chain_id

    @property
    def height(self) -> int:
        return self.ledger.height

    @property
    def head(self) -> BlockHeader:
        return self.ledger.head

    def validate(self, block: Block) -> str | None:
        try:
            diff = self.ledger.validate_block(block)
        except InvalidBlock as exc:
            return f"{exc.code}: {exc.message}"
        if len(self._diffs) > 64:
            self._diffs.clear()
        self._diffs[block.hash] = (self.ledger.head.hash, diff)
        return None

    def commit(self, block: Block, proof: Commit | None) -> None:
        cached = self._diffs.pop(block.hash, None)
        diff = cached[1] if cached is not None and cached[0] == self.ledger.head.hash else None
        self.ledger.commit_block(block, diff, proof)

    def block(self, height: int) -> Block | None:
        if height > self.ledger.height:
            return None
        return self.ledger.block(height)

    def commit_certificate(self, height: int) -> Commit | None:
        return self.ledger.commit(height)

    @property
    def revert_floor(self) -> int:
        return self.ledger.revert_floor

    def revert_to(self, height: int) -> list[Block]:
        self._diffs.clear()
        return self.ledger.revert_to(height)

    def save_signing_state(self, height: int, round: int, step: int, extra: bytes) -> None:
        self.ledger.store.save_signing_state(height, round, step, extra)

    def load_signing_state(self) -> tuple[int, int, int, bytes] | None:
        return self.ledger.store.load_signing_state()
