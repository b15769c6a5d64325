"""The simulated users: who sends which signed transaction, when, to which node.

A source yields ``Submission``s in time order: a signed transaction, the
simulated time a client sends it, and the client's key (which node it
talks to is the simulator's choice, see ``Simulation``). Two sources:

- ``Transfers``, the built-in users: a few genesis-funded wallets taking
  turns paying each other, ``txs_per_block`` per block interval, for as
  long as the run lasts. Wallet ``i`` pays wallet ``i + 1``; its nonces
  count up from 0.
- ``TraceTxs``: a labelled trace (a ``configs/workloads/*.toml`` draw or a
  trace file, see node/research), one signed transfer per row, sent at the
  row's arrival time, every sender funded at genesis. ``row`` ties each
  transaction back to its labels, for the scheduling metrics.

Every transaction is really signed (by a key derived from the sender's
name), so every node checks real signatures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from node import crypto
from node.research.replay import build_transactions
from node.research.trace import Trace
from node.types import Transaction
from node.wallet import Wallet

WALLET_BALANCE = 10**12


@dataclass(frozen=True, slots=True)
class Submission:
    at_ms: int
    client: int  # the sending client (a sender's index): picks its node
    tx: Transaction
    row: int = -1  # the trace row, -1 for the built-in users


def sender_key(name: str) -> tuple[bytes, bytes]:
    """The (seed, address) of a simulated sender, derived from its name."""
    seed, address = crypto.keypair_from_seed(crypto.sha256(b"ordinet/sim/sender/" + name.encode()))
    return seed, address


class Transfers:
    """The built-in users: wallets paying each other at a steady rate."""

    def __init__(
        self, chain_id: str, wallets: int, txs_per_block: int, block_interval_ms: int
    ) -> None:
        self.chain_id = chain_id
        self.wallets = [
            Wallet.from_seed(crypto.sha256(b"ordinet/sim/wallet" + i.to_bytes(4, "big")))
            for i in range(wallets)
        ]
        self.txs_per_block = txs_per_block
        self.block_interval_ms = block_interval_ms

    def balances(self) -> dict[bytes, int]:
        return {w.address: WALLET_BALANCE for w in self.wallets}

    def submissions(self) -> Iterator[Submission]:
        if not self.wallets or self.txs_per_block <= 0:
            return
        n = len(self.wallets)
        k = 0
        while True:
            index, nonce = k % n, k // n
            wallet = self.wallets[index]
            tx = wallet.transfer(
                to=self.wallets[(index + 1) % n].address,
                amount=1 + nonce % 7,
                fee=1,
                nonce=nonce,
                chain_id=self.chain_id,
            )
            yield Submission(k * self.block_interval_ms // self.txs_per_block, index, tx)
            k += 1


class TraceTxs:
    """A trace's rows as signed transactions, sent at their arrival times."""

    def __init__(self, trace: Trace, chain_id: str) -> None:
        self.trace = trace.sorted_by_arrival()
        self.txs = build_transactions(self.trace, chain_id=chain_id, keys=sender_key)
        names = list(dict.fromkeys(self.trace.sender))
        self._client = {name: i for i, name in enumerate(names)}

    def balances(self) -> dict[bytes, int]:
        return {tx.sender: WALLET_BALANCE for tx in self.txs}

    def submissions(self) -> Iterator[Submission]:
        arrival_ms = (self.trace.arrival_s * 1000).round().astype("int64").tolist()
        for row, (at_ms, name, tx) in enumerate(
            zip(arrival_ms, self.trace.sender, self.txs, strict=True)
        ):
            yield Submission(max(0, at_ms), self._client[name], tx, row)


TxSource = Transfers | TraceTxs
