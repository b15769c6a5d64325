"""Testnet profiles: the shipped ones are valid; a bad one is refused before
anything starts, with the file, the field and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import ConfigError
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
    ({"policy": "oracle"}, "field 'policy' must be one of"),
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
