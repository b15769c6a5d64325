"""Fixtures of the P2P tests (helpers live in p2pkit.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from p2pkit import CHAIN_ID


@pytest.fixture
def tx_encodings() -> Callable[[int], list[bytes]]:
    """Real signed transfers, encoded, from a fresh wallet."""
    from node.wallet import Wallet

    def make(n: int) -> list[bytes]:
        w = Wallet.generate()
        return [
            w.transfer(to=bytes(32), amount=1, fee=1, nonce=i, chain_id=CHAIN_ID).encode()
            for i in range(n)
        ]

    return make
