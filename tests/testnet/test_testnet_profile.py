"""Testnet profiles: the shipped ones are valid; a bad one is refused before
anything starts, with the file, the field and why."""

from __future__ import annotations

import hashlib
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import ConfigError
from node.scheduling.policy import load_policy, policy_names
from node.testnet.profile import (
    TestnetProfile,
    format_groups,
    load_profile,
    parse_groups,
    profile_from_mapping,
)

PROFILES = Path(__file__).resolve().parents[2] / "configs" / "testnet"


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_profile_is_valid(path: Path) -> None:
    profile = load_profile(path).check()
    assert profile.name == path.stem


def test_the_shipped_profiles_cover_the_engines_and_chaos() -> None:
    profiles = {p.stem: load_profile(p) for p in PROFILES.glob("*.toml")}
    assert (profiles["bft"].nodes, profiles["bft"].consensus) == (4, "bft")
    assert (profiles["poa"].nodes, profiles["poa"].consensus) == (4, "poa")
    assert (profiles["pow"].nodes, profiles["pow"].consensus) == (3, "pow")
    make = profiles["make-testnet"]
    assert (make.nodes, make.consensus, make.policy) == (4, "bft", "learned")
    assert 45 <= make.duration_s <= 90 and make.load.tps > 0
    for name in ("chaos", "chaos-short"):
        actions = {p.action for p in profiles[name].perturbations}
        assert actions == {"kill", "restart", "pause", "resume", "partition", "heal"}
    mixed = profiles["mixed-policies"]
    assert (mixed.nodes, mixed.consensus) == (4, "bft")
    policies = [mixed.policy_of(i) for i in range(mixed.nodes)]
    assert sorted(policies) == ["fair-fee", "fee", "fifo", "learned"]
    assert mixed.load.workload is not None and mixed.load.workload.is_file()


def test_flags_override_the_file() -> None:
    profile = load_profile(PROFILES / "bft.toml").with_flags(
        nodes=7, policy="learned", load_tps=50.0, duration_s=None
    )
    assert (profile.nodes, profile.policy, profile.load.tps) == (7, "learned", 50.0)
    assert profile.duration_s == load_profile(PROFILES / "bft.toml").duration_s
    assert profile.config_overrides()["scheduling"]["policy"] == "learned"


def _kill(at: float, node: int) -> dict:
    return {"at_s": at, "action": "kill", "node": node}


BAD = [
    ({"nodes": 0}, "field 'nodes' must be in [1, 64]"),
    ({"nodes": "4"}, "field 'nodes' must be an integer"),
    ({"nodes": True}, "field 'nodes' must be an integer"),
    ({"consensus": "raft"}, "field 'consensus' must be one of bft, poa, pow"),
    ({"policy": "psychic"}, "field 'policy' is refused: unknown scheduling policy 'psychic'"),
    ({"colour": "blue"}, "field 'colour' is unknown"),
    ({"duration_s": -1}, "field 'duration_s' must be >= 0"),
    ({"base_port": 80}, "field 'base_port' must be in [1024,"),
    ({"base_port": 65530}, "field 'base_port' must be in [1024,"),
    ({"load": {"tps": -5}}, "field 'load.tps' must be in [0, 100000]"),
    ({"load": {"rate": 5}}, "field 'load.rate' is unknown"),
    ({"load": 5}, "field 'load' must be a table"),
    ({"load": {"tps": 5}, "accounts": 0}, "field 'accounts' must be > 0 when there is load"),
    ({"load": {"workload": "missing.toml"}}, "field 'load.workload'"),
    ({"params": {"block_interval_ms": "fast"}}, "block_interval_ms"),
    ({"params": {"warp": 9}}, "warp"),
    ({"config": {"p2p": {"port": 1}}}, "field 'config.p2p.port' is set by the testnet"),
    ({"config": {"mempool": {"max_txs": -1}}}, "max_txs"),
    ({"config": {"mempool": 3}}, "field 'config.mempool' must be a table"),
    ({"perturbation": {"at_s": 1}}, "field 'perturbation' must be an array of tables"),
    ({"perturbation": [{"action": "kill", "node": 1}]}, "needs 'at_s'"),
    ({"perturbation": [{"at_s": 1, "action": "explode"}]}, "perturbation[0].action' must be one"),
    ({"perturbation": [{"at_s": 1, "action": "kill"}]}, "perturbation[0].node' is required"),
    ({"perturbation": [_kill(1, 4)]}, "perturbation[0].node' is 4, but the nodes are 0..3"),
    ({"perturbation": [_kill(-1, 1)]}, "perturbation[0].at_s' must be >= 0"),
    ({"perturbation": [_kill(5, 1), _kill(2, 2)]}, "keep the schedule in time order"),
    ({"duration_s": 10, "perturbation": [_kill(10, 1)]}, "not before the end of the run"),
    ({"perturbation": [_kill(1, 1), _kill(2, 1)]}, "node 1 is killed at that time"),
    (
        {"perturbation": [{"at_s": 1, "action": "resume", "node": 2}]},
        "'resume node 2', but node 2 is running",
    ),
    (
        {
            "perturbation": [
                {"at_s": 1, "action": "pause", "node": 2},
                {"at_s": 2, "action": "restart", "node": 2},
            ]
        },
        "which is paused: resume it first",
    ),
    ({"perturbation": [{"at_s": 1, "action": "heal", "node": 1}]}, "node' is not used by"),
    ({"perturbation": [{"at_s": 1, "action": "partition"}]}, "groups' is required"),
    (
        {"perturbation": [{"at_s": 1, "action": "partition", "groups": "0,1/1,2"}]},
        "node 1 is in more than one group",
    ),
    (
        {"perturbation": [{"at_s": 1, "action": "partition", "groups": "0,1/2"}]},
        "leave out node(s) [3]",
    ),
    (
        {"perturbation": [{"at_s": 1, "action": "partition", "groups": "0,1,2,3"}]},
        "at least two groups",
    ),
]


