"""The mempool: transactions waiting for a block.

Modelled on geth's txpool and Bitcoin Core's mempool: per-sender nonce
chains split into pending (executable) and queued (behind a nonce gap),
caps on count and bytes (global and per sender) with eviction of the
lowest-priority tail, fee-bump replacement, expiry, de-duplication, a
re-check after every block, and block candidates chosen by the
scheduling policy's cached scores. Pure logic: no I/O, no clock.

- ``pool``: the Mempool and every admission and eviction rule
- ``sender``: one sender's nonce chain and its pending/queued split
- ``selection``: the block-candidate heap walk and the check of a
  policy's own ordering
- ``config``: MempoolConfig, AdmitResult and the refusal codes
"""

from node.mempool.config import AdmitResult, MempoolConfig, Refusal
from node.mempool.pool import AccountReader, Mempool

__all__ = ["AccountReader", "AdmitResult", "Mempool", "MempoolConfig", "Refusal"]
