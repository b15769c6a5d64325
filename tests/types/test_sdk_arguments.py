"""The SDK's argument errors: a wrong type is a TypeError, a wrong value a
ValueError, each naming the argument and raised at the call (before any
encoding or request), never an AttributeError from deep inside the codec."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node import Client, Transaction, Wallet
from node.client import AsyncClient

ALICE = Wallet.from_seed(bytes(range(32)))
BOB = Wallet.from_seed(bytes(range(1, 33)))
# Nothing listens on port 9 (discard) here: a call that reaches the network
# raises NodeUnreachable, which is not what any row below expects.
DEAD = "http://127.0.0.1:9"


def transfer(**changes: Any) -> Transaction:
    args: dict[str, Any] = {
        "to": BOB.address,
        "amount": 5,
        "fee": 1,
        "nonce": 0,
        "chain_id": "ordinet-dev",
    }
    args.update(changes)
    return ALICE.transfer(**args)


def transaction(**changes: Any) -> Transaction:
    args: dict[str, Any] = {
        "chain_id": "ordinet-dev",
        "sender": ALICE.address,
        "nonce": 0,
        "recipient": BOB.address,
        "amount": 5,
        "fee": 1,
    }
    args.update(changes)
    return Transaction(**args)


def client_call(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: getattr(Client(DEAD, timeout=1.0), name)(*args, **kwargs)


def async_call(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    async def call() -> Any:
        async with AsyncClient(DEAD, timeout=1.0) as c:
            return await getattr(c, name)(*args, **kwargs)

    return lambda: asyncio.run(call())


NAN = float("nan")
U64 = 2**64
ID = bytes(32)

BAD_CALLS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # Wallet.transfer
    ("transfer chain_id int", lambda: transfer(chain_id=5), TypeError, "chain_id must be a str"),
    ("transfer chain_id bytes", lambda: transfer(chain_id=b"c"), TypeError, "chain_id"),
    ("transfer chain_id None", lambda: transfer(chain_id=None), TypeError, "chain_id"),
    ("transfer chain_id empty", lambda: transfer(chain_id=""), ValueError, "chain_id"),
    ("transfer chain_id non-ascii", lambda: transfer(chain_id="chaîne"), ValueError, "chain_id"),
    ("transfer chain_id too long", lambda: transfer(chain_id="c" * 33), ValueError, "chain_id"),
    ("transfer amount -1", lambda: transfer(amount=-1), ValueError, "amount"),
    ("transfer amount 2^64", lambda: transfer(amount=U64), ValueError, "amount"),
    ("transfer amount float", lambda: transfer(amount=5.0), TypeError, "amount"),
    ("transfer amount bool", lambda: transfer(amount=True), TypeError, "amount"),
    ("transfer amount str", lambda: transfer(amount="5"), TypeError, "amount"),
    ("transfer fee -1", lambda: transfer(fee=-1), ValueError, "fee"),
    ("transfer fee 2^64", lambda: transfer(fee=U64), ValueError, "fee"),
    ("transfer nonce -1", lambda: transfer(nonce=-1), ValueError, "nonce"),
    ("transfer nonce None", lambda: transfer(nonce=None), TypeError, "nonce"),
    ("transfer to 31 bytes", lambda: transfer(to=b"x" * 31), ValueError, "to"),
    ("transfer to 62 hex", lambda: transfer(to="ab" * 31), ValueError, "to"),
    ("transfer to not hex", lambda: transfer(to="zz" * 32), ValueError, "to"),
    ("transfer to int", lambda: transfer(to=5), TypeError, "to"),
    ("transfer to None", lambda: transfer(to=None), TypeError, "to"),
    ("transfer data str", lambda: transfer(data="hi"), TypeError, "data"),
    ("transfer data oversize", lambda: transfer(data=b"x" * 1025), ValueError, "data"),
    # Transaction
    ("Transaction chain_id int", lambda: transaction(chain_id=7), TypeError, "chain_id"),
    ("Transaction sender hex", lambda: transaction(sender="ab" * 32), TypeError, "sender"),
    ("Transaction recipient short", lambda: transaction(recipient=b"x"), ValueError, "recipient"),
    ("Transaction signature short", lambda: transaction(signature=b"x"), ValueError, "signature"),
    ("Transaction nonce 2^64", lambda: transaction(nonce=U64), ValueError, "nonce"),
    ("Transaction fee float", lambda: transaction(fee=1.5), TypeError, "fee"),
    ("Transaction data list", lambda: transaction(data=[1]), TypeError, "data"),
    # Wallet
    ("Wallet.from_seed str", lambda: Wallet.from_seed("ab" * 16), TypeError, "seed"),
    ("Wallet.from_seed short", lambda: Wallet.from_seed(b"x" * 5), ValueError, "seed"),
    ("Wallet seed int", lambda: Wallet(5), TypeError, "seed"),
    ("Wallet.load int", lambda: Wallet.load(5), TypeError, "path"),
    ("Wallet.load None", lambda: Wallet.load(None), TypeError, "path"),
    ("Wallet.save int", lambda: ALICE.save(5), TypeError, "path"),
    ("Wallet.sign str", lambda: ALICE.sign("hello"), TypeError, "message"),
    # Client
    ("Client url int", lambda: Client(5), TypeError, "url"),
    ("Client url no scheme", lambda: Client("localhost:80"), ValueError, "url"),
    ("Client url bad port", lambda: Client("http://127.0.0.1:99999"), ValueError, "url"),
    ("Client timeout str", lambda: Client(DEAD, timeout="5"), TypeError, "timeout"),
    ("Client timeout -1", lambda: Client(DEAD, timeout=-1), ValueError, "timeout"),
    ("Client timeout nan", lambda: Client(DEAD, timeout=NAN), ValueError, "timeout"),
    ("Client batch_size 0", lambda: Client(DEAD, batch_size=0), ValueError, "batch_size"),
    ("Client batch_size float", lambda: Client(DEAD, batch_size=2.5), TypeError, "batch_size"),
    ("block -1", client_call("block", -1), ValueError, "height"),
    ("block 2^64", client_call("block", U64), ValueError, "height"),
    ("block str", client_call("block", "3"), ValueError, "height"),
    ("account int", client_call("account", 5), TypeError, "address"),
    ("account short hex", client_call("account", "abcd"), ValueError, "address"),
    ("tx short", client_call("tx", b"x"), ValueError, "tx id"),
    ("mempool -1", client_call("mempool", -1), ValueError, "limit"),
    ("mempool str", client_call("mempool", "10"), TypeError, "limit"),
    ("submit one tx", client_call("submit", transfer()), TypeError, "txs"),
    ("submit a str", client_call("submit", "abcd"), TypeError, "txs"),
    ("submit an int", client_call("submit", [5]), TypeError, "txs[0]"),
    ("next_nonce int", client_call("next_nonce", 5), TypeError, "address"),
    ("wait_for_tx timeout str", client_call("wait_for_tx", bytes(32), "1"), TypeError, "timeout_s"),
    (
        "wait_for_tx timeout nan",
        client_call("wait_for_tx", bytes(32), NAN),
        ValueError,
        "timeout_s",
    ),
    ("wait_for_tx poll 0", client_call("wait_for_tx", bytes(32), poll_s=0), ValueError, "poll_s"),
    ("wait_for_height str", client_call("wait_for_height", "3"), TypeError, "height"),
    ("wait_for_height -1", client_call("wait_for_height", -1), ValueError, "height"),
    ("admin_delay -1", client_call("admin_delay", -1), ValueError, "delay_ms"),
    ("admin_delay float", client_call("admin_delay", 1.5), TypeError, "delay_ms"),
    ("admin_partition a str", client_call("admin_partition", "ab" * 32), TypeError, "peers"),
    # AsyncClient: the same checks
    ("AsyncClient url int", lambda: AsyncClient(5), TypeError, "url"),
    ("AsyncClient timeout str", lambda: AsyncClient(DEAD, timeout="5"), TypeError, "timeout"),
    ("async block -1", async_call("block", -1), ValueError, "height"),
    ("async mempool -1", async_call("mempool", -1), ValueError, "limit"),
    ("async submit one tx", async_call("submit", transfer()), TypeError, "txs"),
    ("async wait_for_height str", async_call("wait_for_height", "3"), TypeError, "height"),
    ("async admin_delay -1", async_call("admin_delay", -1), ValueError, "delay_ms"),
]


@pytest.mark.parametrize(
    ("call", "error", "names"), [row[1:] for row in BAD_CALLS], ids=[row[0] for row in BAD_CALLS]
)
def test_a_bad_argument_is_a_type_or_value_error_naming_it(
    call: Callable[[], Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(Exception) as info:
        call()
    assert type(info.value) is error or (
        isinstance(info.value, error) and not isinstance(info.value, AttributeError)
    ), f"{type(info.value).__name__}: {info.value}"
    assert names in str(info.value), str(info.value)


def test_good_arguments_still_work(tmp_path: Path) -> None:
    tx = transfer(to=BOB.address_hex, data=bytearray(b"hi"))
    assert tx.recipient == BOB.address and tx.verify()
    assert transfer(to="0x" + BOB.address_hex).recipient == BOB.address
    assert transfer(amount=2**64 - 1, fee=0).amount == 2**64 - 1
    path = tmp_path / "w.key"
    ALICE.save(os.fspath(path))
    assert Wallet.load(path).address == ALICE.address
    client = Client(DEAD + "/", timeout=2, batch_size=1)
    assert client.url == DEAD