@pytest.mark.parametrize(("values", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_profile_names_the_field_and_why(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        profile_from_mapping(values, source="bad.toml").check()
    assert str(err.value).startswith("bad.toml")
    assert message in str(err.value)


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("nodes = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(path)
    with pytest.raises(ConfigError, match="cannot read profile"):
        load_profile(tmp_path / "absent.toml")


def test_the_defaults_are_a_valid_profile() -> None:
    profile = TestnetProfile().check()
    assert (profile.nodes, profile.consensus) == (4, "bft")


@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=5), min_size=2, max_size=5))
def test_groups_text_round_trips(groups: list[list[int]]) -> None:
    flat = [i for g in groups for i in g]
    text = "/".join(",".join(map(str, g)) for g in groups)
    if len(set(flat)) != len(flat):
        with pytest.raises(ValueError, match="more than one group"):
            parse_groups(text)
        return
    parsed = parse_groups(text)
    assert format_groups(parsed) == text
    assert [list(g) for g in parsed] == groups


@pytest.mark.parametrize("text", ["", "0,1", "a/b", "0,,1/2", "0;1/2", "-1/2"])
def test_malformed_groups_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_groups(text)


# -- per-node policies: [[node]] tables and policy plugins -------------------------

EXAMPLE_PLUGIN = PROFILES.parent / "policies" / "fee_band_fifo.py"
MODEL = PROFILES.parents[1] / "node" / "scheduling" / "models" / "default.json"
MODEL_HASH = hashlib.sha256(MODEL.read_bytes()).hexdigest()
BROKEN_PLUGIN = "def nope(:\n"


def _bench_only_policy() -> str:
    """A registered policy a node must refuse (the label-greedy oracle), by its behaviour."""
    for name in policy_names():
        try:
            load_policy(name)
        except ConfigError as exc:
            if exc.code == "bench_only_policy":
                return name
    raise AssertionError("no bench-only policy is registered")


MODULE_PLUGIN = """
import numpy as np

from node.scheduling.policy import Policy, register


@register
class Newest(Policy):
    name = "newest-first"

    def score(self, txs):
        return np.asarray(txs.arrival_s, dtype=np.float64)
"""


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module (not a file path) that registers ``newest-first``."""
    name = "testnet_profile_newest"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / f"{name}.py").write_text(MODULE_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def _mixed(tmp_path: Path, body: str) -> TestnetProfile:
    (tmp_path / "plugins").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE_PLUGIN, tmp_path / "plugins" / EXAMPLE_PLUGIN.name)
    path = tmp_path / "mixed.toml"
    path.write_text(textwrap.dedent(body))
    return load_profile(path)


@pytest.mark.usefixtures("clean_registry")
def test_node_tables_give_each_node_its_policy_model_and_plugins(
    tmp_path: Path, plugin_module: str
) -> None:
    profile = _mixed(
        tmp_path,
        f"""
        nodes = 4
        policy = "fee"
        policy_module = "plugins/fee_band_fifo.py"   # relative to the profile

        [config.scheduling]
        model_sha256 = "{"00" * 32}"                 # replaced on nodes with a table

        [[node]]
        index = 0
        policy = "fee-band-fifo"

        [[node]]
        index = 2
        policy = "learned"
        model_path = "{MODEL}"
        model_hash = "{MODEL_HASH.upper()}"
        policy_module = ["{plugin_module}", "plugins/fee_band_fifo.py"]

        [[node]]
        index = 3
        policy = "newest-first"
        policy_module = "{plugin_module}"
        """,
    ).check()
    plugin = str((tmp_path / "plugins" / EXAMPLE_PLUGIN.name).resolve())
    assert profile.policy_module == (plugin,)
    policies = ["fee-band-fifo", "fee", "learned", "newest-first"]
    assert [profile.policy_of(i) for i in range(4)] == policies
    assert profile.policy_text() == "policies 0 fee-band-fifo, 1 fee, 2 learned, 3 newest-first"
    learned = profile.node_policy(2)
    assert learned is not None and learned.model_hash == MODEL_HASH  # lower case
    assert learned.model_path == MODEL and learned.policy_module == (plugin_module, plugin)
    assert profile.node_policy(1) is None
    # what each node's config gets: a node without a table runs the profile's policy
    assert profile.config_overrides(1)["scheduling"] == {
        "policy": "fee",
        "model_sha256": "00" * 32,
        "policy_module": [plugin],
    }
    assert profile.config_overrides(0)["scheduling"] == {
        "policy": "fee-band-fifo",
        "policy_module": [plugin],
    }
    assert profile.config_overrides(2)["scheduling"] == {
        "policy": "learned",
        "model_path": str(MODEL),
        "model_sha256": MODEL_HASH,
        "policy_module": [plugin, plugin_module],
    }
    assert profile.config_overrides(3)["scheduling"]["policy_module"] == [plugin, plugin_module]


@pytest.mark.usefixtures("clean_registry")
def test_policy_module_flags_add_to_the_profile_and_the_net_may_run_a_plugin(
    plugin_module: str,
) -> None:
    profile = TestnetProfile(policy_module=(plugin_module,)).with_flags(
        policy="fee-band-fifo", policy_module=(str(EXAMPLE_PLUGIN), plugin_module)
    )
    assert profile.policy_module == (plugin_module, str(EXAMPLE_PLUGIN))
    assert profile.check().policy_text() == "policy fee-band-fifo"
    assert profile.with_flags(policy_module=()) == profile


def _node(**table: object) -> dict:
    return {"node": [{"index": 0, "policy": "fee", **table}]}


NODE_BAD = [
    ({"node": {"index": 0}}, "field 'node' must be an array of tables", "config_error"),
    ({"node": [3]}, "field 'node[0]' must be a table", "config_error"),
    (_node(colour="red"), "field 'node[0].colour' is unknown", "unknown_field"),
    ({"node": [{"policy": "fee"}]}, "field 'node[0].index' is required", "missing_field"),
    ({"node": [{"index": 1}]}, "field 'node[0].policy' is required", "missing_field"),
    (_node(index="0"), "field 'node[0].index' must be an integer", "config_error"),
    (_node(index=True), "field 'node[0].index' must be an integer", "config_error"),
    (_node(policy=7), "field 'node[0].policy' must be a string", "config_error"),
    (_node(index=4), "field 'node[0].index' is 4, but the nodes are 0..3", "node_index"),
    (_node(index=-1), "field 'node[0].index' is -1, but the nodes are 0..3", "node_index"),
    (
        {"node": [{"index": 2, "policy": "fee"}, {"index": 2, "policy": "fifo"}]},
        "field 'node[1].index' is 2, which node[0] already gives a policy",
        "duplicate_node",
    ),
    (
        _node(policy="psychic"),
        "field 'node[0].policy' is refused: unknown scheduling policy 'psychic'",
        "unknown_policy",
    ),
    (
        _node(model_hash="ab" * 32),
        "field 'node[0].model_hash' is refused: scheduling policy 'fee' uses no model",
        "unexpected_model",
    ),
    (
        _node(policy="learned", model_path=str(MODEL)),
        "field 'node[0].model_hash' is required with model_path",
        "missing_field",
    ),
    (
        _node(policy="learned", model_hash="xyz"),
        "field 'node[0].model_hash' must be 64 hex characters",
        "config_error",
    ),
    (
        _node(policy="learned", model_path=str(MODEL), model_hash="ab" * 32),
        "field 'node[0].model_path' is refused",
        "model_hash_mismatch",
    ),
    (
        _node(policy="learned", model_path="/nonexistent/m.json", model_hash="ab" * 32),
        "field 'node[0].model_path' is refused: /nonexistent/m.json: cannot read model",
        "bad_model",
    ),
    (
        _node(policy_module=3),
        "field 'node[0].policy_module' must be a file",
        "policy_module_invalid",
    ),
    (
        _node(policy_module=["ok.py", ""]),
        "field 'node[0].policy_module' must be a file",
        "policy_module_invalid",
    ),
    (
        _node(policy_module="nowhere/plugin.py"),
        "field 'node[0].policy_module' cannot be loaded: policy module",
        "policy_module_missing",
    ),
    (
        {"policy_module": "no_such_module_anywhere"},
        "field 'policy_module' cannot be loaded: policy module no_such_module_anywhere",
        "policy_module_not_found",
    ),
    (
        {"config": {"scheduling": {"policy_module": "x.py"}}},
        "field 'config.scheduling.policy_module' is set by the testnet itself and cannot be "
        "given (use the profile's 'policy_module' or a [[node]] table)",
        "config_error",
    ),
]


@pytest.mark.usefixtures("clean_registry")
@pytest.mark.parametrize(("values", "message", "code"), NODE_BAD, ids=[m for _, m, _ in NODE_BAD])
def test_a_bad_node_table_is_refused_with_a_typed_error(
    values: dict, message: str, code: str
) -> None:
    with pytest.raises(ConfigError) as err:
        profile_from_mapping(values, source="bad.toml").check()
    assert str(err.value).startswith("bad.toml: ")
    assert message in str(err.value)
    assert err.value.code == code
    assert "\n" not in str(err.value)


def test_a_bench_only_policy_is_refused_for_a_node_and_for_the_net() -> None:
    name = _bench_only_policy()
    for values, where in (({"policy": name}, "policy"), (_node(policy=name), "node[0].policy")):
        with pytest.raises(ConfigError) as err:
            profile_from_mapping(values, source="bad.toml").check()
        assert f"field '{where}' is refused" in str(err.value) and "sched bench" in str(err.value)
        assert err.value.code == "bench_only_policy"


@pytest.mark.usefixtures("clean_registry")
def test_a_plugin_policy_needs_the_plugin_on_that_node(tmp_path: Path) -> None:
    """Node 1 cannot run the policy of a plugin only node 0 loads; nor can the
    nodes without a table."""
    plugin = f'policy_module = "plugins/{EXAMPLE_PLUGIN.name}"\n'
    own = '[[node]]\nindex = 0\npolicy = "fee-band-fifo"\n' + plugin
    other_node = own + '[[node]]\nindex = 1\npolicy = "fee-band-fifo"\n'
    the_rest = 'policy = "fee-band-fifo"\n' + own  # top-level keys before the tables
    for body, where in ((other_node, "node[1].policy"), (the_rest, "policy")):
        with pytest.raises(ConfigError) as err:
            _mixed(tmp_path, body).check()
        assert f"field '{where}' is 'fee-band-fifo', a policy of the plugin" in str(err.value)
        assert err.value.code == "policy_not_loaded"
    # loaded by the profile for every node, it is fine anywhere
    shared = 'policy = "fee-band-fifo"\n' + plugin
    assert _mixed(tmp_path, shared + '[[node]]\nindex = 1\npolicy = "fifo"\n').check()


@pytest.mark.usefixtures("clean_registry")
def test_a_broken_plugin_names_the_field_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_PLUGIN)
    path = tmp_path / "p.toml"
    path.write_text('[[node]]\nindex = 3\npolicy = "fee"\npolicy_module = "broken.py"\n')
    with pytest.raises(ConfigError) as err:
        load_profile(path).check()
    assert f"{path}: field 'node[0].policy_module' cannot be loaded" in str(err.value)
    assert str(tmp_path / "broken.py") in str(err.value) and "syntax error" in str(err.value)
    assert err.value.code == "policy_module_syntax"
