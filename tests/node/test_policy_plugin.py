"""`ordinet run` with `[scheduling] policy_module` or `--policy-module`: a real
node builds blocks with a plugin, and a bad plugin stops it in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nodekit import REPO, wait_until
from test_node_cli import _process_of, ordinet, send_tx

from node.client import Client
from node.config import NodeConfig, config_to_toml, load_config
from node.errors import ConfigError, OrdinetError
from node.wallet import Wallet

EXAMPLE = REPO / "configs" / "policies" / "fee_band_fifo.py"


def _init_with_plugin(home: Path, policy_module: str, policy: str = "fee-band-fifo") -> Path:
    done = ordinet("init", "--home", str(home), "--consensus", "poa", "--block-interval-ms", "200")
    assert done.returncode == 0, done.stderr
    config = home / "config.toml"
    text = config.read_text()
    assert 'policy = "fee"' in text
    config.write_text(
        text.replace('policy = "fee"', f'policy = "{policy}"\npolicy_module = "{policy_module}"')
    )
    return config


def test_a_node_builds_blocks_with_a_plugin_policy_from_its_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "policies").mkdir(parents=True)
    shutil.copy(EXAMPLE, home / "policies" / EXAMPLE.name)
    # relative to the config file's folder, not the node's working directory
    _init_with_plugin(home, "policies/fee_band_fifo.py")
    node = _process_of(home)
    node.start()
    try:
        status = node.wait_ready()
        assert status["policy"] == "fee-band-fifo"
        to = Wallet.generate().address_hex
        sent = send_tx(node, home / "accounts/account0.key", to, amount=3, fee=2, wait=True)
        assert sent.returncode == 0, sent.stderr + sent.stdout
        tx_id = sent.stdout.splitlines()[0]
        height = wait_until(
            lambda: node.client.tx(tx_id).get("height"), "the tx committed in a block"
        )
        block = node.client.block(height)
        header = block.get("header", block)
        assert header["policy"] == "fee-band-fifo"
    finally:
        assert node.terminate() == 0, node.tail()


def test_run_refuses_a_broken_plugin_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "broken.py").write_text("def nope(:\n")
    _init_with_plugin(home, "broken.py")
    done = ordinet("run", "--home", str(home))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str((home / "broken.py").resolve()) in lines[0] and "syntax error" in lines[0]
    assert "Traceback" not in done.stderr


def test_run_refuses_a_missing_plugin_and_an_unknown_policy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _init_with_plugin(home, "nowhere/plugin.py")
    done = ordinet("run", "--home", str(home))
    assert done.returncode == 2 and "no such file" in done.stderr
    assert "Traceback" not in done.stderr
    # a loaded plugin that does not register the configured name
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(EXAMPLE, other / EXAMPLE.name)
    _init_with_plugin(other, EXAMPLE.name, policy="no-such-policy")
    done = ordinet("run", "--home", str(other))
    assert done.returncode == 2 and "unknown scheduling policy" in done.stderr
    assert "fee-band-fifo" in done.stderr  # listed among the known policies


def test_config_reads_policy_module_as_a_string_or_a_list(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[scheduling]\npolicy_module = ["plugins/a.py", "my_package.policies"]\n'
    )
    config = load_config(config_file, home=tmp_path / "elsewhere")
    # files resolve against the config file's folder; module names stay names
    assert config.scheduling.policy_module == (
        str((tmp_path / "plugins" / "a.py").resolve()),
        "my_package.policies",
    )
    again = tmp_path / "again.toml"
    again.write_text(config_to_toml(config))
    assert load_config(again, home=tmp_path / "elsewhere").scheduling == config.scheduling
    one = NodeConfig.from_mapping({"scheduling": {"policy_module": "x.py"}}, home=tmp_path)
    assert one.scheduling.policy_module == (str(tmp_path / "x.py"),)


@pytest.mark.parametrize("value", [3, [""], ["ok.py", 4], {"a": 1}])
def test_config_refuses_a_policy_module_that_is_not_names(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        NodeConfig.from_mapping({"scheduling": {"policy_module": value}}, home=tmp_path)
    assert "'scheduling.policy_module'" in caught.value.message


def _run_from(cwd: Path, home: Path, *flags: str, log: Path | None = None) -> subprocess.Popen[str]:
    """`ordinet run --home HOME FLAGS` started in ``cwd``; its output piped,
    or appended to ``log`` (a node that keeps running logs more than a pipe holds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "node", "run", "--home", str(home), *flags]
    options = {"cwd": str(cwd), "env": env, "stdin": subprocess.DEVNULL, "text": True}
    if log is None:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)
    with log.open("a") as out:  # the child keeps its own descriptor
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **options)


def test_run_policy_module_flag_loads_a_plugin_relative_to_the_working_directory(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    done = ordinet("init", "--home", str(home), "--consensus", "poa", "--policy", "fee-band-fifo")
    assert done.returncode == 0, done.stderr
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)
    shutil.copy(EXAMPLE, work / "mine" / EXAMPLE.name)
    # without the plugin the configured policy is unknown
    refused = _run_from(work, home)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 2 and "unknown scheduling policy 'fee-band-fifo'" in err
    log = tmp_path / "node.log"
    node = _run_from(work, home, "--policy-module", f"mine/{EXAMPLE.name}", log=log)
    client = Client(f"http://127.0.0.1:{load_config(home / 'config.toml').rpc.port}")
    try:
        status = wait_until(
            lambda: _status_or_none(client, node, log),
            "the node to answer with the plugin's policy",
        )
        assert (status["policy"], status["model_hash"]) == ("fee-band-fifo", None)
    finally:
        node.terminate()
        node.wait(timeout=60)
        client.close()
    assert node.returncode == 0, log.read_text()


def _status_or_none(client: Client, node: subprocess.Popen[str], log: Path) -> dict | None:
    assert node.poll() is None, f"the node exited:\n{log.read_text()}"
    try:
        return client.status()
    except (OrdinetError, OSError):
        return None


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        ("def nope(:\n", "syntax error at line 1"),
        ("raise RuntimeError('no')\n", "import failed: RuntimeError: no"),
        ("x = 1\n", "registers no scheduling policy"),
    ],
)
def test_run_policy_module_flag_refuses_a_bad_plugin_in_one_line(
    tmp_path: Path, plugin: str, message: str
) -> None:
    home = tmp_path / "home"
    assert ordinet("init", "--home", str(home), "--consensus", "poa").returncode == 0
    (tmp_path / "bad.py").write_text(plugin)
    done = _run_from(tmp_path, home, "--policy-module", "bad.py")
    _, err = done.communicate(timeout=120)
    assert done.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ordinet: error: --policy-module: policy module ")
    assert str((tmp_path / "bad.py").resolve()) in lines[0] and message in lines[0]
    assert not (home / "data").exists() or not any((home / "data").iterdir())


def test_run_policy_module_flag_refuses_a_missing_module(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert ordinet("init", "--home", str(home), "--consensus", "poa").returncode == 0
    for spec, message in (
        ("gone.py", "no such file"),
        ("no_such_policy_package.policies", "no such file or importable module"),
        ("", "must be a file path or module name"),
    ):
        done = _run_from(tmp_path, home, "--policy-module", spec)
        _, err = done.communicate(timeout=120)
        assert done.returncode == 2 and message in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
