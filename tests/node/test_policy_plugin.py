"""`ordinet run` with `[scheduling] policy_module`: a real node builds blocks with a plugin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nodekit import REPO, wait_until
from test_node_cli import _process_of, ordinet, send_tx

from node.config import NodeConfig, config_to_toml, load_config
from node.errors import ConfigError
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
