"""NodeConfig: everything one node is told at start, read from a TOML file.

A node's home directory holds its config (``config.toml``), its genesis,
its node key and its data. ``load_config(path)`` reads the file with
``read_toml``, fills in defaults, resolves relative paths against the home
directory and checks every value; any problem is a ``ConfigError`` whose
message names the file, the field and why. configs/node.toml documents
every option with its default.

The tables of the file map to the parts they configure: ``[p2p]`` to
``P2PConfig`` and ``[mempool]`` to ``MempoolConfig`` (both checked by
their own constructors), ``[rpc]``, ``[scheduling]``, ``[consensus]`` and
``[log]`` to the small dataclasses below. Every dataclass checks its own
numbers with ``node.tomlfile.check_fields`` (finite, int-not-bool, within
range and under a cap), so the rules are written once and a field added
later is covered. Reading the genesis, the key and
the model is the runtime's job (node/runtime), so that loading a config
never touches more than the one file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.ledger import DEFAULT_POW_REORG_DEPTH
from node.mempool import MempoolConfig
from node.p2p.config import P2PConfig
from node.scheduling.plugins import is_policy_file
from node.tomlfile import AT_LEAST_1, PORT, POSITIVE, Range, check_fields, read_toml

CONFIG_FILE_NAME = "config.toml"
DEFAULT_P2P_PORT = 26656
DEFAULT_RPC_PORT = 26657
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
RELAY_MODES = ("votes", "all", "none")


@dataclass(frozen=True)
class RpcConfig:
    """The REST API's listening address, its client limits (node/httpserve.py)
    and the admin (fault-injection) switch."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_RPC_PORT
    admin_enabled: bool = False
    # connections open at once; past it a new one is closed as soon as accepted
    max_connections: int = 256
    # seconds a client has to send a request head, a request body, and
    # between two requests on a kept-alive connection
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_fields(
            self,
            "rpc",
            {
                "port": PORT,
                "max_connections": AT_LEAST_1,
                "head_timeout_s": POSITIVE,
                "body_timeout_s": POSITIVE,
                "idle_timeout_s": POSITIVE,
            },
        )


@dataclass(frozen=True)
class SchedulingConfig:
    """Which policy orders this node's blocks, and the model file it uses.

    ``policy_module`` lists plugin files (absolute paths once read) or module
    names that register policies (node.scheduling.plugins); the node loads
    them before it builds ``policy``.
    """

    policy: str = "fee"
    model_path: Path | None = None
    model_sha256: str | None = None
    policy_module: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_fields(self, "scheduling")


@dataclass(frozen=True)
class ConsensusConfig:
    """How this node takes part in the engine the genesis names."""

    # sign (or mine) with the node key when it is a validator (or, PoW, always)
    validator: bool = True
    # how often the engine re-sends its status and own messages; 0 = the engine's default
    gossip_interval_ms: int = 0
    # what a node passes on of the consensus messages a peer sent it: "votes"
    # (votes and PoA promises: small, and what a quorum needs), "all" (also
    # proposals, which carry whole blocks: only worth it when validators are
    # not all connected to each other), or "none"
    relay: str = "votes"
    # PoW: nonces tried per search call (between calls mining can be interrupted)
    mine_batch: int = 200_000
    # PoW: how many blocks below the head a reorg may reach; the store keeps
    # undo history that deep and a deeper reorg is refused (BFT, PoA keep none)
    pow_reorg_depth: int = DEFAULT_POW_REORG_DEPTH

    def __post_init__(self) -> None:
        check_fields(self, "consensus", {"mine_batch": AT_LEAST_1, "pow_reorg_depth": AT_LEAST_1})


@dataclass(frozen=True)
class SyncConfig:
    """Block sync from peers when this node is behind."""

    # blocks asked for per request (at most 256, the wire limit)
    batch_blocks: int = 128
    # seconds to wait for one answer
    request_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        check_fields(self, "sync", {"batch_blocks": Range(1, 256), "request_timeout_s": POSITIVE})


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    format: str = "text"  # "text": key=value lines; "json": one JSON object per line
    file: Path | None = None  # None: standard error

    def __post_init__(self) -> None:
        check_fields(self, "log")


