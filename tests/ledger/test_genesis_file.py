"""Genesis files: JSON and TOML, defaults, the hash, the height-0 block, and
refusal of bad files with a ConfigError that names the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ledgerkit import genesis_dict, wallets

from node import crypto
from node.errors import ConfigError
from node.genesis import DEFAULT_PARAMS, Genesis, Validator
from node.state import Account
from node.types import ZERO_HASH, Block

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "genesis.example.toml"

TOML = """
chain_id = "toml-chain"
timestamp_ms = 1234
consensus = "bft"

[balances]
{a} = 500
{b} = 7

[[validators]]
public_key = "{a}"
power = 3
name = "first"

[[validators]]
public_key = "{b}"

[params]
max_block_txs = 64
pow_initial_target = "00ff{ff}"
"""


def toml_text() -> str:
    a, b = (w.address_hex for w in wallets(2))
    return TOML.format(a=a, b=b, ff="ff" * 30)


def test_toml_and_json_forms_load_to_the_same_genesis(tmp_path: Path) -> None:
    (tmp_path / "g.toml").write_text(toml_text())
    from_toml = Genesis.load(tmp_path / "g.toml")
    a, b = wallets(2)
    assert from_toml.chain_id == "toml-chain" and from_toml.consensus == "bft"
    assert dict(from_toml.balances) == {a.address: 500, b.address: 7}
    assert from_toml.validators == (
        Validator(a.address, 3, "first"),
        Validator(b.address, 1, ""),
    )
    assert from_toml.params["max_block_txs"] == 64
    assert from_toml.params["pow_initial_target"] == bytes.fromhex("00ff" + "ff" * 30)
    assert from_toml.params["block_interval_ms"] == DEFAULT_PARAMS["block_interval_ms"]
    from_toml.save(tmp_path / "g.json")
    from_json = Genesis.load(tmp_path / "g.json")
    assert from_json == from_toml and from_json.hash == from_toml.hash
    assert json.loads((tmp_path / "g.json").read_text()) == from_toml.to_dict()


def test_hash_is_sha256_of_the_canonical_json_with_defaults_filled_in() -> None:
    funded = wallets(2)
    terse = Genesis.from_dict(genesis_dict(funded))
    explicit = Genesis.from_dict(genesis_dict(funded, params={"block_interval_ms": 1000}))
    assert terse.hash == explicit.hash
    canonical = json.dumps(terse.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    assert terse.hash == crypto.sha256(canonical)
    other = Genesis.from_dict(genesis_dict(funded, params={"block_interval_ms": 999}))
    assert other.hash != terse.hash
    richer = Genesis.from_dict(genesis_dict(funded, balance=1_000_001))
    assert richer.hash != terse.hash


def test_state_and_height_zero_block() -> None:
    funded = wallets(3)
    genesis = Genesis.from_dict(genesis_dict(funded, balance=42))
    state = genesis.state()
    assert dict(state.accounts) == {w.address: Account(42, 0) for w in funded}
    block = genesis.block()
    header = block.header
    assert (header.height, header.prev_hash, header.proposer) == (0, ZERO_HASH, ZERO_HASH)
    assert header.tx_root == crypto.sha256(b"") and header.tx_count == 0
    assert header.state_root == state.root()
    assert header.timestamp_ms == genesis.timestamp_ms and header.chain_id == genesis.chain_id
    assert block.check_body() is None
    assert Block.decode(block.encode()) == block == genesis.block()


def test_the_example_file_in_configs_loads() -> None:
    genesis = Genesis.load(EXAMPLE)
    assert genesis.consensus == "bft" and len(genesis.validators) == 2
    assert dict(genesis.params) == dict(DEFAULT_PARAMS)


def test_pow_needs_no_validators() -> None:
    d = genesis_dict(wallets(1), consensus="pow")
    d["validators"] = []
    assert Genesis.from_dict(d).validators == ()


# Each case: a change to a good genesis dict, and the field the error must name.
KEY = "ab" * 32


def _drop(field: str) -> Any:
    return lambda d: d.pop(field)


BAD_CASES: list[tuple[str, Any, str]] = [
    ("no chain id", _drop("chain_id"), "chain_id"),
    ("chain id with a space", lambda d: d.update(chain_id="a b"), "chain_id"),
    ("chain id too long", lambda d: d.update(chain_id="x" * 33), "chain_id"),
    ("unknown engine", lambda d: d.update(consensus="raft"), "consensus"),
    ("timestamp negative", lambda d: d.update(timestamp_ms=-1), "timestamp_ms"),
    ("timestamp a string", lambda d: d.update(timestamp_ms="now"), "timestamp_ms"),
    ("balances a list", lambda d: d.update(balances=[1]), "balances"),
    ("address not hex", lambda d: d["balances"].update({"zz" * 32: 1}), "balances." + "zz" * 32),
    ("address too short", lambda d: d["balances"].update({"ab": 1}), "balances.ab"),
    ("negative balance", lambda d: d["balances"].update({KEY: -5}), f"balances.{KEY}"),
    ("boolean balance", lambda d: d["balances"].update({KEY: True}), f"balances.{KEY}"),
    ("balance beyond u64", lambda d: d["balances"].update({KEY: 2**64}), f"balances.{KEY}"),
    ("total beyond u64", lambda d: d["balances"].update({KEY: 2**64 - 1}), "balances"),
    ("no validators for bft", lambda d: d.update(consensus="bft", validators=[]), "validators"),
    (
        "validator key bad",
        lambda d: d["validators"][0].update(public_key="00"),
        "validators[0].public_key",
    ),
    (
        "validator twice",
        lambda d: d["validators"].append(dict(d["validators"][0])),
        "validators[1].public_key",
    ),
    ("zero power", lambda d: d["validators"][0].update(power=0), "validators[0].power"),
    ("validator extra field", lambda d: d["validators"][0].update(stake=1), "validators[0].stake"),
    ("validator name not text", lambda d: d["validators"][0].update(name=5), "validators[0].name"),
    ("unknown top-level field", lambda d: d.update(validator=[]), "validator"),
    ("unknown param", lambda d: d["params"].update(block_time=5), "params.block_time"),
    (
        "negative param",
        lambda d: d["params"].update(timeout_prevote_ms=-1),
        "params.timeout_prevote_ms",
    ),
    ("zero block limit", lambda d: d["params"].update(max_block_txs=0), "params.max_block_txs"),
    (
        "block limit beyond the codec's",
        lambda d: d["params"].update(max_block_txs=100_001),
        "params.max_block_txs",
    ),
    (
        "pow target not hex",
        lambda d: d["params"].update(pow_initial_target="xyz"),
        "params.pow_initial_target",
    ),
    (
        "pow target zero",
        lambda d: d["params"].update(pow_initial_target="00" * 32),
        "params.pow_initial_target",
    ),
    ("params a number", lambda d: d.update(params=3), "params"),
]


@pytest.mark.parametrize(("case", "mutate", "field"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_genesis_files_name_the_file_and_field(
    tmp_path: Path, case: str, mutate: Any, field: str
) -> None:
    d = genesis_dict(wallets(2))
    mutate(d)
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ConfigError) as info:
        Genesis.load(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message, message


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("g.json", b"{not json", "not valid JSON"),
        ("g.toml", b"chain_id = ", "not valid TOML"),
        ("g.json", b"\xff\xfe\x00", "not valid"),
        ("g.toml", b"\xff\xfe\x00", "not valid"),
        ("g.json", b"[1, 2]", "table/object"),
        ("g.yaml", b"chain_id: x", ".json or .toml"),
    ],
)
def test_unreadable_genesis_files(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=needle) as info:
        Genesis.load(path)
    assert str(path) in str(info.value)


def test_missing_genesis_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Genesis.load(tmp_path / "nope.toml")
