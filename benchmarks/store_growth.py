"""How fast the store grows: file bytes per committed tx and undo rows per hour.

    python benchmarks/store_growth.py [--blocks N] [--txs-per-block T] [--json FILE]

Commits the same N blocks of T signed transfers (default 600 x 50: ten
minutes of a 50 tx/s chain at one block a second) through a ``Ledger`` on
disk, once per way of keeping undo history, in one run:

- ``keep-all``: undo rows for every block, never pruned: what every store
  did before undo pruning (a PoW ledger with an unreachable reorg depth);
- ``pow-100``: a PoW chain with the default ``pow_reorg_depth`` of 100;
- ``bft``: a BFT (or PoA) chain, whose blocks are final: no undo rows.

For each it prints the undo rows left, how fast the undo table grows (rows
per hour at one block a second, over the second half of the run), the
file size (database + WAL, after a checkpoint) and the bytes per committed
tx, over the whole run and over its second half (the steady state, once
pruning reuses the pages it freed). Nothing is
timed: the figures are sizes and counts, the same on any machine.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from node.genesis import Genesis
from node.ledger import DEFAULT_POW_REORG_DEPTH, Ledger
from node.types import Transaction
from node.wallet import Wallet

CHAIN = "growth"
SENDERS = 200
RECIPIENTS = 2000
BLOCK_INTERVAL_S = 1.0
MODES: dict[str, tuple[str, int]] = {
    "keep-all": ("pow", 10**15),
    f"pow-{DEFAULT_POW_REORG_DEPTH}": ("pow", DEFAULT_POW_REORG_DEPTH),
    "bft": ("bft", DEFAULT_POW_REORG_DEPTH),
}


def wallet(i: int) -> Wallet:
    return Wallet.from_seed(i.to_bytes(32, "big"))


def genesis(consensus: str, senders: Sequence[Wallet]) -> Genesis:
    return Genesis.from_dict(
        {
            "chain_id": CHAIN,
            "timestamp_ms": 1_700_000_000_000,
            "consensus": consensus,
            "balances": {w.address_hex: 10**15 for w in senders},
            "validators": [{"public_key": senders[0].address_hex, "power": 1}],
        }
    )


def workload(blocks: int, per_block: int) -> list[list[Transaction]]:
    """The same signed transfers for every mode (nonces kept here, not by a ledger)."""
    rnd = random.Random(11)
    senders = [wallet(i) for i in range(SENDERS)]
    recipients = [wallet(10_000 + i).address for i in range(RECIPIENTS)]
    nonces = [0] * SENDERS
    out = []
    for _ in range(blocks):
        txs = []
        for _ in range(per_block):
            s = rnd.randrange(SENDERS)
            txs.append(
                senders[s].transfer(
                    to=rnd.choice(recipients),
                    amount=rnd.randint(1, 1000),
                    fee=1,
                    nonce=nonces[s],
                    chain_id=CHAIN,
                )
            )
            nonces[s] += 1
        out.append(txs)
    return out


def file_bytes(path: Path) -> int:
    """Database + WAL after folding the WAL into the database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def undo_rows(ledger: Ledger) -> int:
    return int(ledger.store._conn.execute("SELECT count(*) FROM undo").fetchone()[0])


def run_mode(
    directory: Path, consensus: str, depth: int, blocks: list[list[Transaction]]
) -> dict[str, Any]:
    senders = [wallet(i) for i in range(SENDERS)]
    proposer = senders[0]
    path = directory / f"{consensus}-{depth}.db"
    half = len(blocks) // 2
    with Ledger.open(path, genesis(consensus, senders), pow_reorg_depth=depth) as ledger:
        base_bytes = file_bytes(path)
        half_bytes, half_rows = base_bytes, 0
        for n, txs in enumerate(blocks, start=1):
            block, refused = ledger.build_block(
                txs, proposer=proposer.address, timestamp_ms=ledger.head.timestamp_ms + 1000
            )
            assert not refused, refused[:1]
            ledger.commit_block(block.signed(proposer.seed))
            if n == half:
                half_bytes, half_rows = file_bytes(path), undo_rows(ledger)
        end_bytes, end_rows = file_bytes(path), undo_rows(ledger)
    total_txs = sum(len(b) for b in blocks)
    second_half_txs = sum(len(b) for b in blocks[half:])
    hours = (len(blocks) - half) * BLOCK_INTERVAL_S / 3600
    return {
        "undo_rows_kept": end_rows,
        # the steady state: how fast the undo table grows once past the depth
        "undo_rows_per_hour": round((end_rows - half_rows) / hours),
        "file_bytes": end_bytes,
        "bytes_per_tx": round((end_bytes - base_bytes) / total_txs, 1),
        "bytes_per_tx_second_half": round((end_bytes - half_bytes) / second_half_txs, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=600)
    parser.add_argument("--txs-per-block", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    blocks = workload(args.blocks, args.txs_per_block)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ordinet-growth-") as tmp:
        for name, (consensus, depth) in MODES.items():
            results[name] = run_mode(Path(tmp), consensus, depth, blocks)
            r = results[name]
            print(
                f"{name:>9}: undo rows kept {r['undo_rows_kept']:>8}, growing "
                f"{r['undo_rows_per_hour']:>8}/h; file {r['file_bytes'] / 1e6:7.2f} MB, "
                f"{r['bytes_per_tx']:6.1f} B/tx ({r['bytes_per_tx_second_half']:6.1f} B/tx "
                "in the second half)",
                flush=True,
            )
    summary = {
        "blocks": args.blocks,
        "txs_per_block": args.txs_per_block,
        "block_interval_s": BLOCK_INTERVAL_S,
        "modes": results,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
