"""Crash safety: kill -9 at random moments never leaves a partial block.

A child process (crash_writer.py) commits blocks of transfers to a SQLite
store in a loop; this test SIGKILLs it at random instants (half of them
aimed at the store write itself), then reopens the store and checks that
the head block, its tx index entries, the accounts and the head's state
root agree, that nothing of a later block was left behind, and that every
block the child reported as committed survived. The chain is a PoW one
with a short reorg depth, so every block also prunes undo history: the
pruning must be part of the block's transaction (the revert floor and the
undo rows always agree with the head).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ledgerkit import genesis_dict, wallets

from node.genesis import Genesis
from node.ledger import Ledger
from node.state import State
from node.store import Store

KILLS = 20
DEPTH = 3  # pow_reorg_depth of the writer's chain
DEADLINE_S = 60.0  # generous: only a hung child gets near it
WRITER = Path(__file__).resolve().parent / "crash_writer.py"
REPO = Path(__file__).resolve().parents[2]


class Writer:
    """The child process and the progress lines it prints."""

    def __init__(self, db: Path, genesis_path: Path, seed: int) -> None:
        path = os.pathsep.join(p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p)
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(genesis_path), str(seed), str(DEPTH)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": path},
        )
        self.deadline = time.monotonic() + DEADLINE_S
        self.committed: int | None = None  # last height reported committed

    def next_line(self) -> tuple[str, int]:
        stdout = self.proc.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], max(self.deadline - time.monotonic(), 0))
        assert ready, "the writer made no progress before the deadline"
        line = stdout.readline()
        assert line, f"the writer exited early (code {self.proc.poll()})"
        word, height = line.split()
        if word in ("open", "commit"):
            self.committed = int(height)
        return word, int(height)

    def wait_for(self, word: str, count: int) -> int:
        seen = 0
        while True:
            got, height = self.next_line()
            if got == word:
                seen += 1
                if seen == count:
                    return height

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        assert self.proc.returncode == -signal.SIGKILL
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def check_store(path: Path, genesis: Genesis, committed: int) -> int:
    """The store holds one consistent chain whose head is at least ``committed``."""
    with Store.open(path) as store:
        head = store.head()
        assert head is not None and head.height >= committed
        conn = store._conn  # a raw look for leftovers of a partial block
        count, top = conn.execute("SELECT count(*), max(height) FROM blocks").fetchone()
        assert (count, top) == (head.height + 1, head.height)
        for table in ("txs", "undo"):
            above = conn.execute(f"SELECT count(*) FROM {table} WHERE height > ?", (head.height,))
            assert above.fetchone() == (0,), f"{table} rows above the head"
        # undo history exactly DEPTH deep: pruned with the block that moved the floor
        floor = store.revert_floor()
        assert floor == max(0, head.height - DEPTH)
        kept = conn.execute("SELECT min(height), count(DISTINCT height) FROM undo").fetchone()
        assert kept[0] is None or kept[0] > floor
        assert kept[1] == min(head.height, DEPTH)  # every kept block touched accounts
        block = store.load_block(head.height)
        assert block is not None and block.header == head and block.check_body() is None
        in_index = conn.execute("SELECT count(*) FROM txs WHERE height = ?", (head.height,))
        assert in_index.fetchone() == (head.tx_count,)
        for index, tx in enumerate(block.txs):
            assert store.load_tx(tx.id) == (tx, head.height, index)
        accounts = store.load_accounts()
        assert State(genesis.chain_id, accounts).root() == head.state_root
        assert sum(a.balance for a in accounts.values()) == sum(genesis.balances.values())
        return head.height


def test_kill_9_never_leaves_a_partial_block(tmp_path: Path) -> None:
    rnd = random.Random(20240601)
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_dict(wallets(16), balance=10**12, consensus="pow")))
    genesis = Genesis.load(genesis_path)
    db = tmp_path / "chain.sqlite"
    committed = 0
    outcomes: Counter[str] = Counter()
    for kill in range(KILLS):
        writer = Writer(db, genesis_path, seed=kill)
        try:
            opened = writer.wait_for("open", 1)
            assert opened >= committed, "a block reported committed was lost"
            if kill % 2 == 0:
                # aim at the store write: the child is inside commit_block
                saving = writer.wait_for("save", rnd.randint(1, 3))
                time.sleep(rnd.uniform(0, 0.004))
            else:
                writer.wait_for("commit", rnd.randint(1, 3))
                saving = None
                time.sleep(rnd.uniform(0, 0.05))
        finally:
            writer.kill()
        committed = writer.committed if writer.committed is not None else committed
        head = check_store(db, genesis, committed)
        if saving is not None:
            outcomes[
                "killed during write, kept old head" if head < saving else "write finished"
            ] += 1
    print(f"aimed kills: {dict(outcomes)}; final height {head}")
    assert head >= KILLS
    # the whole surviving chain replays from genesis to the same state roots
    with Ledger.open(db, genesis) as ledger:
        state = genesis.state()
        for block in ledger.store.load_blocks(1, ledger.height):
            state.apply(state.execute(block.txs, block.header.proposer))
            assert state.root() == block.header.state_root
        assert state.root() == ledger.state.root()
