"""Wallets: an Ed25519 key that signs transfers.

A wallet file is JSON ``{"version": 1, "seed": HEX64, "address": HEX64}``
written with mode 0600; loading checks that the address matches the seed,
so a corrupted or hand-edited file is refused rather than used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from node import crypto
from node.errors import ConfigError
from node.types import Transaction, bytes32

WALLET_FILE_VERSION = 1


class Wallet:
    """An account's signing key. ``address`` is the 32-byte public key."""

    __slots__ = ("_seed", "address")

    def __init__(self, seed: bytes) -> None:
        seed, public_key = crypto.keypair_from_seed(seed)
        self._seed = seed
        self.address = public_key

    @classmethod
    def generate(cls) -> Wallet:
        return cls(crypto.generate_seed())

    @classmethod
    def from_seed(cls, seed: bytes) -> Wallet:
        return cls(seed)

    @property
    def seed(self) -> bytes:
        return self._seed

    @property
    def address_hex(self) -> str:
        return self.address.hex()

    def sign(self, message: bytes) -> bytes:
        if not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError(f"message must be bytes, got {type(message).__name__}")
        return crypto.sign(self._seed, bytes(message))

    def transfer(
        self,
        *,
        to: bytes | str,
        amount: int,
        fee: int,
        nonce: int,
        chain_id: str,
        data: bytes = b"",
    ) -> Transaction:
        """A signed transfer of ``amount`` to ``to`` (bytes or 64 hex chars).

        A bad argument is a TypeError or ValueError naming it, raised here."""
        unsigned = Transaction(
            chain_id=chain_id,
            sender=self.address,
            nonce=nonce,
            recipient=bytes32(to, "to"),
            amount=amount,
            fee=fee,
            data=data,
        )
        return unsigned.signed(self._seed)

    def save(self, path: str | os.PathLike[str]) -> None:
        path = _path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "version": WALLET_FILE_VERSION,
            "seed": self._seed.hex(),
            "address": self.address_hex,
        }
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f)
            f.write("\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Wallet:
        path = _path(path)
        try:
            body = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read wallet file: {exc}") from exc
        if not isinstance(body, dict) or body.get("version") != WALLET_FILE_VERSION:
            raise ConfigError(f"{path}: not an ordinet wallet file (version {WALLET_FILE_VERSION})")
        try:
            seed = bytes.fromhex(body["seed"])
            wallet = cls(seed)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: field 'seed' must be 64 hex characters") from exc
        if body.get("address") != wallet.address_hex:
            raise ConfigError(f"{path}: field 'address' does not match the seed")
        return wallet

    def __repr__(self) -> str:
        return f"Wallet({self.address_hex[:16]}...)"


def _path(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)
