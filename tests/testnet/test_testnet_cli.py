"""`ordinet testnet` and `ordinet load` refuse bad arguments and impossible
requests with one clear line and a non-zero exit, before touching anything.
And the verbs check the state they act on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main
from node.testnet.manifest import load_manifest
from node.testnet.network import Testnet, TestnetError
from node.testnet.profile import TestnetProfile


def _fails(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    """Run the CLI in-process; it must fail cleanly (no traceback); its stderr."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    assert code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["testnet", "up", "--nodes", "x"], "--nodes: must be a whole number"),
        (["testnet", "up", "--nodes", "-2"], "--nodes: must be >= 0"),
        (["testnet", "up", "--nodes", "0"], "field 'nodes' must be in [1, 64]"),
        (["testnet", "up", "--consensus", "raft"], "invalid choice: 'raft'"),
        (["testnet", "up", "--policy", "psychic"], "field 'policy' is refused: unknown sched"),
        (
            ["testnet", "up", "--policy-module", "nowhere/plugin.py"],
            "field 'policy_module' cannot be loaded: policy module",
        ),
        (
            ["testnet", "up", "--policy-module", "no_such_policy_module_anywhere"],
            "no such file or importable module",
        ),
        (["testnet", "up", "--load", "-5"], "--load: must be a finite number >= 0, got -5"),
        (["testnet", "up", "--duration", "soon"], "--duration: must be a number, got 'soon'"),
        (["testnet", "up", "--base-port", "80"], "field 'base_port' must be in [1024,"),
        (["testnet", "up", "--detach", "--load", "100"], "--load and --duration need the fore"),
        (["testnet", "up", "--profile", "/nonexistent.toml"], "cannot read profile"),
        (["testnet", "kill"], "the following arguments are required: NODE"),
        (["testnet", "pause", "one"], "NODE: must be a whole number"),
        (["load", "--duration", "5", "--rpc", "http://127.0.0.1:9"], "give --tps"),
        (["load", "--tps", "5"], "the following arguments are required: --duration"),
        (["load", "--tps", "5", "--duration", "1", "--rpc", "ftp://x"], "--rpc takes http://"),
    ],
)
def test_bad_arguments_get_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    err = _fails(capsys, *argv, *(["--home", tmp_path / "h"] if argv[0] == "testnet" else []))
    assert message in err
    assert not (tmp_path / "h").exists()  # nothing was written


def test_commands_on_a_home_without_a_testnet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for verb in (["status"], ["down"], ["kill", "1"], ["heal"], ["partition", "0/1"]):
        err = _fails(capsys, "testnet", *verb, "--home", tmp_path)
        assert "no testnet in" in err and "ordinet testnet up" in err
    err = _fails(capsys, "load", "--tps", "1", "--duration", "1", "--home", tmp_path)
    assert "no testnet in" in err


def test_up_refuses_a_directory_that_is_not_a_testnet_home(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    err = _fails(capsys, "testnet", "up", "--home", tmp_path)
    assert "not empty and not a testnet home" in err
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_load_needs_account_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    err = _fails(capsys, "load", "--rpc", "http://127.0.0.1:9", "--tps", "1", "--duration", "1",
                 "--accounts", tmp_path / "keys")  # fmt: skip
    assert "no account keys (*.key)" in err


def test_verbs_check_the_state_they_act_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A written but stopped testnet: every verb that needs a running node says so."""
    Testnet.create(TestnetProfile(nodes=3, accounts=2).check(), tmp_path)
    manifest = load_manifest(tmp_path)
    assert [n.state for n in manifest.nodes] == ["stopped"] * 3
    assert manifest.nodes[0].data_dir == tmp_path / "node0" / "data"
    assert len(list((tmp_path / "accounts").glob("*.key"))) == 2
    for verb, message in [
        (["kill", "1"], "node1 is not running (it is stopped)"),
        (["pause", "1"], "node1 is not running"),
        (["resume", "1"], "node1 is not paused"),
        (["kill", "3"], "no node 3 in the testnet"),
        (["partition", "0,1/1,2"], "node 1 is in more than one group"),
        (["partition", "0/1"], "leave out node(s) [2]"),
    ]:
        assert message in _fails(capsys, "testnet", *verb, "--home", tmp_path)


def test_up_refuses_to_replace_a_running_testnet(tmp_path: Path) -> None:
    net = Testnet.create(TestnetProfile(nodes=1, accounts=0).check(), tmp_path)
    # a stand-in process whose command line names the node's home, as a node's does
    home = net.nodes[0].home
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(home)],
        stdin=subprocess.DEVNULL,
    )
    try:
        m = load_manifest(tmp_path)
        m.nodes[0].pid, m.nodes[0].state = stand_in.pid, "running"
        m.save()
        with pytest.raises(TestnetError, match="already running"):
            Testnet.create(TestnetProfile(nodes=1).check(), tmp_path)
        net = Testnet.open(tmp_path)
        net.pause(0)
        assert Testnet.open(tmp_path).nodes[0].state == "paused"
        net.resume(0)
        net.kill(0)
        assert stand_in.wait(timeout=10) == -9
        assert Testnet.open(tmp_path).nodes[0].state == "killed"
    finally:
        stand_in.kill()
    # a stopped testnet is replaced by a new chain
    again = Testnet.create(TestnetProfile(nodes=2, accounts=0).check(), tmp_path)
    assert len(again.nodes) == 2 and again.nodes[0].node_id != net.nodes[0].node_id


def test_a_process_that_is_not_the_node_is_never_signalled(tmp_path: Path) -> None:
    """A pid in the manifest that now belongs to another program counts as gone."""
    net = Testnet.create(TestnetProfile(nodes=1, accounts=0).check(), tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        m = load_manifest(tmp_path)
        m.nodes[0].pid, m.nodes[0].state = other.pid, "running"
        m.save()
        assert Testnet.open(tmp_path).nodes[0].state == "killed"  # seen as gone
        with pytest.raises(TestnetError, match="not running"):
            net.kill(0)
        assert other.poll() is None  # untouched
    finally:
        other.kill()


def test_load_against_a_dead_url_is_one_clear_line(tmp_path: Path) -> None:
    """Through the real command: exit 2, one line on stderr, and no aiohttp
    session left unclosed on the error path."""
    from node.runtime.home import free_ports
    from node.wallet import Wallet

    keys = tmp_path / "keys"
    keys.mkdir()
    for k in range(2):
        Wallet.generate().save(keys / f"account{k}.key")
    [port] = free_ports(1)
    done = subprocess.run(
        [sys.executable, "-m", "node", "load", "--rpc", f"http://127.0.0.1:{port}",
         "--tps", "1", "--duration", "1", "--accounts", str(keys)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ordinet: error: load:") and f"127.0.0.1:{port}" in lines[0]
