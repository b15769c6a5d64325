"""Fixtures for the ledger tests: funded wallets, a genesis, a ledger on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ledgerkit import make_genesis, wallets

from node.genesis import Genesis
from node.ledger import Ledger
from node.wallet import Wallet


@pytest.fixture
def funded() -> list[Wallet]:
    """Eight wallets with 1,000,000 each in the genesis; funded[0] is the validator."""
    return wallets(8)


@pytest.fixture
def genesis(funded: list[Wallet]) -> Genesis:
    return make_genesis(funded)


@pytest.fixture
def ledger(tmp_path: Path, genesis: Genesis) -> Iterator[Ledger]:
    """A PoA chain: blocks are final, so it keeps no undo history."""
    led = Ledger.open(tmp_path / "chain.sqlite", genesis)
    yield led
    led.close()


@pytest.fixture
def pow_genesis(funded: list[Wallet]) -> Genesis:
    return make_genesis(funded, consensus="pow")


@pytest.fixture
def pow_ledger(tmp_path: Path, pow_genesis: Genesis) -> Iterator[Ledger]:
    """A PoW chain: it can revert (reorg) up to the default depth."""
    led = Ledger.open(tmp_path / "chain.sqlite", pow_genesis)
    yield led
    led.close()
