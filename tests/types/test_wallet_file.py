"""Wallet files: save, load, and refusal of anything tampered with."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from node.errors import ConfigError
from node.types import Transaction
from node.wallet import Wallet


def test_save_load_round_trip(tmp_path: Path, alice: Wallet) -> None:
    path = tmp_path / "keys" / "alice.key"
    alice.save(path)
    loaded = Wallet.load(path)
    assert loaded.address == alice.address and loaded.seed == alice.seed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    body = json.loads(path.read_text())
    assert body == {"version": 1, "seed": alice.seed.hex(), "address": alice.address_hex}


def test_generated_wallets_differ_and_sign_verifiable_transfers(tmp_path: Path) -> None:
    a, b = Wallet.generate(), Wallet.generate()
    assert a.address != b.address
    tx = a.transfer(to=b.address_hex, amount=5, fee=2, nonce=0, chain_id="c")
    assert tx.recipient == b.address and tx.sender == a.address and tx.verify()
    assert Transaction.decode(tx.encode()) == tx


def _tamper(path: Path, **changes: object) -> None:
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"address": "00" * 32}, "address"),
        ({"seed": "zz" * 32}, "seed"),
        ({"seed": "00" * 31}, "seed"),
        ({"seed": 7}, "seed"),
        ({"version": 2}, "wallet"),
    ],
)
def test_tampered_wallet_files_are_refused(
    tmp_path: Path, alice: Wallet, changes: dict[str, object], needle: str
) -> None:
    path = tmp_path / "w.key"
    alice.save(path)
    _tamper(path, **changes)
    with pytest.raises(ConfigError, match=needle) as info:
        Wallet.load(path)
    assert str(path) in str(info.value)


def test_a_seed_swapped_for_another_key_is_refused(
    tmp_path: Path, alice: Wallet, bob: Wallet
) -> None:
    path = tmp_path / "w.key"
    alice.save(path)
    _tamper(path, seed=bob.seed.hex())
    with pytest.raises(ConfigError, match="address"):
        Wallet.load(path)


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b"\xff\xfe", b'{"seed": "00"}'])
def test_files_that_are_not_wallets_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "w.key"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        Wallet.load(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Wallet.load(tmp_path / "absent.key")
