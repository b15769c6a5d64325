"""Testnet profiles: what ``ordinet testnet up`` runs, read from TOML and flags.

A profile names the network (nodes, consensus, scheduling policy, funded
accounts), the load to put on it, how long to run, and a schedule of
perturbations, in the spirit of CometBFT's e2e manifests::

    name = "chaos"
    nodes = 4
    consensus = "bft"
    policy = "learned"
    duration_s = 60

    [load]
    tps = 200

    [params]                      # genesis params (docs/CONSENSUS.md)
    block_interval_ms = 500

    [config.mempool]              # node config tables (configs/node.toml)
    max_txs = 20000

    [[perturbation]]
    at_s = 10
    action = "kill"               # kill, restart, pause, resume, partition, heal
    node = 2

    [[perturbation]]
    at_s = 30
    action = "partition"
    groups = "0,1/2,3"

Each node may run its own scheduling policy, so a network of mixed
validators can be studied: a ``[[node]]`` table gives node ``index``
(0-based, as everywhere in a testnet) its ``policy``, optionally a
``model_path`` with its ``model_hash`` and plugins of its own in
``policy_module``; a node without one runs the profile's ``policy``.
``policy_module`` at the top level loads plugins on every node::

    policy_module = "../policies/fee_band_fifo.py"   # relative to this file

    [[node]]
    index = 0
    policy = "fee-band-fifo"

Plugin paths (the file's relative to the file, the flags' relative to the
working directory) are written into each node's config as absolute paths,
so a node started from any directory, or restarted, finds them.

Command-line flags override the file's values, then ``check`` validates the
whole: the schedule is replayed against the node states it implies, so a
``resume`` of a node that is not paused, or a ``restart`` of node 5 in a
4-node net, is refused before anything starts. Every error is a
``ConfigError`` naming the file, the field and why. The policies are
checked by building each one, after loading the plugins: an unknown name
(``unknown_policy``), a bench-only policy such as the oracle, which needs a
labelled workload (``bench_only_policy``), a model for a policy without one
(``unexpected_model``), a model file whose hash differs, or a ``[[node]]``
table that is malformed (``unknown_field``, ``missing_field``), points
outside the net (``node_index``) or repeats a node (``duplicate_node``),
and a plugin's policy on a node that does not load that plugin
(``policy_not_loaded``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import NodeConfig, resolve_policy_modules
from node.errors import ConfigError
from node.genesis import Genesis
from node.scheduling.plugins import load_policy_modules
from node.scheduling.policy import load_policy
from node.tomlfile import read_toml

CONSENSUS_CHOICES = ("bft", "poa", "pow")
MAX_NODES = 64
# Highest port a node of the net may get: P2P and RPC ports are
# base_port + 2i and base_port + 2i + 1.
MAX_PORT = 65535

KILL, RESTART, PAUSE, RESUME, PARTITION, HEAL = (
    "kill",
    "restart",
    "pause",
    "resume",
    "partition",
    "heal",
)
NODE_ACTIONS = (KILL, RESTART, PAUSE, RESUME)
ACTIONS = (*NODE_ACTIONS, PARTITION, HEAL)

# Timers for a testnet on one machine: half-second blocks, and P2P redials
# quick enough that a restarted or healed node is back within a second or two.
DEFAULT_PARAMS: dict[str, Any] = {
    "block_interval_ms": 500,
    "timeout_commit_ms": 500,
    "timeout_propose_ms": 2000,
    "timeout_prevote_ms": 1000,
    "timeout_precommit_ms": 1000,
}
DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "p2p": {
        "dial_interval_s": 0.2,
        "backoff_base_s": 0.2,
        "backoff_max_s": 2.0,
        "status_interval_s": 0.5,
    },
}
# Node config fields the testnet sets itself (ports, peers, the admin API).
RESERVED_CONFIG = {
    "p2p": {"host", "port", "static_peers", "advertise_host"},
    "rpc": {"host", "port", "admin_enabled"},
    "scheduling": {"policy", "policy_module"},
}
# Where a reserved option is given instead, when the testnet takes it from the profile.
RESERVED_INSTEAD = {
    ("scheduling", "policy"): "the profile's 'policy' or a [[node]] table",
    ("scheduling", "policy_module"): "the profile's 'policy_module' or a [[node]] table",
}


def parse_groups(text: str, nodes: int | None = None) -> tuple[tuple[int, ...], ...]:
    """``"0,1/2,3"`` -> ``((0, 1), (2, 3))``: disjoint groups of node indices.

    With ``nodes``, every node of the net must be in exactly one group (a
    node left out would be on both sides of the cut). Raises ``ValueError``
    saying what is wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("groups must look like '0,1/2,3' (node indices, groups split by '/')")
    groups: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for part in text.split("/"):
        members: list[int] = []
        for item in part.split(","):
            item = item.strip()
            if not item.isdigit():
                raise ValueError(f"'{item}' in groups '{text}' is not a node index")
            index = int(item)
            if index in seen:
                raise ValueError(f"node {index} is in more than one group of '{text}'")
            seen.add(index)
            members.append(index)
        groups.append(tuple(members))
    if len(groups) < 2:
        raise ValueError(f"groups '{text}' must name at least two groups split by '/'")
    if nodes is not None:
        outside = [i for i in seen if i >= nodes]
        if outside:
            raise ValueError(f"groups '{text}' name node {outside[0]}, but the net has {nodes}")
        missing = [i for i in range(nodes) if i not in seen]
        if missing:
            raise ValueError(
                f"groups '{text}' leave out node(s) {missing}: every node must be in one group"
            )
    return tuple(groups)


