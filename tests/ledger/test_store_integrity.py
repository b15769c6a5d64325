"""A damaged or rolled-back store is refused at open, naming the file.

- a page of chain.db overwritten in the middle of the file: SQLite's
  quick_check finds it (``store_corrupt``);
- the -wal file deleted after a kill -9 of a real writer: the database is
  consistent but older than what was committed; the marker beside it
  (written with fsync after every commit) says so (``store_rolled_back``);
- a signing state older than the one the marker records, a database
  replaced by another chain's, a signing state ahead of the head;
- ``ordinet run`` on a damaged store prints one line and exits 2.

Before, all of these opened: the damaged page only failed later, and the
rolled-back store resumed from its older head and signing state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from ledgerkit import genesis_dict, grow, wallets
from test_crash_safety import REPO, Writer

from node.config import load_config
from node.errors import StoreError
from node.genesis import Genesis
from node.ledger import Ledger
from node.runtime.home import init_homes
from node.store import MARKER_SUFFIX, Marker, Store
from node.wallet import Wallet

PAGE = 4096  # SQLite's default page size


def build_chain(path: Path, genesis: Genesis, funded: list[Wallet], blocks: int = 40) -> int:
    rnd = random.Random(9)
    with Ledger.open(path, genesis) as led:
        for _ in range(blocks):
            grow(led, rnd, funded, max_txs=20)
        return led.height


def overwrite_middle_page(path: Path) -> None:
    pages = path.stat().st_size // PAGE
    assert pages >= 8, "the chain is too small to have a middle"
    with open(path, "r+b") as f:
        f.seek((pages // 2) * PAGE)
        f.write(random.Random(1).randbytes(PAGE))


def refusal(path: Path, genesis: Genesis) -> StoreError:
    with pytest.raises(StoreError) as refused:
        Ledger.open(path, genesis)
    return refused.value


def test_an_overwritten_page_is_refused_at_open(
    tmp_path: Path, genesis: Genesis, funded: list[Wallet]
) -> None:
    db = tmp_path / "chain.db"
    build_chain(db, genesis, funded)
    assert not (tmp_path / "chain.db-wal").exists()  # closed: all in the main file
    overwrite_middle_page(db)
    error = refusal(db, genesis)
    assert error.code == "store_corrupt"
    assert str(db) in error.message and "quick_check" in error.message
    assert "move its data directory aside" in error.message


def test_a_wal_deleted_after_kill_9_is_refused(tmp_path: Path) -> None:
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_dict(wallets(16), balance=10**12)))
    genesis = Genesis.load(genesis_path)
    db = tmp_path / "chain.sqlite"
    first = Writer(db, genesis_path, seed=1)
    try:
        first.wait_for("commit", 3)
    finally:
        first.kill()
    with Ledger.open(db, genesis) as led:  # a clean close folds the WAL into the file
        checkpointed = led.height
    # a second session commits two blocks (well under SQLite's automatic
    # checkpoint), so they are only in the -wal file when it is killed
    second = Writer(db, genesis_path, seed=2)
    try:
        committed = second.wait_for("commit", 2)
    finally:
        second.kill()
    assert committed >= checkpointed + 2
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    alone = sqlite3.connect(db)
    try:
        (kept,) = alone.execute("SELECT max(height) FROM blocks").fetchone()
    finally:
        alone.close()
    assert kept < committed, "the deleted WAL held no committed block: nothing to detect"
    error = refusal(db, genesis)
    assert error.code == "store_rolled_back"
    assert str(db) in error.message
    assert f"records block {committed} as committed" in error.message


def test_a_signing_state_older_than_the_marker_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "chain.db"
    genesis = Genesis.from_dict(genesis_dict(wallets(2), consensus="bft"))
    with Ledger.open(db, genesis) as led:
        led.store.save_signing_state(1, 0, 2, b"x")
        led.store.save_signing_state(1, 1, 3, b"y")
        marker = Path(str(db) + MARKER_SUFFIX).read_bytes()
        led.store.save_signing_state(1, 0, 2, b"x")  # what a rolled-back database holds
    Path(str(db) + MARKER_SUFFIX).write_bytes(marker)
    error = refusal(db, genesis)
    assert error.code == "signing_state_rolled_back"
    assert "[1, 1, 3]" in error.message and str(db) in error.message


def test_a_database_swapped_for_another_chains_is_refused(
    tmp_path: Path, genesis: Genesis, funded: list[Wallet]
) -> None:
    ours, theirs = tmp_path / "ours" / "chain.db", tmp_path / "theirs" / "chain.db"
    build_chain(ours, genesis, funded, blocks=5)
    other = Genesis.from_dict({**genesis.to_dict(), "timestamp_ms": genesis.timestamp_ms + 1})
    build_chain(theirs, other, funded, blocks=6)
    shutil.copy(theirs, ours)
    with pytest.raises(StoreError) as refused:
        Store.open(ours)
    assert refused.value.code == "store_mismatch"


def test_a_signing_state_ahead_of_the_head_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "chain.db"
    genesis = Genesis.from_dict(genesis_dict(wallets(2), consensus="bft"))
    with Ledger.open(db, genesis) as led:
        led.store.save_signing_state(7, 0, 1)
    error = refusal(db, genesis)
    assert error.code == "store_inconsistent"


def test_a_store_without_a_marker_opens_and_gets_one(
    tmp_path: Path, genesis: Genesis, funded: list[Wallet]
) -> None:
    db = tmp_path / "chain.db"
    height = build_chain(db, genesis, funded, blocks=3)
    marker = Path(str(db) + MARKER_SUFFIX)
    marker.unlink()  # as a store written before markers
    with Ledger.open(db, genesis) as led:
        assert led.height == height
    recorder = Marker(marker)
    recorder.open()
    try:
        recorded = recorder.load(str(db))
    finally:
        recorder.close()
    assert recorded is not None and recorded.height == height


def test_every_commit_is_synced(tmp_path: Path) -> None:
    with Store.open(tmp_path / "chain.db") as store:
        (mode,) = store._conn.execute("PRAGMA synchronous").fetchone()
    assert mode == 2  # FULL: in WAL mode, each commit fsyncs the WAL


def test_ordinet_run_on_a_damaged_store_exits_2_with_one_line(tmp_path: Path) -> None:
    homes = init_homes(tmp_path / "home", nodes=1, consensus="poa", accounts=4)
    config = load_config(homes.nodes[0].config_path, home=homes.nodes[0].path)
    build_chain(config.store_path, homes.genesis, homes.accounts)
    overwrite_middle_page(config.store_path)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "node", "run", "--home", str(homes.nodes[0].path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ordinet: error: ") and str(config.store_path) in lines[0]
    assert "damaged" in lines[0] and "Traceback" not in proc.stderr


def test_a_torn_newest_marker_record_falls_back_to_the_older_one(
    tmp_path: Path, genesis: Genesis, funded: list[Wallet]
) -> None:
    db = tmp_path / "chain.db"
    height = build_chain(db, genesis, funded, blocks=3)
    marker = Path(str(db) + MARKER_SUFFIX)
    raw = bytearray(marker.read_bytes())
    # two slots hold the last two records, a big-endian sequence number after
    # the 5-byte magic of each; tear the newer one
    seqs = [int.from_bytes(raw[at + 5 : at + 13], "big") for at in (0, 512)]
    newest = 0 if seqs[0] > seqs[1] else 512
    raw[newest + 20 : newest + 28] = b"\xff" * 8
    marker.write_bytes(bytes(raw))
    with Ledger.open(db, genesis) as led:  # the older record says less: still consistent
        assert led.height == height


def test_a_marker_with_no_intact_record_is_refused(
    tmp_path: Path, genesis: Genesis, funded: list[Wallet]
) -> None:
    db = tmp_path / "chain.db"
    build_chain(db, genesis, funded, blocks=3)
    Path(str(db) + MARKER_SUFFIX).write_bytes(b"\x00garbage" * 128)
    with pytest.raises(StoreError) as refused:
        Store.open(db)
    assert refused.value.code == "store_marker_corrupt"
    assert str(db) in refused.value.message


_NO_FREE_FDS = """
import os, random, resource, sys
sys.path.insert(0, {tests!r})
from ledgerkit import genesis_dict, grow, wallets
from node.genesis import Genesis
from node.ledger import Ledger
funded = wallets(4)
genesis = Genesis.from_dict(genesis_dict(funded, consensus="bft"))
with Ledger.open({db!r}, genesis) as led:
    grow(led, random.Random(1), funded)
    top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (top + 1, hard))
    held = []
    try:
        while len(held) < 10_000:  # fill every free descriptor below the limit
            held.append(os.dup(0))
    except OSError:
        pass
    else:
        sys.exit("the limit did not take")
    for h in range(2, 6):
        led.store.save_signing_state(h, 0, 1)
        grow(led, random.Random(h), funded)
    print(led.height)
"""


def test_commits_and_signing_need_no_new_file_descriptor(tmp_path: Path) -> None:
    """A node whose sockets used up its descriptors can still commit and sign
    (an attacker holding connections must not turn into a crashed validator)."""
    db = tmp_path / "chain.db"
    script = _NO_FREE_FDS.format(tests=str(Path(__file__).parent), db=str(db))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "5"
