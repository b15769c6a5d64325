"""Genesis: the chain's starting point, read from a genesis file.

A genesis file (JSON or TOML) names the chain, its start time, the initial
balances, the validators, the consensus engine and its parameters. This
module owns the file format, its validation (every problem is a
ConfigError that names the file, the field and why), the parameter
defaults, the genesis hash that peers compare in their handshake, and the
height-0 block and state derived from it. The format is specified in
docs/PROTOCOL.md.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from node import crypto
from node.codec import U64_MAX, check_name
from node.errors import ConfigError
from node.state import Account, State
from node.types import (
    ADDRESS_SIZE,
    HASH_SIZE,
    MAX_BLOCK_TXS,
    MAX_COMMIT_SIGNATURES,
    ZERO_HASH,
    Block,
    BlockHeader,
    tx_root,
)

CONSENSUS_ENGINES = ("poa", "bft", "pow")
MAX_VALIDATOR_NAME = 64

# Consensus parameters and their defaults. Every key is optional in a file;
# ``Genesis.params`` always holds all of them (defaults filled in), so the
# genesis hash does not depend on whether a default was written out.
DEFAULT_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        # all engines: target time between blocks, and what one block may hold
        "block_interval_ms": 1000,
        "max_block_txs": 5000,
        "max_block_bytes": 2_000_000,
        # poa: a proposer that misses its slot by this much loses it to the next
        "poa_slot_timeout_ms": 2000,
        # bft (Tendermint): timeout of each step in round r = base + r * delta
        "timeout_propose_ms": 1000,
        "timeout_propose_delta_ms": 500,
        "timeout_prevote_ms": 500,
        "timeout_prevote_delta_ms": 250,
        "timeout_precommit_ms": 500,
        "timeout_precommit_delta_ms": 250,
        # bft: pause after a commit before starting the next height
        "timeout_commit_ms": 1000,
        # pow: the first target (a block hash must be <= it as a big-endian
        # integer), retargeted every ``pow_retarget_window`` blocks toward
        # ``block_interval_ms``, by at most ``pow_max_retarget_factor``
        "pow_initial_target": bytes.fromhex("0000ffff" + "ff" * 28),
        "pow_retarget_window": 10,
        "pow_max_retarget_factor": 4,
    }
)

# parameters that must be >= 1 (the others may be 0)
_POSITIVE_PARAMS = frozenset(
    {
        "block_interval_ms",
        "max_block_txs",
        "max_block_bytes",
        "pow_retarget_window",
        "pow_max_retarget_factor",
    }
)


@dataclass(frozen=True)
class Validator:
    """A consensus participant: its Ed25519 public key, voting power and label."""

    public_key: bytes
    power: int = 1
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"public_key": self.public_key.hex(), "power": self.power, "name": self.name}


@dataclass(frozen=True)
class Genesis:
    """A validated genesis. Build it with ``load``/``from_dict``, not by hand."""

    chain_id: str
    timestamp_ms: int
    balances: Mapping[bytes, int]
    validators: tuple[Validator, ...]
    consensus: str
    params: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))

    # -- reading ----------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Genesis:
        """Read a ``.json`` or ``.toml`` genesis file."""
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read genesis file: {exc.strerror}") from exc
        try:
            if path.suffix.lower() == ".toml":
                data: Any = tomllib.loads(text.decode("utf-8"))
            elif path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                raise ConfigError(f"{path}: genesis file must end in .json or .toml")
        except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "genesis") -> Genesis:
        """Validate the decoded contents of a genesis file."""
        return _Parser(source).genesis(d)

    # -- writing ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: what ``save`` writes and the genesis hash covers."""
        return {
            "chain_id": self.chain_id,
            "timestamp_ms": self.timestamp_ms,
            "consensus": self.consensus,
            "balances": {a.hex(): b for a, b in sorted(self.balances.items())},
            "validators": [v.to_dict() for v in self.validators],
            "params": {k: _param_to_json(v) for k, v in sorted(self.params.items())},
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    @property
    def hash(self) -> bytes:
        """SHA-256 of the canonical JSON (sorted keys, no whitespace, ASCII)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return crypto.sha256(canonical.encode("ascii"))

    # -- what follows from it ---------------------------------------------

    def state(self) -> State:
        return State(self.chain_id, {a: Account(b, 0) for a, b in self.balances.items()})

    def block(self) -> Block:
        """The height-0 block: no parent, no proposer, no transactions."""
        header = BlockHeader(
            chain_id=self.chain_id,
            height=0,
            timestamp_ms=self.timestamp_ms,
            prev_hash=ZERO_HASH,
            proposer=ZERO_HASH,
            tx_root=tx_root([]),
            state_root=self.state().root(),
        )
        return Block(header=header)

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def validator(self, public_key: bytes) -> Validator | None:
        for v in self.validators:
            if v.public_key == public_key:
                return v
        return None

    def __hash__(self) -> int:
        return hash(self.hash)


def _param_to_json(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


class _Parser:
    """Checks one genesis mapping; every complaint names ``source`` and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field_name: str, why: str) -> ConfigError:
        return ConfigError(f"{self.source}: field '{field_name}' {why}")

    def genesis(self, d: Any) -> Genesis:
        if not isinstance(d, Mapping):
            raise ConfigError(f"{self.source}: a genesis must be a table/object")
        known = {"chain_id", "timestamp_ms", "consensus", "balances", "validators", "params"}
        for key in d:
            if key not in known:
                raise self.fail(str(key), f"is unknown (expected one of {sorted(known)})")
        chain_id = self.chain_id(d.get("chain_id"))
        consensus = d.get("consensus")
        if consensus not in CONSENSUS_ENGINES:
            raise self.fail("consensus", f"must be one of {list(CONSENSUS_ENGINES)}")
        timestamp_ms = self.uint(d.get("timestamp_ms", 0), "timestamp_ms")
        balances = self.balances(d.get("balances", {}))
        validators = self.validators(d.get("validators", []), consensus)
        params = self.params(d.get("params", {}))
        return Genesis(
            chain_id=chain_id,
            timestamp_ms=timestamp_ms,
            balances=MappingProxyType(balances),
            validators=validators,
            consensus=consensus,
            params=MappingProxyType(params),
        )

    def chain_id(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail("chain_id", "is required and must be a string")
        try:
            check_name(value, "chain_id")
        except ValueError as exc:
            raise self.fail("chain_id", f"is not valid: {exc}") from None
        return value

    def uint(self, value: Any, where: str, *, bits: int = 64, minimum: int = 0) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, f"must be an integer, not {type(value).__name__}")
        if not minimum <= value < (1 << bits):
            raise self.fail(where, f"must be in [{minimum}, 2^{bits}), got {value}")
        return value

    def key(self, value: Any, where: str) -> bytes:
        if not isinstance(value, str):
            raise self.fail(where, "must be a hex string")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise self.fail(where, f"is not hex: {value[:80]!r}") from None
        if len(raw) != ADDRESS_SIZE:
            raise self.fail(where, f"must be {ADDRESS_SIZE} bytes (64 hex characters)")
        return raw

    def balances(self, value: Any) -> dict[bytes, int]:
        if not isinstance(value, Mapping):
            raise self.fail("balances", "must be a table of address = amount")
        out: dict[bytes, int] = {}
        for key, amount in value.items():
            where = f"balances.{key}"
            address = self.key(key, where)
            if address in out:
                raise self.fail(where, "is listed twice")
            out[address] = self.uint(amount, where)
        # Conservation of value keeps every later balance and fee sum <= the
        # total supply, so the total must fit the u64 accounts it lives in.
        if sum(out.values()) > U64_MAX:
            raise self.fail("balances", "total more than 2^64 - 1")
        return out

    def validators(self, value: Any, consensus: str) -> tuple[Validator, ...]:
        if not isinstance(value, list):
            raise self.fail("validators", "must be a list of {public_key, power, name}")
        if not value and consensus != "pow":
            raise self.fail("validators", f"must not be empty for consensus '{consensus}'")
        if len(value) > MAX_COMMIT_SIGNATURES:
            raise self.fail("validators", f"holds more than {MAX_COMMIT_SIGNATURES} entries")
        out: list[Validator] = []
        seen: set[bytes] = set()
        for i, entry in enumerate(value):
            where = f"validators[{i}]"
            if not isinstance(entry, Mapping):
                raise self.fail(where, "must be a table/object")
            extra = set(entry) - {"public_key", "power", "name"}
            if extra:
                raise self.fail(f"{where}.{sorted(extra)[0]}", "is unknown")
            public_key = self.key(entry.get("public_key"), f"{where}.public_key")
            if public_key in seen:
                raise self.fail(f"{where}.public_key", "is listed twice")
            seen.add(public_key)
            power = self.uint(entry.get("power", 1), f"{where}.power", bits=32, minimum=1)
            name = entry.get("name", "")
            if not isinstance(name, str) or len(name) > MAX_VALIDATOR_NAME:
                raise self.fail(f"{where}.name", f"must be a string of <= {MAX_VALIDATOR_NAME}")
            out.append(Validator(public_key=public_key, power=power, name=name))
        return tuple(out)

    def params(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail("params", "must be a table/object")
        out = dict(DEFAULT_PARAMS)
        for key, raw in value.items():
            where = f"params.{key}"
            if key not in DEFAULT_PARAMS:
                raise self.fail(where, f"is unknown (known: {', '.join(sorted(DEFAULT_PARAMS))})")
            if isinstance(DEFAULT_PARAMS[key], bytes):
                target = self.key(raw, where) if isinstance(raw, str) else None
                if target is None or target == ZERO_HASH:
                    raise self.fail(where, f"must be {HASH_SIZE} nonzero bytes in hex")
                out[key] = target
            else:
                out[key] = self.uint(raw, where, minimum=1 if key in _POSITIVE_PARAMS else 0)
        if out["max_block_txs"] > MAX_BLOCK_TXS:
            raise self.fail("params.max_block_txs", f"must be at most {MAX_BLOCK_TXS}")
        return out
