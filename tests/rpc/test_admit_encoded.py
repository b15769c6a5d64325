"""admit_encoded: one answer per raw encoding, in order, with the code the
mempool's rulebook gives first, whichever step checked the signature."""

from __future__ import annotations

from node.mempool import Mempool
from node.mempool.config import Refusal
from node.rpc.service import admit_encoded
from node.types import Transaction
from node.wallet import Wallet

CHAIN_ID = "admit-test"
ALICE = Wallet.from_seed(bytes([1]) * 32)
BOB = Wallet.from_seed(bytes([2]) * 32)


def pool() -> Mempool:
    return Mempool(chain_id=CHAIN_ID, accounts=lambda address: (10**12, 0))


def admitter(mempool: Mempool):  # type: ignore[no-untyped-def]
    return lambda txs: mempool.admit(txs, 0.0)


def transfer(wallet: Wallet, nonce: int, *, chain_id: str = CHAIN_ID) -> Transaction:
    return wallet.transfer(to=BOB.address, amount=1, fee=100, nonce=nonce, chain_id=chain_id)


def forged(tx: Transaction) -> Transaction:
    """The same tx with its signature's last byte changed."""
    return tx.replace(signature=tx.signature[:-1] + bytes([tx.signature[-1] ^ 1]))


def test_results_follow_the_raws_in_order() -> None:
    good = [transfer(ALICE, n) for n in range(3)]
    raws = [good[0].encode(), b"\x01garbage", forged(good[1]).encode(), good[1].encode()]
    results, accepted = admit_encoded(admitter(pool()), raws)
    assert [r.accepted for r in results] == [True, False, False, True]
    assert results[1].id is None and results[1].code == "oversize"  # a 103-byte chain id
    assert results[2].code == Refusal.INVALID_SIGNATURE
    assert [r.id for r in results[::3]] == [good[0].id, good[1].id]
    assert accepted == [good[0], good[1]]


def test_a_forged_tx_gets_the_rulebooks_first_refusal() -> None:
    mempool = pool()
    pooled = transfer(ALICE, 0)
    admit_encoded(admitter(mempool), [pooled.encode()])
    other_chain = forged(transfer(ALICE, 1, chain_id="elsewhere"))
    results, accepted = admit_encoded(
        admitter(mempool), [other_chain.encode(), forged(transfer(ALICE, 1)).encode()]
    )
    assert [r.code for r in results] == [Refusal.WRONG_CHAIN_ID, Refusal.INVALID_SIGNATURE]
    assert accepted == []
    assert len(mempool) == 1


def test_a_batch_of_only_undecodable_raws() -> None:
    results, accepted = admit_encoded(admitter(pool()), [b"", b"\x02"])
    assert [r.code for r in results] == ["truncated", "unknown_version"]
    assert accepted == []
