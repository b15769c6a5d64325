"""Child process of the crash-safety test: commit blocks until killed.

    python crash_writer.py DB GENESIS_JSON SEED [POW_REORG_DEPTH]

Opens (or resumes) the ledger at DB (prints ``open H``), then forever:
builds, signs and validates a block of random transfers with payloads,
prints ``save H``, commits it (the store write), and prints ``commit H``
once ``commit_block`` has returned. Lines are flushed at once, so the
parent can aim its SIGKILL at the store write or anywhere else.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledgerkit import random_transfers, wallets

from node.genesis import Genesis
from node.ledger import DEFAULT_POW_REORG_DEPTH, Ledger

FUNDED = 16
TXS_PER_BLOCK = (50, 300)
MAX_DATA = 1024  # big payloads make the store write a wide target


def main(db: str, genesis_path: str, seed: int, depth: int) -> None:
    rnd = random.Random(seed)
    funded = wallets(FUNDED)
    ledger = Ledger.open(db, Genesis.load(genesis_path), pow_reorg_depth=depth)
    print(f"open {ledger.height}", flush=True)
    while True:
        count = rnd.randint(*TXS_PER_BLOCK)
        txs = random_transfers(rnd, ledger.state, funded, count, max_data=MAX_DATA)
        proposer = rnd.choice(funded)
        block, _ = ledger.build_block(
            txs, proposer=proposer.address, timestamp_ms=ledger.head.timestamp_ms + 1
        )
        block = block.signed(proposer.seed)
        diff = ledger.validate_block(block)
        print(f"save {block.height}", flush=True)
        ledger.commit_block(block, diff)
        print(f"commit {ledger.height}", flush=True)


if __name__ == "__main__":
    depth = int(sys.argv[4]) if len(sys.argv) > 4 else DEFAULT_POW_REORG_DEPTH
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), depth)