def describe_policies(names: list[str]) -> str:
    """``policy fee`` when every node runs one policy, else each node's:
    ``policies 0 fifo, 1 fee, 2 fee``."""
    if len(set(names)) <= 1:
        return f"policy {names[0] if names else '-'}"
    return "policies " + ", ".join(f"{i} {name}" for i, name in enumerate(names))


def format_groups(groups: tuple[tuple[int, ...], ...]) -> str:
    return "/".join(",".join(str(i) for i in group) for group in groups)


@dataclass(frozen=True)
class Perturbation:
    """One scheduled fault (or its repair) at ``at_s`` seconds into the run."""

    at_s: float
    action: str
    node: int | None = None
    groups: tuple[tuple[int, ...], ...] | None = None

    def describe(self) -> str:
        if self.action == PARTITION:
            assert self.groups is not None
            return f"partition {format_groups(self.groups)}"
        if self.action == HEAL:
            return "heal"
        return f"{self.action} node {self.node}"


@dataclass(frozen=True)
class LoadSpec:
    """The load generator's part: a rate, and optionally a workload to replay."""

    tps: float = 0.0
    workload: Path | None = None
    seed: int = 1


@dataclass(frozen=True)
class NodePolicy:
    """A ``[[node]]`` table: the scheduling policy of node ``index``.

    ``model_path`` is absolute once read; ``policy_module`` holds this
    node's own plugins (absolute file paths or module names), loaded after
    the profile's."""

    index: int
    policy: str
    model_path: Path | None = None
    model_hash: str | None = None
    policy_module: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestnetProfile:
    """Everything ``testnet up`` needs to know; ``check`` before use."""

    __test__ = False  # not a pytest class, despite the name

    name: str = "testnet"
    description: str = ""
    nodes: int = 4
    consensus: str = "bft"
    policy: str = "fee"
    chain_id: str = "ordinet-testnet"
    accounts: int = 256
    balance: int = 10**15
    duration_s: float = 0.0  # 0: until interrupted
    base_port: int | None = None  # None: free ports
    load: LoadSpec = field(default_factory=LoadSpec)
    params: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    perturbations: tuple[Perturbation, ...] = ()
    # plugins every node loads: absolute file paths or module names
    policy_module: tuple[str, ...] = ()
    node_policies: tuple[NodePolicy, ...] = ()
    source: str = "<flags>"

    def genesis_params(self) -> dict[str, Any]:
        return {**DEFAULT_PARAMS, **self.params}

    def node_policy(self, index: int) -> NodePolicy | None:
        """Node ``index``'s ``[[node]]`` table, if it has one."""
        return next((n for n in self.node_policies if n.index == index), None)

    def policy_of(self, index: int) -> str:
        """The name of the policy node ``index`` runs."""
        entry = self.node_policy(index)
        return self.policy if entry is None else entry.policy

    def policy_text(self) -> str:
        """The nodes' policies in a few words (``describe_policies``)."""
        return describe_policies([self.policy_of(i) for i in range(self.nodes)])

    def config_overrides(self, index: int | None = None) -> dict[str, dict[str, Any]]:
        """The node config tables of node ``index`` (None: of a node without a
        ``[[node]]`` table): testnet defaults, the profile's tables, then the
        scheduling policy, its model and the plugins (the profile's, then the
        node's own). A ``[[node]]`` table replaces the model options of
        ``[config.scheduling]``: they belong to the policy it replaces."""
        merged: dict[str, dict[str, Any]] = {t: dict(v) for t, v in DEFAULT_CONFIG.items()}
        for table, options in self.config.items():
            merged.setdefault(table, {}).update(options)
        scheduling = merged.setdefault("scheduling", {})
        scheduling["policy"] = self.policy
        entry = None if index is None else self.node_policy(index)
        modules = self.policy_module
        if entry is not None:
            scheduling["policy"] = entry.policy
            for key in ("model_path", "model_sha256"):
                scheduling.pop(key, None)
            if entry.model_path is not None:
                scheduling["model_path"] = str(entry.model_path)
            if entry.model_hash is not None:
                scheduling["model_sha256"] = entry.model_hash
            modules = (*modules, *entry.policy_module)
        if modules:
            scheduling["policy_module"] = list(dict.fromkeys(modules))
        return merged

    def with_flags(self, **flags: Any) -> TestnetProfile:
        """A copy with the flags that were given (not None) replacing fields;
        ``load_tps`` replaces ``load.tps``, and ``policy_module`` (resolved
        specs) is added to the profile's plugins."""
        changes = {k: v for k, v in flags.items() if v is not None}
        tps = changes.pop("load_tps", None)
        if tps is not None:
            changes["load"] = dataclasses.replace(self.load, tps=tps)
        modules = changes.pop("policy_module", ())
        if modules:
            changes["policy_module"] = tuple(dict.fromkeys((*self.policy_module, *modules)))
        return dataclasses.replace(self, **changes) if changes else self

    def check(self) -> TestnetProfile:
        """Validate every field and the schedule; return self."""
        _Checker(self.source).check(self)
        return self