@dataclass(frozen=True)
class NodeConfig:
    """One node's configuration; build it with ``load_config`` or ``NodeConfig.from_mapping``."""

    home: Path
    source: str = "<defaults>"
    data_dir: Path = Path("data")
    node_key: Path = Path("node_key.json")
    genesis: Path = Path("genesis.json")
    p2p: P2PConfig = field(default_factory=lambda: P2PConfig(port=DEFAULT_P2P_PORT))
    rpc: RpcConfig = field(default_factory=RpcConfig)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    scheduling: SchedulingConfig = field(default_factory=SchedulingConfig)
    consensus: ConsensusConfig = field(default_factory=ConsensusConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def store_path(self) -> Path:
        """The SQLite file of the chain."""
        return self.data_dir / "chain.db"

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, home: Path, source: str = "<config>"
    ) -> NodeConfig:
        return _Reader(source, home).node(values)


def load_config(path: str | Path, *, home: str | Path | None = None) -> NodeConfig:
    """Read a node config file; ``home`` defaults to the file's directory."""
    path = Path(path)
    values = read_toml(path, "config file")
    base = Path(home) if home is not None else path.parent
    return NodeConfig.from_mapping(values, home=base.resolve(), source=str(path))


def resolve_policy_modules(specs: Iterable[str], base: Path) -> tuple[str, ...]:
    """Policy plugin specs as a node config holds them: file paths made
    absolute against ``base`` (``~`` expanded), module names kept; each once,
    in first-seen order. A spec is a file when ``is_policy_file`` says so."""
    resolved: list[str] = []
    for spec in specs:
        spec = spec.strip()
        if is_policy_file(spec):
            path = Path(spec).expanduser()
            spec = str((path if path.is_absolute() else base / path).resolve())
        resolved.append(spec)
    return tuple(dict.fromkeys(resolved))


def config_to_toml(config: NodeConfig) -> str:
    """The TOML text of ``config`` with paths relative to its home when possible
    (what ``ordinet init`` writes; ``load_config`` reads it back equal)."""
    lines = [
        f"data_dir = {_toml(_rel(config.data_dir, config.home))}",
        f"node_key = {_toml(_rel(config.node_key, config.home))}",
        f"genesis = {_toml(_rel(config.genesis, config.home))}",
    ]
    p2p_defaults = P2PConfig()
    tables: list[tuple[str, dict[str, Any]]] = [
        ("p2p", _changed(config.p2p, p2p_defaults, always=("host", "port", "static_peers"))),
        ("rpc", dataclasses.asdict(config.rpc)),
        ("mempool", _changed(config.mempool, MempoolConfig())),
        ("scheduling", _changed(config.scheduling, SchedulingConfig(), always=("policy",))),
        ("consensus", _changed(config.consensus, ConsensusConfig())),
        ("sync", _changed(config.sync, SyncConfig())),
        ("log", _changed(config.log, LogConfig(), always=("level",))),
    ]
    for name, table in tables:
        lines.append("")
        lines.append(f"[{name}]")
        for key, value in table.items():
            if isinstance(value, Path):
                value = _rel(value, config.home)
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


# -- reading ----------------------------------------------------------------


