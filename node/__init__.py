"""Ordinet: a lightweight blockchain node for people who experiment with blockchains.

The Python SDK::

    from node import Wallet, Transaction
    w = Wallet.generate()
    tx = w.transfer(to=addr, amount=5, fee=2, nonce=0, chain_id="ordinet-dev")
    assert Transaction.decode(tx.encode()) == tx and tx.verify()
"""

from node.client import Client
from node.types import Block, BlockHeader, Transaction
from node.wallet import Wallet

__version__ = "0.1.0"

__all__ = ["Block", "BlockHeader", "Client", "Transaction", "Wallet", "__version__"]