def load_profile(path: str | Path) -> TestnetProfile:
    """Read a profile file (TOML); relative paths in it are relative to the file."""
    path = Path(path)
    values = read_toml(path, "profile")
    return profile_from_mapping(values, source=str(path), base=path.parent)


def profile_from_mapping(
    values: Mapping[str, Any], *, source: str = "<profile>", base: Path | None = None
) -> TestnetProfile:
    """A profile from parsed TOML; types are checked here, meaning in ``check``."""
    return _Reader(source, base or Path.cwd()).profile(values)


# -- reading ---------------------------------------------------------------------


class _Reader:
    """Turns a TOML mapping into a profile; every complaint names the field."""

    SCALARS: dict[str, tuple[type, ...]] = {
        "name": (str,),
        "description": (str,),
        "nodes": (int,),
        "consensus": (str,),
        "policy": (str,),
        "chain_id": (str,),
        "accounts": (int,),
        "balance": (int,),
        "duration_s": (int, float),
        "base_port": (int,),
    }
    TABLES = ("load", "params", "config")

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, name: str, why: str, code: str | None = None) -> ConfigError:
        return ConfigError(f"{self.source}: field '{name}' {why}", code=code)

    def typed(self, value: Any, name: str, kinds: tuple[type, ...]) -> Any:
        if isinstance(value, bool) or not isinstance(value, kinds):
            wants: dict[tuple[type, ...], str] = {(str,): "a string", (int,): "an integer"}
            want = wants.get(kinds, "a number")
            raise self.fail(name, f"must be {want}, got {value!r}")
        return float(value) if float in kinds else value  # type: ignore[arg-type]

    def profile(self, values: Mapping[str, Any]) -> TestnetProfile:
        known = {*self.SCALARS, *self.TABLES, "perturbation", "node", "policy_module"}
        for key in values:
            if key not in known:
                raise self.fail(
                    str(key), f"is unknown (known: {', '.join(sorted(known))})", "unknown_field"
                )
        args: dict[str, Any] = {"source": self.source}
        for key, kinds in self.SCALARS.items():
            if key in values:
                args[key] = self.typed(values[key], key, kinds)
        for key in self.TABLES:
            if key in values and not isinstance(values[key], Mapping):
                raise self.fail(key, "must be a table")
        args["load"] = self.load(values.get("load", {}))
        args["params"] = dict(values.get("params", {}))
        args["config"] = self.config(values.get("config", {}))
        schedule = values.get("perturbation", [])
        if not isinstance(schedule, list):
            raise self.fail("perturbation", "must be an array of tables ([[perturbation]])")
        args["perturbations"] = tuple(self.perturbation(p, i) for i, p in enumerate(schedule))
        if "policy_module" in values:
            args["policy_module"] = self.policy_modules(values["policy_module"], "policy_module")
        nodes = values.get("node", [])
        if not isinstance(nodes, list):
            raise self.fail("node", "must be an array of tables ([[node]])")
        args["node_policies"] = tuple(self.node_policy(t, i) for i, t in enumerate(nodes))
        return TestnetProfile(**args)

    def policy_modules(self, value: Any, name: str) -> tuple[str, ...]:
        """A plugin spec or a list of them; files resolved against the profile's folder."""
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, list) or not all(isinstance(x, str) and x.strip() for x in specs):
            raise self.fail(
                name,
                f"must be a file path or module name, or a list of them, got {value!r}",
                "policy_module_invalid",
            )
        return resolve_policy_modules(specs, self.base)

    def node_policy(self, table: Any, i: int) -> NodePolicy:
        where = f"node[{i}]"
        if not isinstance(table, Mapping):
            raise self.fail(where, "must be a table")
        known = {"index", "policy", "model_path", "model_hash", "policy_module"}
        for key in table:
            if key not in known:
                raise self.fail(
                    f"{where}.{key}",
                    f"is unknown (known: {', '.join(sorted(known))})",
                    "unknown_field",
                )
        for key in ("index", "policy"):
            if key not in table:
                raise self.fail(
                    f"{where}.{key}",
                    "is required (a [[node]] table gives node 'index' its 'policy')",
                    "missing_field",
                )
        index = self.typed(table["index"], f"{where}.index", (int,))
        policy = self.typed(table["policy"], f"{where}.policy", (str,))
        model_path = None
        if "model_path" in table:
            raw = self.typed(table["model_path"], f"{where}.model_path", (str,))
            model_path = (self.base / Path(raw).expanduser()).resolve()
        model_hash = None
        if "model_hash" in table:
            model_hash = self.typed(table["model_hash"], f"{where}.model_hash", (str,)).lower()
            if len(model_hash) != 64 or any(c not in "0123456789abcdef" for c in model_hash):
                raise self.fail(
                    f"{where}.model_hash", f"must be 64 hex characters, got {table['model_hash']!r}"
                )
        if model_path is not None and model_hash is None:
            raise self.fail(
                f"{where}.model_hash",
                "is required with model_path (the node refuses a model it cannot check; "
                "`sha256sum MODEL` prints it)",
                "missing_field",
            )
        modules: tuple[str, ...] = ()
        if "policy_module" in table:
            modules = self.policy_modules(table["policy_module"], f"{where}.policy_module")
        return NodePolicy(index, policy, model_path, model_hash, modules)

    def load(self, table: Mapping[str, Any]) -> LoadSpec:
        known = {"tps", "workload", "seed"}
        for key in table:
            if key not in known:
                raise self.fail(f"load.{key}", f"is unknown (known: {', '.join(sorted(known))})")
        tps = self.typed(table.get("tps", 0.0), "load.tps", (int, float))
        seed = self.typed(table.get("seed", 1), "load.seed", (int,))
        workload = None
        if "workload" in table:
            raw = self.typed(table["workload"], "load.workload", (str,))
            workload = Path(raw) if Path(raw).is_absolute() else self.base / raw
        return LoadSpec(tps=tps, workload=workload, seed=seed)

    def config(self, table: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, options in table.items():
            if not isinstance(options, Mapping):
                raise self.fail(f"config.{name}", "must be a table of node config options")
            for key in options:
                if key in RESERVED_CONFIG.get(name, ()):
                    instead = RESERVED_INSTEAD.get((str(name), str(key)))
                    raise self.fail(
                        f"config.{name}.{key}",
                        "is set by the testnet itself and cannot be given"
                        + (f" (use {instead})" if instead else ""),
                    )
            out[str(name)] = dict(options)
        return out

    def perturbation(self, table: Any, i: int) -> Perturbation:
        where = f"perturbation[{i}]"
        if not isinstance(table, Mapping):
            raise self.fail(where, "must be a table")
        known = {"at_s", "action", "node", "groups"}
        for key in table:
            if key not in known:
                raise self.fail(f"{where}.{key}", f"is unknown (known: {', '.join(sorted(known))})")
        if "at_s" not in table or "action" not in table:
            raise self.fail(where, "needs 'at_s' (seconds into the run) and 'action'")
        at_s = self.typed(table["at_s"], f"{where}.at_s", (int, float))
        action = self.typed(table["action"], f"{where}.action", (str,))
        if action not in ACTIONS:
            raise self.fail(
                f"{where}.action", f"must be one of {', '.join(ACTIONS)}, got {action!r}"
            )
        node = None
        groups = None
        if action in NODE_ACTIONS:
            if "node" not in table:
                raise self.fail(f"{where}.node", f"is required by action '{action}'")
            node = self.typed(table["node"], f"{where}.node", (int,))
        elif "node" in table:
            raise self.fail(f"{where}.node", f"is not used by action '{action}'")
        if action == PARTITION:
            if "groups" not in table:
                raise self.fail(f"{where}.groups", "is required by 'partition' (like '0,1/2,3')")
            text = self.typed(table["groups"], f"{where}.groups", (str,))
            try:
                groups = parse_groups(text)
            except ValueError as exc:
                raise self.fail(f"{where}.groups", str(exc)) from None
        elif "groups" in table:
            raise self.fail(f"{where}.groups", f"is not used by action '{action}'")
        return Perturbation(at_s=at_s, action=action, node=node, groups=groups)


# -- checking --------------------------------------------------------------------


class _Checker:
    """Checks a whole profile: ranges, names, the node config and genesis
    params it implies, and that the schedule makes sense step by step."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, name: str, why: str, code: str | None = None) -> ConfigError:
        return ConfigError(f"{self.source}: field '{name}' {why}", code=code)

    def check(self, p: TestnetProfile) -> None:
        if not 1 <= p.nodes <= MAX_NODES:
            raise self.fail("nodes", f"must be in [1, {MAX_NODES}], got {p.nodes}")
        if p.consensus not in CONSENSUS_CHOICES:
            raise self.fail("consensus", f"must be one of {', '.join(CONSENSUS_CHOICES)}")
        self.policies(p)
        if not 0 <= p.accounts <= 100_000:
            raise self.fail("accounts", f"must be in [0, 100000], got {p.accounts}")
        if not 0 < p.balance < 2**64:
            raise self.fail("balance", f"must be in [1, 2^64), got {p.balance}")
        if not (math.isfinite(p.duration_s) and p.duration_s >= 0):
            raise self.fail(
                "duration_s", f"must be >= 0 (0: until interrupted), got {p.duration_s}"
            )
        if p.base_port is not None and not 1024 <= p.base_port <= MAX_PORT - 2 * p.nodes + 1:
            raise self.fail(
                "base_port",
                f"must be in [1024, {MAX_PORT - 2 * p.nodes + 1}] for {p.nodes} nodes "
                f"(each node takes two ports), got {p.base_port}",
            )
        self.load(p)
        self.genesis(p)
        self.node_config(p)
        self.schedule(p)

    def load(self, p: TestnetProfile) -> None:
        if not (math.isfinite(p.load.tps) and 0 <= p.load.tps <= 100_000):
            raise self.fail("load.tps", f"must be in [0, 100000], got {p.load.tps}")
        if p.load.tps > 0 and p.accounts == 0:
            raise self.fail("accounts", "must be > 0 when there is load (they sign it)")
        if p.load.workload is not None:
            if p.load.workload.suffix.lower() not in (".toml", ".csv", ".jsonl"):
                raise self.fail("load.workload", "must be a workload .toml or a .csv/.jsonl trace")
            if not p.load.workload.is_file():
                raise self.fail("load.workload", f"{p.load.workload}: no such file")

    def genesis(self, p: TestnetProfile) -> None:
        """The genesis params, checked by the genesis reader itself."""
        try:
            Genesis.from_dict(
                {
                    "chain_id": p.chain_id,
                    "consensus": p.consensus,
                    "validators": [{"public_key": "11" * 32, "power": 1}],
                    "params": p.genesis_params(),
                },
                source=f"{self.source} [params]",
            )
        except ConfigError as exc:
            raise ConfigError(exc.message.replace("field 'validators", "field 'nodes")) from None

    def policies(self, p: TestnetProfile) -> None:
        """Load the plugins, then build every node's policy as the node will,
        from what that node loads: the profile's plugins and its own."""
        owners: dict[str, str] = {}  # policy name -> the plugin that registers it
        self.plugins(p.policy_module, "policy_module", owners)
        for i, entry in enumerate(p.node_policies):
            self.plugins(entry.policy_module, f"node[{i}].policy_module", owners)
        self.policy(p.policy, None, None, "policy")
        self.loaded(p.policy, p.policy_module, owners, "policy")
        seen: dict[int, int] = {}
        for i, entry in enumerate(p.node_policies):
            where = f"node[{i}]"
            if not 0 <= entry.index < p.nodes:
                raise self.fail(
                    f"{where}.index",
                    f"is {entry.index}, but the nodes are 0..{p.nodes - 1}",
                    "node_index",
                )
            if entry.index in seen:
                raise self.fail(
                    f"{where}.index",
                    f"is {entry.index}, which node[{seen[entry.index]}] already gives a policy",
                    "duplicate_node",
                )
            seen[entry.index] = i
            self.policy(entry.policy, entry.model_path, entry.model_hash, where)
            modules = (*p.policy_module, *entry.policy_module)
            self.loaded(entry.policy, modules, owners, f"{where}.policy")

    def plugins(self, specs: tuple[str, ...], name: str, owners: dict[str, str]) -> None:
        for spec in specs:
            try:
                names = load_policy_modules([spec])
            except ConfigError as exc:
                raise self.fail(name, f"cannot be loaded: {exc.message}", exc.code) from None
            owners.update(dict.fromkeys(names, spec))

    def loaded(
        self, policy: str, modules: tuple[str, ...], owners: dict[str, str], name: str
    ) -> None:
        """A plugin's policy runs only on the nodes that load that plugin."""
        owner = owners.get(policy)
        if owner is not None and owner not in modules:
            where = "the profile's policy_module" if name == "policy" else "its policy_module"
            raise self.fail(
                name,
                f"is {policy!r}, a policy of the plugin {owner}, which this node does not "
                f"load (add the plugin to {where})",
                "policy_not_loaded",
            )

    def policy(
        self, name: str, model_path: Path | None, model_hash: str | None, where: str
    ) -> None:
        """Build the policy (the field named in an error is the one at fault)."""
        try:
            load_policy(name, model_path=model_path, model_hash=model_hash)
        except ConfigError as exc:
            if where == "policy" or exc.code in ("unknown_policy", "bench_only_policy"):
                field_name = "policy"
            elif model_path is not None:
                field_name = "model_path"
            else:
                field_name = "model_hash"
            full = field_name if where == "policy" else f"{where}.{field_name}"
            raise self.fail(full, f"is refused: {exc.message}", exc.code) from None

    def node_config(self, p: TestnetProfile) -> None:
        """Each node's config tables, checked by the node config reader itself."""
        indices: list[int | None] = [None, *sorted(n.index for n in p.node_policies)]
        for index in indices:
            where = "[config]" if index is None else f"[config] of node {index}"
            NodeConfig.from_mapping(
                p.config_overrides(index), home=Path.cwd(), source=f"{self.source} {where}"
            )

    def schedule(self, p: TestnetProfile) -> None:
        states = ["running"] * p.nodes
        last = 0.0
        for i, step in enumerate(p.perturbations):
            where = f"perturbation[{i}]"
            if not (math.isfinite(step.at_s) and step.at_s >= 0):
                raise self.fail(f"{where}.at_s", f"must be >= 0, got {step.at_s}")
            if step.at_s < last:
                raise self.fail(
                    f"{where}.at_s",
                    f"is {step.at_s}, before the step above it ({last}): keep "
                    "the schedule in time order",
                )
            last = step.at_s
            if p.duration_s and step.at_s >= p.duration_s:
                raise self.fail(
                    f"{where}.at_s",
                    f"is {step.at_s} s, not before the end of the run "
                    f"(duration_s = {p.duration_s})",
                )
            if step.groups is not None:
                try:
                    parse_groups(format_groups(step.groups), p.nodes)
                except ValueError as exc:
                    raise self.fail(f"{where}.groups", str(exc)) from None
            if step.node is None:
                continue
            if not 0 <= step.node < p.nodes:
                raise self.fail(
                    f"{where}.node", f"is {step.node}, but the nodes are 0..{p.nodes - 1}"
                )
            states[step.node] = self.transition(states[step.node], step, where)

    def transition(self, state: str, step: Perturbation, where: str) -> str:
        needs = {KILL: "running", PAUSE: "running", RESUME: "paused", RESTART: None}
        wanted = needs[step.action]
        if step.action == RESTART and state == "paused":
            raise self.fail(where, f"restarts node {step.node}, which is paused: resume it first")
        if wanted is not None and state != wanted:
            raise self.fail(
                where, f"is '{step.describe()}', but node {step.node} is {state} at that time"
            )
        return {KILL: "killed", PAUSE: "paused", RESUME: "running", RESTART: "running"}[step.action]
