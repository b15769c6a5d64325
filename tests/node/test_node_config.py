"""NodeConfig: the documented file, defaults, round trips, and every refusal
naming the file, the field and why."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from node.config import (
    ConsensusConfig,
    LogConfig,
    NodeConfig,
    RpcConfig,
    SchedulingConfig,
    SyncConfig,
    config_to_toml,
    load_config,
)
from node.errors import ConfigError
from node.mempool import MempoolConfig
from node.p2p.config import P2PConfig
from node.runtime import build_node
from node.runtime.home import init_homes

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_documented_config_holds_every_default(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "node.toml", home=tmp_path)
    assert config.p2p == P2PConfig(port=26656)
    assert config.rpc == RpcConfig()
    assert config.mempool == MempoolConfig()
    assert config.scheduling == SchedulingConfig()
    assert config.consensus == ConsensusConfig()
    assert config.sync == SyncConfig()
    assert config.log == LogConfig()
    assert config.store_path == tmp_path / "data" / "chain.db"


def test_every_option_is_documented() -> None:
    text = (REPO / "configs" / "node.toml").read_text()
    sections = {
        "p2p": P2PConfig,
        "rpc": RpcConfig,
        "mempool": MempoolConfig,
        "scheduling": SchedulingConfig,
        "consensus": ConsensusConfig,
        "sync": SyncConfig,
        "log": LogConfig,
    }
    for table, cls in sections.items():
        assert f"[{table}]" in text
        for field in dataclasses.fields(cls):
            assert f"{field.name} =" in text, f"{table}.{field.name} is not in configs/node.toml"


def test_an_empty_file_means_the_defaults_and_paths_resolve_against_home(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.home == tmp_path.resolve()
    assert config.node_key == tmp_path.resolve() / "node_key.json"
    assert config.genesis == tmp_path.resolve() / "genesis.json"
    absolute = load_config(write(tmp_path, 'genesis = "/etc/g.json"\ndata_dir = "d2"'))
    assert absolute.genesis == Path("/etc/g.json")
    assert absolute.data_dir == tmp_path.resolve() / "d2"


def test_a_written_config_reads_back_equal(tmp_path: Path) -> None:
    config = NodeConfig.from_mapping(
        {
            "p2p": {"port": 1234, "static_peers": ["127.0.0.1:9"], "max_peers": 7},
            "rpc": {"port": 0, "admin_enabled": True},
            "mempool": {"max_txs": 10, "expiry_s": 5},
            "scheduling": {"policy": "fifo"},
            "consensus": {"relay": "all", "gossip_interval_ms": 300},
            "sync": {"batch_blocks": 16},
            "log": {"level": "debug", "format": "json", "file": "n.log"},
        },
        home=tmp_path,
    )
    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(config))
    again = load_config(path)
    assert dataclasses.replace(again, source=config.source) == config
    assert again.log.level == "DEBUG" and again.log.file == tmp_path / "n.log"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("colour = 1", "'colour'"),
        ("[rpc]\nport = 'x'", "'rpc.port'"),
        ("[rpc]\nadmin_enabled = 1", "'rpc.admin_enabled'"),
        ("[rpc]\nhots = 'x'", "'rpc.hots'"),
        ("rpc = 3", "'rpc'"),
        ("[p2p]\nport = 70000", "p2p.port"),
        ("[p2p]\nwhat = 1", "what"),
        ("[mempool]\nmax_txs = 0", "mempool.max_txs"),
        ("[mempool]\nmax_tx = 3", "'mempool.max_tx'"),
        ("[log]\nlevel = 'loud'", "'log.level'"),
        ("[log]\nformat = 'xml'", "'log.format'"),
        ("[sync]\nbatch_blocks = 1000", "'sync.batch_blocks'"),
        ("[consensus]\nmine_batch = 0", "'consensus.mine_batch'"),
        ("[consensus]\nrelay = 'some'", "'consensus.relay'"),
        ("[consensus]\nrelay = true", "'consensus.relay'"),
        ("[scheduling]\nmodel_sha256 = 'abc'", "'scheduling.model_sha256'"),
        ("[scheduling]\nmodel_path = 'm.json'", "'scheduling.model_sha256'"),
        ("genesis = ''", "'genesis'"),
        ("this is = not toml", "not valid TOML"),
    ],
)
def test_a_bad_config_names_the_file_and_the_field(tmp_path: Path, text: str, names: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert names in str(info.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def _home(tmp_path: Path) -> Path:
    return init_homes(tmp_path / "home", consensus="poa").nodes[0].path


def test_the_node_refuses_a_model_whose_hash_differs(tmp_path: Path) -> None:
    home = _home(tmp_path)
    model = home / "model.json"
    model.write_bytes(b'{"format": "not really a model"}')
    wrong = hashlib.sha256(b"another file").hexdigest()
    config = load_config(home / "config.toml")
    config = dataclasses.replace(config, scheduling=SchedulingConfig("learned", model, wrong))
    with pytest.raises(ConfigError) as info:
        build_node(config)
    assert info.value.code == "model_hash_mismatch"
    assert "[scheduling]" in str(info.value)
    # the right hash of a file that is not a model is refused too, differently
    right = hashlib.sha256(model.read_bytes()).hexdigest()
    config = dataclasses.replace(config, scheduling=SchedulingConfig("learned", model, right))
    with pytest.raises(ConfigError) as info:
        build_node(config)
    assert info.value.code != "model_hash_mismatch"


def test_an_unknown_policy_or_a_missing_key_is_refused(tmp_path: Path) -> None:
    home = _home(tmp_path)
    config = load_config(home / "config.toml")
    with pytest.raises(ConfigError, match="unknown scheduling policy"):
        build_node(dataclasses.replace(config, scheduling=SchedulingConfig("nosuch")))
    (home / "node_key.json").unlink()
    with pytest.raises(ConfigError, match="node_key"):
        build_node(config)
