"""Every CLI error is one clear line on stderr and exit status 2, never a traceback;
a closed stdout (``| head``) ends the command quietly. Real processes: the
``ordinet`` console script and ``python -m node``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from nodekit import REPO

from node.runtime.home import init_homes
from node.scheduling.model import MODEL_VERSION, file_sha256
from node.wallet import Wallet

ORDINET_SCRIPT = Path(sys.executable).parent / "ordinet"
SIM_COMMAND = [sys.executable, "-m", "node", "sim", "--consensus", "poa", "--nodes", "1"]
SIM_COMMAND += ["--blocks", "1"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ORDINET_TRACEBACK", None)
    return env


def ordinet(*args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(ORDINET_SCRIPT)] if script else [sys.executable, "-m", "node"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(REPO),
        env=_env(),
        stdin=subprocess.DEVNULL,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The one stderr line of a command that failed as a CLI error should."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("ordinet"), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file: a path under it can be neither created nor written (even by root)."""
    path = tmp_path / "plain-file"
    path.write_text("not a directory\n")
    return path


# -- tx send: bad amounts are refused by argparse, before any request ----------------


class _FakeNode(BaseHTTPRequestHandler):
    requests: list[str] = []

    def _answer(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path == "/status":
            self._answer({"chain_id": "test-chain", "height": 1})
        else:
            self._answer({"balance": 10**9, "nonce": 0, "pending_nonce": 0})

    def do_POST(self) -> None:
        self.requests.append(self.path)
        length = int(self.headers.get("Content-Length", 0))
        txs = json.loads(self.rfile.read(length))["txs"]
        self._answer({"results": [{"id": "00", "accepted": True, "error": None}] * len(txs)})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_node() -> Iterator[str]:
    _FakeNode.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--amount", "-1"), ("--fee", "-5"), ("--amount", str(2**64)), ("--nonce", "-1")],
)
def test_tx_send_refuses_a_bad_amount_up_front(
    tmp_path: Path, fake_node: str, option: str, value: str
) -> None:
    key = tmp_path / "alice.key"
    Wallet.generate().save(key)
    to = Wallet.generate().address_hex
    args = {"--amount": "5", "--fee": "1", "--nonce": "0", option: value}
    flat = [item for pair in args.items() for item in pair]
    done = ordinet("tx", "send", "--rpc", fake_node, "--key", str(key), "--to", to, *flat)
    one_line_error(done, f"argument {option}", value)
    assert _FakeNode.requests == []


def test_argparse_errors_are_one_line_from_the_console_script() -> None:
    done = ordinet("sim", "--nodes", "many", script=True)
    one_line_error(done, "argument --nodes", "'many'")
    missing = ordinet("tx", "send", script=True)
    one_line_error(missing, "required")


# -- output files that cannot be written ------------------------------------------------


def test_sim_log_into_a_missing_or_unwritable_folder(tmp_path: Path, a_file: Path) -> None:
    sim = ("sim", "--consensus", "poa", "--nodes", "1", "--blocks", "1")
    for target in (tmp_path / "no" / "such" / "dir" / "events.log", a_file / "events.log"):
        done = ordinet(*sim, "--log", str(target))
        one_line_error(done, str(target))
        assert done.stdout == ""  # refused before the simulation ran


def test_sched_bench_and_train_out_into_a_path_that_cannot_be_written(a_file: Path) -> None:
    workload = REPO / "configs" / "workloads" / "mixed.toml"
    out = a_file / "results"
    bench = ordinet(
        "sched",
        "bench",
        "--workload",
        str(workload),
        "--policies",
        "fifo",
        "--out",
        str(out),
        "--quiet",
    )
    one_line_error(bench, str(out))
    model = a_file / "model.json"
    train = ordinet("sched", "train", "--workload", str(workload), "--out", str(model))
    one_line_error(train, str(a_file))


# -- a closed stdout ----------------------------------------------------------------------


def test_a_closed_stdout_ends_the_command_quietly() -> None:
    """What ``ordinet sim ... | head -1`` does once head has exited."""
    proc = subprocess.Popen(
        [*SIM_COMMAND, "--seeds", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=str(REPO),
        env=_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1  # Python's convention for EPIPE
    assert stderr == "", stderr


def test_piped_to_head_prints_one_line_and_no_error(tmp_path: Path) -> None:
    """1000 seeds print ~140 KB, more than a pipe holds: the writes after head
    exits must fail, and do so quietly."""
    err, status = tmp_path / "stderr.txt", tmp_path / "status.txt"
    command = (
        f"{' '.join(SIM_COMMAND)} --seeds 1000 2>{err} | head -1; echo ${{PIPESTATUS[0]}} >{status}"
    )
    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(REPO),
        env=_env(),
    )
    assert done.stdout.startswith("seed 0: committed_height=1")
    assert len(done.stdout.splitlines()) == 1
    assert err.read_text() == ""
    assert status.read_text().strip() == "1"


# -- ordinet run with a bad model or config -----------------------------------------------


def test_run_with_a_bad_model_file_exits_2_naming_the_file(tmp_path: Path) -> None:
    home = init_homes(tmp_path / "home", consensus="poa").nodes[0].path
    model = tmp_path / "evil.json"
    shipped = (REPO / "node" / "scheduling" / "models" / "default.json").read_text()
    version = f'"version":{MODEL_VERSION}'
    assert version in shipped
    model.write_text(shipped.replace(version, '"version":' + "9" * 5000))
    config = home / "config.toml"
    text = config.read_text().replace(
        "[scheduling]",
        f'[scheduling]\nmodel_path = "{model}"\nmodel_sha256 = "{file_sha256(model).hex()}"',
    )
    config.write_text(text.replace('policy = "fee"', 'policy = "learned"'))
    done = ordinet("run", "--home", str(home))
    one_line_error(done, str(model), "version", "an integer of 5000 digits")


def test_run_with_nan_in_the_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    home = init_homes(tmp_path / "home", consensus="poa").nodes[0].path
    config = home / "config.toml"
    config.write_text(config.read_text().replace("[p2p]", "[p2p]\nheartbeat_s = nan"))
    done = ordinet("run", "--home", str(home))
    one_line_error(done, str(config), "'p2p.heartbeat_s'", "nan")
