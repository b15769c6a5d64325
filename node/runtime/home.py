"""Node homes: the directory layout ``ordinet run --home DIR`` expects, written.

A home holds ``config.toml``, ``genesis.json``, ``node_key.json`` and the
``data/`` directory the node creates (``prepare_data_dir``, before the
store opens). ``init_homes`` writes one home (a single-node chain) or a
set of homes for a local network: one genesis shared by all, the first
``validators`` node keys as its validators, funded account keys under
``BASE/accounts/``, and configs on 127.0.0.1 where every node lists every
other as a static peer. ``ordinet init`` and the multi-process tests use
it; nothing here starts a process.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import CONFIG_FILE_NAME, NodeConfig, config_to_toml, load_config
from node.errors import ConfigError
from node.genesis import Genesis
from node.wallet import Wallet

GENESIS_FILE_NAME = "genesis.json"
NODE_KEY_FILE_NAME = "node_key.json"
ACCOUNTS_DIR_NAME = "accounts"


@dataclass
class NodeHome:
    """One written home: where it is, its key and its ports."""

    index: int
    path: Path
    key: Wallet
    validator: bool
    p2p_port: int
    rpc_port: int

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE_NAME

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    def config(self) -> NodeConfig:
        return load_config(self.config_path)


@dataclass
class HomeSet:
    """What ``init_homes`` wrote."""

    base: Path
    genesis: Genesis
    nodes: list[NodeHome]
    accounts: list[Wallet] = field(default_factory=list)


def prepare_data_dir(config: NodeConfig) -> None:
    """Create the node's data directory and check that files can be written in it.

    Done before the store opens, so that a data dir under a file, on a
    read-only mount or without permission is a ConfigError naming
    ``data_dir`` and the path, not an OSError from deep inside SQLite.
    """
    path = config.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{config.source}: field 'data_dir': cannot create or write {path}: "
            f"{exc.strerror or exc}",
            code="bad_data_dir",
        ) from None


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that were free a moment ago (bound, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def init_homes(
    base: str | Path,
    *,
    nodes: int = 1,
    validators: int | None = None,
    consensus: str = "bft",
    chain_id: str = "ordinet-local",
    accounts: int = 0,
    balance: int = 10**15,
    params: Mapping[str, Any] | None = None,
    timestamp_ms: int = 0,
    host: str = "127.0.0.1",
    p2p_ports: Sequence[int] | None = None,
    rpc_ports: Sequence[int] | None = None,
    admin_enabled: bool = False,
    log_level: str = "INFO",
    config_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    overwrite: bool = False,
    node_dirs: bool = False,
) -> HomeSet:
    """Write ``nodes`` homes under ``base`` (``base`` itself when ``nodes == 1``,
    unless ``node_dirs``: then always ``base/nodeI``).

    ``validators`` (default: all) is how many of the nodes' keys the genesis
    lists as validators; the others follow the chain. ``accounts`` funded
    wallets are saved as ``base/accounts/accountI.key``, each with
    ``balance``. Ports default to free ones. ``config_overrides`` maps a
    config table name to options merged into every node's config.
    """
    base = Path(base).resolve()
    if nodes < 1:
        raise ConfigError("init: at least one node is needed")
    n_validators = nodes if validators is None else validators
    if not 0 <= n_validators <= nodes:
        raise ConfigError(f"init: validators must be in [0, {nodes}], got {n_validators}")
    if consensus != "pow" and n_validators == 0:
        raise ConfigError(f"init: consensus '{consensus}' needs at least one validator")
    paths = [base] if nodes == 1 and not node_dirs else [base / f"node{i}" for i in range(nodes)]
    for path in paths:
        if (path / CONFIG_FILE_NAME).exists() and not overwrite:
            raise ConfigError(f"{path / CONFIG_FILE_NAME}: already exists (refusing to overwrite)")
    ports = free_ports(2 * nodes, host)
    p2p = list(p2p_ports) if p2p_ports is not None else ports[:nodes]
    rpc = list(rpc_ports) if rpc_ports is not None else ports[nodes:]
    if len(p2p) != nodes or len(rpc) != nodes:
        raise ConfigError("init: give one P2P and one RPC port per node")
    keys = [Wallet.generate() for _ in range(nodes)]
    wallets = [Wallet.generate() for _ in range(accounts)]
    genesis = Genesis.from_dict(
        {
            "chain_id": chain_id,
            "timestamp_ms": timestamp_ms,
            "consensus": consensus,
            "balances": {w.address_hex: balance for w in wallets},
            "validators": [
                {"public_key": keys[i].address_hex, "power": 1, "name": f"node{i}"}
                for i in range(n_validators)
            ],
            "params": {
                k: (v.hex() if isinstance(v, bytes) else v) for k, v in (params or {}).items()
            },
        },
        source="init",
    )
    for i, wallet in enumerate(wallets):
        wallet.save(base / ACCOUNTS_DIR_NAME / f"account{i}.key")
    homes: list[NodeHome] = []
    for i, path in enumerate(paths):
        path.mkdir(parents=True, exist_ok=True)
        genesis.save(path / GENESIS_FILE_NAME)
        keys[i].save(path / NODE_KEY_FILE_NAME)
        peers = [f"{host}:{p2p[j]}" for j in range(nodes) if j != i]
        values: dict[str, Any] = {
            "p2p": {"host": host, "port": p2p[i], "static_peers": peers},
            "rpc": {"host": host, "port": rpc[i], "admin_enabled": admin_enabled},
            "log": {"level": log_level},
        }
        for table, options in (config_overrides or {}).items():
            values.setdefault(table, {}).update(options)
        config = NodeConfig.from_mapping(values, home=path, source=str(path / CONFIG_FILE_NAME))
        (path / CONFIG_FILE_NAME).write_text(_header(i, nodes) + config_to_toml(config))
        homes.append(NodeHome(i, path, keys[i], i < n_validators, p2p[i], rpc[i]))
    return HomeSet(base=base, genesis=genesis, nodes=homes, accounts=wallets)


def _header(index: int, nodes: int) -> str:
    who = "a single-node chain" if nodes == 1 else f"node {index} of a {nodes}-node network"
    return (
        f"# Ordinet node config ({who}), written by `ordinet init`.\n"
        "# Every option is documented in configs/node.toml.\n\n"
    )
