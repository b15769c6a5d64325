"""`ordinet init | run | keys | tx` as a user runs them: real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nodekit import REPO, NodeProcess, wait_until

from node.config import load_config
from node.genesis import Genesis
from node.ledger import Ledger
from node.runtime.home import NodeHome
from node.wallet import Wallet


def ordinet(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=str(REPO),
        env=env,
        stdin=subprocess.DEVNULL,
    )


def send_tx(
    node: NodeProcess, key: Path, to: str, *, amount: int, fee: int | str, wait: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["tx", "send", "--rpc", node.home.rpc_url, "--key", str(key), "--to", to]
    args += ["--amount", str(amount), "--fee", str(fee)]
    return ordinet(*args, *(["--wait"] if wait else []))


def _process_of(home: Path) -> NodeProcess:
    config = load_config(home / "config.toml")
    key = Wallet.load(config.node_key)
    return NodeProcess(NodeHome(0, home, key, True, config.p2p.port, config.rpc.port))


def test_init_run_send_and_stop_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = ordinet(
        "init",
        "--home",
        str(home),
        "--consensus",
        "poa",
        "--accounts",
        "2",
        "--block-interval-ms",
        "200",
    )
    assert done.returncode == 0, done.stderr
    assert "start with: ordinet run --home" in done.stdout
    for name in ("config.toml", "genesis.json", "node_key.json", "accounts/account0.key"):
        assert (home / name).exists(), name
    again = ordinet("init", "--home", str(home))
    assert again.returncode == 2 and "already exists" in again.stderr

    keyfile = tmp_path / "alice.key"
    made = ordinet("keys", "new", "--out", str(keyfile))
    assert made.returncode == 0, made.stderr
    alice = Wallet.load(keyfile)
    assert made.stdout.strip() == alice.address_hex
    assert keyfile.stat().st_mode & 0o777 == 0o600
    assert ordinet("keys", "new", "--out", str(keyfile)).returncode == 2

    node = _process_of(home)
    node.start()
    try:
        node.wait_ready()
        funded = home / "accounts/account0.key"
        sent = send_tx(node, funded, alice.address_hex, amount=25, fee=2, wait=True)
        assert sent.returncode == 0, sent.stderr + sent.stdout
        tx_id = sent.stdout.splitlines()[0]
        assert len(bytes.fromhex(tx_id)) == 32
        assert '"accepted": true' in sent.stdout
        # the nonce comes from the node: a second send needs no --nonce either
        second = send_tx(node, funded, alice.address_hex, amount=5, fee=2, wait=True)
        assert second.returncode == 0, second.stderr + second.stdout
        assert node.client.account(alice.address)["balance"] == 30
        # --fee auto pays the node's estimate (GET /fees/estimate) for the tx's size
        auto = send_tx(node, funded, alice.address_hex, amount=1, fee="auto", wait=True)
        assert auto.returncode == 0, auto.stderr + auto.stdout
        assert "per byte for" in auto.stderr and '"accepted": true' in auto.stdout
        estimate = node.client.estimate_fee()
        assert estimate["estimator"] == "model" and estimate["basis"]["height"] >= 1
        assert node.client.account(alice.address)["balance"] == 31
        broke = Wallet.generate().address_hex
        refused = send_tx(node, keyfile, broke, amount=1000, fee=1)
        assert refused.returncode == 1 and "insufficient_funds" in refused.stdout
        last_height = node.height()
    finally:
        code = node.terminate()
    assert code == 0, node.tail()
    log = node.log_path.read_text()
    assert "node.stopped" in log and "Traceback" not in log
    # the store reopens consistent (Ledger.open checks the state root) at the head
    config = load_config(home / "config.toml")
    with Ledger.open(config.store_path, Genesis.load(config.genesis)) as ledger:
        assert ledger.height >= last_height
        assert ledger.tx(bytes.fromhex(tx_id)) is not None
        assert ledger.account(alice.address).balance == 31


def test_run_refuses_a_bad_config_naming_file_and_field(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert ordinet("init", "--home", str(home), "--accounts", "0").returncode == 0
    config = home / "config.toml"
    config.write_text(config.read_text().replace("admin_enabled = false", "admin_enabled = 3"))
    done = ordinet("run", "--home", str(home))
    assert done.returncode == 2
    assert str(config) in done.stderr and "'rpc.admin_enabled'" in done.stderr
    assert "Traceback" not in done.stderr
    missing = ordinet("run", "--home", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "ordinet init" in missing.stderr


def test_a_restarted_node_resumes_its_chain(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert (
        ordinet(
            "init", "--home", str(home), "--consensus", "bft", "--block-interval-ms", "200"
        ).returncode
        == 0
    )
    node = _process_of(home)
    node.start()
    try:
        node.wait_ready()
        wait_until(lambda: node.height() >= 3, "three blocks")
        first = node.client.block(3)["hash"]
    finally:
        assert node.terminate() == 0, node.tail()
    node.start()
    try:
        node.wait_ready()
        assert node.client.block(3)["hash"] == first
        height = node.height()
        wait_until(lambda: node.height() > height, "a new block after the restart")
    finally:
        assert node.terminate() == 0, node.tail()


def test_run_says_which_port_it_cannot_listen_on(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        home = tmp_path / "home"
        made = ordinet("init", "--home", str(home), "--accounts", "0", "--p2p-port", str(port))
        assert made.returncode == 0, made.stderr
        done = ordinet("run", "--home", str(home))
    assert done.returncode == 2
    assert "'p2p.port'" in done.stderr and f"127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
