"""Shared helpers of the mempool tests: a model of the committed state and
a few deterministic wallets (real Ed25519 keys, real signatures)."""

from __future__ import annotations

from functools import lru_cache

from node.mempool import Mempool, MempoolConfig
from node.scheduling.policy import Policy
from node.types import Transaction
from node.wallet import Wallet

CHAIN_ID = "mempool-test"
RICH = 10**12

#: wallets by a small index; seeds are fixed so failures replay
WALLETS = [Wallet.from_seed(bytes([i + 1]) * 32) for i in range(8)]
RECIPIENT = Wallet.from_seed(bytes([200]) * 32).address


class Accounts:
    """The committed state as the pool sees it: address -> (balance, next nonce)."""

    def __init__(self, balance: int = RICH) -> None:
        self.table = {w.address: (balance, 0) for w in WALLETS}
        self.reads = 0

    def __call__(self, address: bytes) -> tuple[int, int]:
        self.reads += 1
        return self.table.get(address, (0, 0))

    def set(self, wallet: Wallet, *, balance: int | None = None, nonce: int | None = None) -> None:
        old_balance, old_nonce = self.table.get(wallet.address, (0, 0))
        self.table[wallet.address] = (
            old_balance if balance is None else balance,
            old_nonce if nonce is None else nonce,
        )

    def apply(self, txs: list[Transaction]) -> None:
        """Execute a block's txs as the ledger would (nonce +1, pay amount + fee)."""
        for tx in txs:
            balance, nonce = self.table[tx.sender]
            assert tx.nonce == nonce, "the pool proposed a tx out of nonce order"
            assert balance >= tx.amount + tx.fee, "the pool proposed an unaffordable tx"
            self.table[tx.sender] = (balance - tx.amount - tx.fee, nonce + 1)


# Signatures are deterministic and txs immutable: a repeated tx is shared
@lru_cache(maxsize=100_000)
def transfer(
    wallet: Wallet,
    nonce: int,
    fee: int = 100,
    *,
    amount: int = 1,
    data: bytes = b"",
    chain_id: str = CHAIN_ID,
) -> Transaction:
    return wallet.transfer(
        to=RECIPIENT, amount=amount, fee=fee, nonce=nonce, chain_id=chain_id, data=data
    )


def make_pool(accounts: Accounts, policy: Policy | None = None, **config: int | float) -> Mempool:
    return Mempool(
        chain_id=CHAIN_ID, accounts=accounts, policy=policy, config=MempoolConfig(**config)
    )


def codes(results: list) -> list[str | None]:
    return [r.code for r in results]