class _Reader:
    """Checks one config mapping; every complaint names the file and the field."""

    def __init__(self, source: str, home: Path) -> None:
        self.source = source
        self.home = home

    def fail(self, name: str, why: str) -> ConfigError:
        return ConfigError(f"{self.source}: field '{name}' {why}")

    def node(self, values: Mapping[str, Any]) -> NodeConfig:
        tables = {"p2p", "rpc", "mempool", "scheduling", "consensus", "sync", "log"}
        known = {"home", "data_dir", "node_key", "genesis"} | tables
        for key in values:
            if key not in known:
                raise self.fail(str(key), f"is unknown (expected one of {sorted(known)})")
        for key in tables:
            if key in values and not isinstance(values[key], Mapping):
                raise self.fail(key, "must be a table")
        home = self.home
        if "home" in values:
            home = self.path(values["home"], "home", base=self.home)
        self.home = home
        return NodeConfig(
            home=home,
            source=self.source,
            data_dir=self.path(values.get("data_dir", "data"), "data_dir"),
            node_key=self.path(values.get("node_key", "node_key.json"), "node_key"),
            genesis=self.path(values.get("genesis", "genesis.json"), "genesis"),
            p2p=self.p2p(values.get("p2p", {})),
            rpc=self.section(RpcConfig, values.get("rpc", {}), "rpc"),
            mempool=self.section(MempoolConfig, values.get("mempool", {}), "mempool"),
            scheduling=self.scheduling(values.get("scheduling", {})),
            consensus=self.consensus(values.get("consensus", {})),
            sync=self.section(SyncConfig, values.get("sync", {}), "sync"),
            log=self.log(values.get("log", {})),
        )

    def path(self, value: Any, name: str, *, base: Path | None = None) -> Path:
        if not isinstance(value, str) or not value:
            raise self.fail(name, f"must be a non-empty path string, got {value!r}")
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base or self.home) / p

    def section(self, cls: Any, table: Mapping[str, Any], prefix: str) -> Any:
        """A dataclass from a table: unknown keys are refused here, values by
        the dataclass itself (node.tomlfile.check_fields)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in table:
            if key not in fields:
                raise self.fail(f"{prefix}.{key}", f"is unknown (known: {', '.join(fields)})")
        return self.build(cls, dict(table))

    def build(self, cls: Any, args: dict[str, Any]) -> Any:
        """``cls(**args)``, its ConfigError prefixed with the file's name."""
        try:
            return cls(**args)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc.message}", code=exc.code) from None

    def p2p(self, table: Mapping[str, Any]) -> P2PConfig:
        values = {"port": DEFAULT_P2P_PORT, **table}
        try:
            return P2PConfig.from_mapping(values)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc.message}", code=exc.code) from None

    def scheduling(self, table: Mapping[str, Any]) -> SchedulingConfig:
        raw = dict(table)
        model_path = raw.pop("model_path", None)
        model_sha256 = raw.pop("model_sha256", None)
        policy_module = self.policy_modules(raw.pop("policy_module", ()))
        base: SchedulingConfig = self.section(SchedulingConfig, raw, "scheduling")
        path = None if model_path is None else self.path(model_path, "scheduling.model_path")
        if model_sha256 is not None:
            text = model_sha256 if isinstance(model_sha256, str) else ""
            try:
                ok = len(bytes.fromhex(text)) == 32
            except ValueError:
                ok = False
            if not ok:
                raise self.fail(
                    "scheduling.model_sha256", f"must be 64 hex characters, got {model_sha256!r}"
                )
            model_sha256 = text.lower()
        if path is not None and model_sha256 is None:
            raise self.fail(
                "scheduling.model_sha256",
                "is required with scheduling.model_path (the node refuses a model it cannot "
                "check; `sha256sum MODEL` prints it)",
            )
        return dataclasses.replace(
            base, model_path=path, model_sha256=model_sha256, policy_module=policy_module
        )

    def policy_modules(self, value: Any) -> tuple[str, ...]:
        """``scheduling.policy_module``: a string or a list; relative file paths
        are made absolute against the config file's folder."""
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, list | tuple) or not all(
            isinstance(s, str) and s.strip() for s in specs
        ):
            raise self.fail(
                "scheduling.policy_module",
                f"must be a file path or module name, or a list of them, got {value!r}",
            )
        source = Path(self.source)
        folder = source.resolve().parent if source.is_file() else self.home
        return resolve_policy_modules(specs, folder)

    def consensus(self, table: Mapping[str, Any]) -> ConsensusConfig:
        cfg: ConsensusConfig = self.section(ConsensusConfig, table, "consensus")
        if cfg.relay not in RELAY_MODES:
            raise self.fail("consensus.relay", f"must be one of {list(RELAY_MODES)}")
        return cfg

    def log(self, table: Mapping[str, Any]) -> LogConfig:
        raw = dict(table)
        file = raw.pop("file", None)
        cfg: LogConfig = self.section(LogConfig, raw, "log")
        level = cfg.level.upper()
        if level not in LOG_LEVELS:
            raise self.fail("log.level", f"must be one of {list(LOG_LEVELS)}, got {cfg.level!r}")
        if cfg.format not in LOG_FORMATS:
            raise self.fail("log.format", f"must be one of {list(LOG_FORMATS)}")
        path = None if file is None else self.path(file, "log.file")
        return self.build(LogConfig, {"level": level, "format": cfg.format, "file": path})


# -- writing ----------------------------------------------------------------


def _changed(obj: Any, defaults: Any, always: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in always or value != getattr(defaults, f.name):
            out[f.name] = value
    return out


def _rel(path: Path, home: Path) -> str:
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if value is None:
        raise ValueError("TOML has no null")
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
