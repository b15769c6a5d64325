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


BIG = 2**70  # beyond any port, count or size: 1180591620717411303424


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[rpc]\nport = 70000", "'rpc.port'"),
        (f"[rpc]\nport = {BIG}", "'rpc.port'"),
        ("[rpc]\nport = true", "'rpc.port'"),
        ("[rpc]\nport = 8645.0", "'rpc.port'"),
        (f"[p2p]\nport = {BIG}", "'p2p.port'"),
        (f"[p2p]\nmax_peers = {BIG}", "'p2p.max_peers'"),
        ("[p2p]\nmax_peers = true", "'p2p.max_peers'"),
        ("[p2p]\nheartbeat_s = nan", "'p2p.heartbeat_s'"),
        ("[p2p]\nban_s = inf", "'p2p.ban_s'"),
        ("[p2p]\ndial_interval_s = -inf", "'p2p.dial_interval_s'"),
        ("[p2p]\nbytes_per_s = 1e300", "'p2p.bytes_per_s'"),
        ("[mempool]\nexpiry_s = nan", "'mempool.expiry_s'"),
        ("[mempool]\nexpiry_s = inf", "'mempool.expiry_s'"),
        (f"[mempool]\nmax_bytes = {BIG}", "'mempool.max_bytes'"),
        ("[mempool]\nmin_fee = -1", "'mempool.min_fee'"),
        ("[mempool]\nmax_txs = 1.5", "'mempool.max_txs'"),
        ("[sync]\nrequest_timeout_s = nan", "'sync.request_timeout_s'"),
        ("[sync]\nrequest_timeout_s = inf", "'sync.request_timeout_s'"),
        (f"[consensus]\ngossip_interval_ms = {BIG}", "'consensus.gossip_interval_ms'"),
        ("[consensus]\nmine_batch = nan", "'consensus.mine_batch'"),
        ("[rpc]\nport = " + "9" * 5000, "field 'port'"),
    ],
)
def test_nan_inf_and_out_of_range_numbers_are_refused_naming_the_key(
    tmp_path: Path, text: str, names: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and names in message, message
    assert "\n" not in message and len(message) < 300


CONFIG_CLASSES = (P2PConfig, MempoolConfig, RpcConfig, ConsensusConfig, SyncConfig)


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_number_field_of_every_config_refuses_nan_inf_bools_and_huge_values(
    cls: type,
) -> None:
    numbers = [f for f in dataclasses.fields(cls) if f.type in ("int", "float")]
    assert numbers
    for f in numbers:
        bad: list[object] = [True, BIG, -1, "1", None]
        if f.type == "float":
            bad += [float("nan"), float("inf"), float("-inf"), 1e300]
        else:
            bad += [1.0, 2**63]
        for value in bad:
            with pytest.raises(ConfigError, match=f"'[a-z0-9]+\\.{f.name}'"):
                cls(**{f.name: value})


def test_unwritable_data_dir_is_refused_by_ordinet_run(tmp_path: Path) -> None:
    from test_node_cli import ordinet

    home = init_homes(tmp_path / "home", consensus="poa").nodes[0].path
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    config = home / "config.toml"
    bad_dir = a_file / "data"
    text = config.read_text().replace('data_dir = "data"', f'data_dir = "{bad_dir}"')
    config.write_text(text)
    done = ordinet("run", "--home", str(home), timeout_s=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'data_dir'" in lines[0] and str(bad_dir) in lines[0]
    assert "Traceback" not in done.stderr


def test_data_dir_that_is_a_file_is_refused_before_the_store_opens(tmp_path: Path) -> None:
    from node.runtime.home import prepare_data_dir

    home = _home(tmp_path)
    config = load_config(home / "config.toml")
    prepare_data_dir(config)  # creates it, writable: fine
    assert config.data_dir.is_dir()
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    for path in (a_file, a_file / "sub" / "data"):
        with pytest.raises(ConfigError, match="'data_dir'") as info:
            prepare_data_dir(dataclasses.replace(config, data_dir=path))
        assert str(path) in str(info.value)


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
