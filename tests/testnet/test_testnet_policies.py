"""Mixed validators: each node of a testnet runs the scheduling policy its
``[[node]]`` table gives it, plugins included; its blocks record that policy,
and the summary shows each proposer's blocks under it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nodekit import wait_until
from rich.console import Console
from testnetkit import ordinet

from node.client import Client
from node.config import load_config, resolve_policy_modules
from node.errors import OrdinetError
from node.scheduling.policy import load_policy
from node.testnet.display import proposer_table
from node.testnet.manifest import load_manifest
from node.testnet.network import Testnet
from node.testnet.profile import load_profile
from node.testnet.proposers import TxFacts, proposer_stats

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLUGIN = REPO / "configs" / "policies" / "fee_band_fifo.py"
DEFAULT_MODEL = REPO / "node" / "scheduling" / "models" / "default.json"
DEFAULT_MODEL_HASH = hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
# commands run from other directories than the repository's still import it
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

PROFILE = """
name = "mixed-test"
nodes = 3
consensus = "bft"
policy = "fee"
accounts = 24

[load]
workload = "trace.csv"

[[node]]
index = 0
policy = "fee-band-fifo"
policy_module = "plugins/fee_band_fifo.py"

[[node]]
index = 1
policy = "learned"
"""


def _write_profile(folder: Path, rows: int = 600) -> Path:
    """The profile above, its plugin, and a labelled trace of ``rows`` txs at 10
    tx/s: urgent ones (deadline 60 s, value 5) and bulk ones (no deadline, value 1)."""
    (folder / "plugins").mkdir(parents=True)
    shutil.copy(EXAMPLE_PLUGIN, folder / "plugins" / EXAMPLE_PLUGIN.name)
    lines = ["arrival_s,sender,recipient,nonce,fee,size,class,deadline_s,value"]
    for i in range(rows):
        urgent = i % 3 == 0
        cls, deadline, value = ("urgent", "60", "5") if urgent else ("bulk", "", "1")
        fee = 200 + 37 * (i % 11)
        lines.append(
            f"{i / 10:.1f},s{i % 12},r{i % 5},{i // 12},{fee},200,{cls},{deadline},{value}"
        )
    (folder / "trace.csv").write_text("\n".join(lines) + "\n")
    path = folder / "mixed.toml"
    path.write_text(textwrap.dedent(PROFILE))
    return path


# -- writing the net -----------------------------------------------------------------


@pytest.mark.usefixtures("clean_registry")
def test_each_node_config_gets_its_own_policy_with_absolute_plugin_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = load_profile(_write_profile(tmp_path / "profile")).check()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # node configs must not depend on the working directory
    net = Testnet.create(profile, tmp_path / "net")
    plugin = str((tmp_path / "profile" / "plugins" / EXAMPLE_PLUGIN.name).resolve())
    configs = [load_config(n.home / "config.toml").scheduling for n in net.nodes]
    assert [c.policy for c in configs] == ["fee-band-fifo", "learned", "fee"]
    assert [c.policy_module for c in configs] == [(plugin,), (), ()]
    assert all(c.model_path is None for c in configs)
    text = (net.nodes[0].home / "config.toml").read_text()
    assert text.startswith("# Ordinet node config (node 0 of a 3-node network)")
    assert "the [[node]] table of node 0" in text
    assert [n.policy for n in load_manifest(tmp_path / "net").nodes] == [
        "fee-band-fifo",
        "learned",
        "fee",
    ]


def test_a_node_table_model_is_written_with_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'nodes = 2\n[[node]]\nindex = 1\npolicy = "learned"\n'
        f'model_path = "{os.path.relpath(DEFAULT_MODEL, tmp_path)}"\n'
        f'model_hash = "{DEFAULT_MODEL_HASH}"\n'
    )
    net = Testnet.create(load_profile(path).check(), tmp_path / "net")
    first, second = (load_config(n.home / "config.toml").scheduling for n in net.nodes)
    assert (first.policy, first.model_path, first.model_sha256) == ("fee", None, None)
    assert (second.policy, second.model_sha256) == ("learned", DEFAULT_MODEL_HASH)
    assert second.model_path == DEFAULT_MODEL.resolve()
    policy = load_policy("learned", model_path=second.model_path, model_hash=second.model_sha256)
    assert policy.model_hash.hex() == DEFAULT_MODEL_HASH


@pytest.mark.usefixtures("clean_registry")
def test_testnet_up_policy_module_reaches_every_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    flags = resolve_policy_modules(["configs/policies/fee_band_fifo.py"], Path.cwd())
    profile = load_profile(REPO / "configs" / "testnet" / "bft.toml").with_flags(
        nodes=2, policy="fee-band-fifo", policy_module=flags, accounts=2
    )
    net = Testnet.create(profile.check(), tmp_path / "net")
    for node in net.nodes:
        scheduling = load_config(node.home / "config.toml").scheduling
        assert scheduling.policy == "fee-band-fifo"
        assert scheduling.policy_module == (str(EXAMPLE_PLUGIN.resolve()),)


# -- the blocks per proposer ---------------------------------------------------------


def _block(proposer: str, txs: list[str], policy: str, model_hash: str | None = None) -> dict:
    return {"proposer": proposer, "txs": txs, "policy": policy, "model_hash": model_hash}


def test_proposer_stats_credit_each_block_to_its_proposer_and_policy() -> None:
    a, b, outsider = "aa" * 32, "bb" * 32, "cc" * 32
    facts = {
        "t1": TxFacts(fee=400, size=200, utility=5.0),
        "t2": TxFacts(fee=100, size=100, utility=0.0),  # missed its deadline
        "t3": TxFacts(fee=300, size=100, utility=1.0),
    }
    blocks = [
        _block(a, ["t1", "t2"], "fee"),
        _block(b, [], "learned", "12345678" * 8),
        _block(a, ["t3", "foreign"], "fee"),  # a tx the load did not send
        _block(outsider, ["foreign2"], "fifo"),
        _block(b, [], "learned", "87654321" * 8),  # its model changed (restarted)
    ]
    rows = proposer_stats(blocks, [a, b, "dd" * 32], facts, labelled=True)
    by_node = {r.node: r for r in rows}
    assert [r.node for r in rows] == ["node0", "node1", "node2", "cc" * 6]
    first = by_node["node0"]
    assert (first.policies, first.blocks, first.txs, first.load_txs) == (["fee"], 2, 4, 3)
    assert first.fees == 800 and first.utility == 6.0
    assert first.fee_rate_mean == pytest.approx((2.0 + 1.0 + 3.0) / 3)
    second = by_node["node1"]
    assert second.policies == ["learned 12345678", "learned 87654321"]
    assert (second.blocks, second.txs, second.fee_rate_mean, second.utility) == (2, 0, None, 0.0)
    assert (by_node["node2"].blocks, by_node["node2"].policies) == (0, [])
    assert by_node["cc" * 6].policies == ["fifo"] and by_node["cc" * 6].load_txs == 0
    # without a labelled workload there is no utility to show
    plain = proposer_stats(blocks, [a, b], {}, labelled=False)
    assert all(r.utility is None for r in plain)
    assert plain[0].to_json()["fee_rate_mean"] is None


def test_the_proposer_table_shows_utility_only_when_the_load_had_labels() -> None:
    a = "aa" * 32
    blocks = [_block(a, ["t1"], "fee")]
    console = Console(width=120, record=True, file=io.StringIO())
    unlabelled = {"t1": TxFacts(fee=400, size=200, utility=None)}
    console.print(proposer_table(proposer_stats(blocks, [a], unlabelled)))
    plain = console.export_text()
    assert "mean fee rate" in plain and "2.000/B" in plain and "utility" not in plain
    labelled = {"t1": TxFacts(fee=400, size=200, utility=5.0)}
    console.print(proposer_table(proposer_stats(blocks, [a], labelled, labelled=True)))
    shown = console.export_text()
    assert "utility/block" in shown and "5.0" in shown


# -- a real net of mixed validators ---------------------------------------------------


def test_mixed_validators_record_their_own_policy_in_the_blocks_they_propose(
    tmp_path: Path, net_home: Path
) -> None:
    """3 BFT validators: the example plugin, learned, and the default fee.
    Every block a node proposes records that node's policy (and, learned, the
    model's hash); `testnet status` and the summary show them; a node restarted
    from another directory still finds its plugin."""
    profile = _write_profile(tmp_path / "profile")
    out = tmp_path / "up.out"
    with out.open("w") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "node", "testnet", "up", "--profile", str(profile),
             "--home", str(net_home), "--duration", "0"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path),
            env=ENV,
        )  # fmt: skip

    def up_says(text: str) -> bool:
        assert up.poll() is None, f"testnet up exited {up.returncode}:\n{out.read_text()}"
        return text in out.read_text()

    try:
        wait_until(lambda: up_says("all 3 nodes up"), "the testnet to be up", deadline_s=180.0)
        nodes = load_manifest(net_home).nodes
        clients = [Client(n.rpc_url, timeout=10.0) for n in nodes]
        expected = {
            nodes[0].node_id: ("fee-band-fifo", None),
            nodes[1].node_id: ("learned", DEFAULT_MODEL_HASH),
            nodes[2].node_id: ("fee", None),
        }
        for client, node in zip(clients, nodes, strict=True):
            status = client.status()
            assert (status["policy"], status["model_hash"]) == expected[node.node_id]

        checked = [0]  # blocks 1..checked[0] of node 2's chain are checked
        with_txs: set[str] = set()  # proposers of blocks that hold load txs

        def every_proposer_seen() -> bool:
            chain = clients[2]
            for height in range(checked[0] + 1, int(chain.status()["height"]) + 1):
                block = chain.block(height)
                assert (block["policy"], block["model_hash"]) == expected[block["proposer"]]
                if block["txs"]:
                    with_txs.add(block["proposer"])
                checked[0] = height
            return with_txs == set(expected)

        wait_until(every_proposer_seen, "every node to propose a block of load txs")

        shown = ordinet("testnet", "status", "--home", net_home)
        assert "policies 0 fee-band-fifo, 1 learned, 2 fee" in shown
        assert f"learned {DEFAULT_MODEL_HASH[:8]}" in shown and "fee-band-fifo" in shown

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        restarted = subprocess.run(
            [sys.executable, "-m", "node", "testnet", "restart", "0", "--home", str(net_home)],
            cwd=str(elsewhere), capture_output=True, text=True, timeout=180, env=ENV,
        )  # fmt: skip
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert _status(clients[0]).get("policy") == "fee-band-fifo"
        for client in clients:
            client.close()
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)  # the foreground run drains and summarises
        up.wait(timeout=180)
    assert up.returncode == 0, out.read_text()
    summary = json.loads((net_home / "summary.json").read_text())
    assert summary["node_policies"] == ["fee-band-fifo", "learned", "fee"]
    rows = {r["node"]: r for r in summary["proposers"]["nodes"]}
    assert rows["node0"]["policies"] == ["fee-band-fifo"]
    assert rows["node1"]["policies"] == [f"learned {DEFAULT_MODEL_HASH[:8]}"]
    assert rows["node2"]["policies"] == ["fee"]
    assert all(r["blocks"] > 0 and r["utility"] is not None for r in rows.values())
    included = sum(r["load_txs"] for r in rows.values())
    assert 0 < included <= summary["load"]["committed"]
    assert sum(r["utility"] for r in rows.values()) > 0
    assert "Proposers (blocks" in out.read_text()


def _status(client: Client) -> dict:
    def answer() -> dict | None:
        try:
            return client.status()
        except (OrdinetError, OSError):
            return None

    return wait_until(answer, "the restarted node to answer")
