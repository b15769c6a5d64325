"""An attacker against real node processes: a P2P client with a key of its
own that speaks the real handshake, then sends what it likes and reads
nothing; and a loader that gives a node a chain of big blocks.

Used by the attack tests of this folder and by benchmarks/attack_get_blocks.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from node import crypto
from node.client import Client
from node.p2p import handshake as hs
from node.p2p.messages import (
    CHALLENGE_SIZE,
    PROTOCOL_VERSION,
    Auth,
    Hello,
    Message,
    decode_frame,
    encode_frame,
)
from node.types import MAX_TX_DATA
from node.wallet import Wallet


class Attacker:
    """One authenticated websocket to a node's P2P port, with a fresh key.

    ``listen_port`` is the listen address it claims in its Hello (any port:
    nobody checks a claim). After ``connect`` it never reads unless told to:
    aiohttp stops reading the socket once its small buffer is full, so the
    node's writes to it back up exactly as to a peer that does not read.
    """

    def __init__(
        self,
        p2p_port: int,
        *,
        chain_id: str,
        genesis_hash: bytes,
        listen_port: int | None = None,
    ) -> None:
        self.p2p_port = p2p_port
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self.seed, self.node_id = crypto.keypair_from_seed(os.urandom(32))
        self.listen_port = listen_port or 1024 + int.from_bytes(self.node_id[:2], "big") % 60_000
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    @classmethod
    def of(cls, client: Client, p2p_port: int, **options: Any) -> Attacker:
        """An attacker on the network of the node behind ``client``."""
        status = client.status()
        return cls(
            p2p_port,
            chain_id=status["chain_id"],
            genesis_hash=bytes.fromhex(status["genesis_hash"]),
            **options,
        )

    async def connect(self) -> Hello:
        """The real handshake, signed with this attacker's own key."""
        self.session = aiohttp.ClientSession()
        url = f"http://127.0.0.1:{self.p2p_port}/p2p"
        self.ws = ws = await self.session.ws_connect(url, max_msg_size=0, autoping=False)
        mine = Hello(
            protocol_version=PROTOCOL_VERSION,
            chain_id=self.chain_id,
            genesis_hash=self.genesis_hash,
            node_id=self.node_id,
            listen_host="127.0.0.1",
            listen_port=self.listen_port,
            height=0,
            head_hash=bytes(32),
            challenge=os.urandom(CHALLENGE_SIZE),
        )
        await ws.send_bytes(encode_frame(mine))
        theirs = await self._receive(Hello)
        assert isinstance(theirs, Hello)
        await ws.send_bytes(encode_frame(Auth(hs.sign_auth(self.seed, mine, theirs))))
        auth = await self._receive(Auth)
        assert isinstance(auth, Auth) and hs.verify_auth(auth.signature, mine, theirs)
        return theirs

    async def _receive(self, kind: type[Message]) -> Message:
        assert self.ws is not None
        msg = await self.ws.receive(timeout=30)
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"the node closed the handshake: {msg.type} {msg.extra}")
        frame = decode_frame(msg.data)
        assert isinstance(frame.msg, kind), frame.msg
        return frame.msg

    async def send(self, data: bytes) -> None:
        assert self.ws is not None
        await self.ws.send_bytes(data)

    async def send_frame(self, msg: Message, request_id: int | None = None) -> None:
        await self.send(encode_frame(msg, request_id))

    async def closed_by_node(self) -> str:
        """Read (and discard) until the node closes; its reason."""
        assert self.ws is not None
        while True:
            msg = await self.ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return str(msg.extra or "closed")
            if msg.type == aiohttp.WSMsgType.ERROR:
                return "error"

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()


def load_big_blocks(
    client: Client,
    accounts: list[Wallet],
    chain_id: str,
    *,
    txs: int,
    per_account: int = 50,
    done: Callable[[], bool] | None = None,
    deadline_s: float = 240.0,
) -> None:
    """Submit ``txs`` transfers carrying the largest data payload and wait
    until they are all committed: the chain then holds big blocks.

    ``per_account`` stays under the mempool's per-sender cap; ``accounts``
    must number at least ``txs / per_account``.
    """
    assert len(accounts) * per_account >= txs, "not enough accounts for that many txs"
    data = os.urandom(MAX_TX_DATA)
    batch: list[bytes] = []
    made = 0
    for wallet in accounts:
        for nonce in range(per_account):
            if made == txs:
                break
            tx = wallet.transfer(
                to=bytes(32), amount=1, fee=1, nonce=nonce, chain_id=chain_id, data=data
            )
            batch.append(tx.encode())
            made += 1
            if len(batch) == 2000:
                _submit(client, batch)
                batch = []
    if batch:
        _submit(client, batch)
    end = time.monotonic() + deadline_s
    while client.status()["mempool_size"] > 0 or (done is not None and not done()):
        assert time.monotonic() < end, "the load did not commit in time"
        time.sleep(0.2)


def _submit(client: Client, batch: list[bytes]) -> None:
    results = client.submit(batch)
    refused = [r for r in results if not r["accepted"]]
    assert not refused, f"refused: {refused[:3]}"
