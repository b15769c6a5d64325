"""Fixtures for the type and codec tests: real keys, real signatures."""

from __future__ import annotations

import pytest

from node.types import Transaction
from node.wallet import Wallet

CHAIN = "types-test"


@pytest.fixture
def alice() -> Wallet:
    return Wallet.from_seed(b"\x01" * 32)


@pytest.fixture
def bob() -> Wallet:
    return Wallet.from_seed(b"\x02" * 32)


@pytest.fixture
def sample_txs(alice: Wallet, bob: Wallet) -> list[Transaction]:
    """Three signed transfers from alice to bob, nonces 0..2."""
    return [
        alice.transfer(to=bob.address, amount=10 + n, fee=1, nonce=n, chain_id=CHAIN, data=b"x" * n)
        for n in range(3)
    ]
