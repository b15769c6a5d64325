"""The simulated users: a few genesis-funded wallets that keep paying each other.

Blocks in the simulator stay small on purpose (a few transactions) but
real: every transaction is signed, checked and executed by the real
ledger. Wallet ``i`` always pays wallet ``i + 1``, so the transaction with a
given (sender, nonce) is the same on every node; each is signed once and
shared. A node's candidates are each wallet's next transaction after its
own state: a transaction reverted by a PoW reorg is therefore proposed
again without any bookkeeping.
"""

from __future__ import annotations

from node import crypto
from node.ledger import Ledger
from node.types import Transaction
from node.wallet import Wallet

WALLET_BALANCE = 10**12


class Workload:
    def __init__(self, chain_id: str, wallets: int, txs_per_block: int) -> None:
        self.chain_id = chain_id
        self.wallets = [
            Wallet.from_seed(crypto.sha256(b"ordinet/sim/wallet" + i.to_bytes(4, "big")))
            for i in range(wallets)
        ]
        self.txs_per_block = txs_per_block
        self._signed: dict[tuple[int, int], Transaction] = {}
        self._turn = 0

    def balances(self) -> dict[bytes, int]:
        return {w.address: WALLET_BALANCE for w in self.wallets}

    def tx(self, index: int, nonce: int) -> Transaction:
        key = (index, nonce)
        tx = self._signed.get(key)
        if tx is None:
            wallet = self.wallets[index]
            recipient = self.wallets[(index + 1) % len(self.wallets)].address
            tx = wallet.transfer(
                to=recipient, amount=1 + nonce % 7, fee=1, nonce=nonce, chain_id=self.chain_id
            )
            self._signed[key] = tx
        return tx

    def candidates(self, ledger: Ledger) -> list[Transaction]:
        """The next ``txs_per_block`` transactions, from wallets in turn."""
        if not self.wallets or self.txs_per_block <= 0:
            return []
        out = []
        n = len(self.wallets)
        for k in range(min(self.txs_per_block, n)):
            index = (ledger.height + k) % n
            wallet = self.wallets[index]
            out.append(self.tx(index, ledger.account(wallet.address).nonce))
        return out
