"""Helpers for the ledger tests: deterministic keys, genesis files, transfers.

A plain module (not fixtures) so Hypothesis tests and the crash-test child
process can use it too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from node.genesis import Genesis
from node.ledger import Ledger
from node.state import State
from node.types import Block, Transaction
from node.wallet import Wallet

CHAIN = "ledger-test"


@cache
def wallet(i: int) -> Wallet:
    """The i-th test wallet (same keys in every process)."""
    return Wallet.from_seed(i.to_bytes(32, "big"))


def wallets(n: int) -> list[Wallet]:
    return [wallet(i) for i in range(n)]


def genesis_dict(
    funded: Sequence[Wallet],
    *,
    balance: int = 1_000_000,
    consensus: str = "poa",
    params: Mapping[str, Any] | None = None,
    chain_id: str = CHAIN,
) -> dict[str, Any]:
    return {
        "chain_id": chain_id,
        "timestamp_ms": 1_700_000_000_000,
        "consensus": consensus,
        "balances": {w.address_hex: balance for w in funded},
        "validators": [{"public_key": funded[0].address_hex, "power": 1, "name": "v0"}],
        "params": dict(params or {}),
    }


def make_genesis(funded: Sequence[Wallet], **kwargs: Any) -> Genesis:
    return Genesis.from_dict(genesis_dict(funded, **kwargs))


def transfer(
    sender: Wallet,
    to: Wallet | bytes,
    *,
    amount: int,
    fee: int = 1,
    nonce: int,
    chain_id: str = CHAIN,
    data: bytes = b"",
) -> Transaction:
    recipient = to.address if isinstance(to, Wallet) else to
    return sender.transfer(
        to=recipient, amount=amount, fee=fee, nonce=nonce, chain_id=chain_id, data=data
    )


def unsigned(
    sender: bytes,
    recipient: bytes,
    *,
    amount: int,
    fee: int = 1,
    nonce: int,
    chain_id: str = CHAIN,
) -> Transaction:
    """A transfer with no signature: the state never checks signatures."""
    return Transaction(
        chain_id=chain_id, sender=sender, nonce=nonce, recipient=recipient, amount=amount, fee=fee
    )


def addr(i: int) -> bytes:
    """A 32-byte address that is not a test wallet (for state-only tests)."""
    return b"\xa0" + i.to_bytes(31, "big")


def random_transfers(
    rnd: random.Random, state: State, funded: Sequence[Wallet], count: int, *, max_data: int = 0
) -> list[Transaction]:
    """``count`` valid signed transfers among ``funded``, in nonce order, each
    with a payload of up to ``max_data`` bytes."""
    nonces: dict[bytes, int] = {}
    txs = []
    for _ in range(count):
        sender = rnd.choice(funded)
        recipient = rnd.choice([w for w in funded if w is not sender])
        nonce = nonces.get(sender.address, state.account(sender.address).nonce)
        nonces[sender.address] = nonce + 1
        txs.append(
            transfer(
                sender,
                recipient,
                amount=rnd.randint(0, 1000),
                fee=rnd.randint(0, 5),
                nonce=nonce,
                chain_id=state.chain_id,
                data=rnd.randbytes(rnd.randint(0, max_data)) if max_data else b"",
            )
        )
    return txs


def grow(ledger: Ledger, rnd: random.Random, funded: Sequence[Wallet], max_txs: int = 6) -> Block:
    """Build, sign and commit one block of random valid transfers; return it."""
    txs = random_transfers(rnd, ledger.state, funded, rnd.randint(0, max_txs))
    proposer = rnd.choice(funded)
    block, refused = ledger.build_block(
        txs, proposer=proposer.address, timestamp_ms=ledger.head.timestamp_ms + 1000
    )
    assert not refused and len(block.txs) == len(txs)
    block = block.signed(proposer.seed)
    ledger.commit_block(block)
    return block
