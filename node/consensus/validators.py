"""The validator set: voting power, quorum thresholds, proposer selection,
and the check of commit certificates.

Thresholds are by voting power, never by head count. With total power N:
``quorum`` is the smallest power > 2N/3 (Tendermint's 2f+1), ``skip`` the
smallest > N/3 (f+1: at least one honest validator), ``majority`` the
smallest > N/2 (PoA, which tolerates crashes, not lies).

Proposer selection is weighted round robin: the sequence produced by the
"smooth" algorithm that Tendermint and nginx use (every slot each validator
gains its power in priority; the highest priority proposes and pays back
the total), which gives each validator a share of slots equal to its share
of power, spread out evenly. The sequence repeats every N / gcd(powers)
slots; slot ``height + round`` of it proposes at (height, round), so every
node computes the same proposer from the genesis alone. Ties go to the
validator listed first in the genesis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from node import crypto
from node.types import PRECOMMIT, Commit, vote_sign_bytes

if TYPE_CHECKING:
    from node.genesis import Validator

# A cycle longer than this is not tabulated; slots are then drawn by hash
# (still deterministic and power-weighted, just not evenly spread).
_MAX_CYCLE = 1 << 20


class SignatureVerifier:
    """Ed25519 verification with a cache of signatures already found valid.

    Verification is a pure function of (key, message, signature), so a
    cached "valid" answer is as good as a fresh one; invalid ones are not
    cached. The simulator shares one verifier among all its honest nodes.
    """

    __slots__ = ("_cache", "_max", "hits", "misses")

    def __init__(self, max_entries: int = 1 << 16) -> None:
        self._cache: dict[tuple[bytes, bytes, bytes], None] = {}
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        key = (public_key, message, signature)
        if key in self._cache:
            self.hits += 1
            return True
        self.misses += 1
        ok = crypto.verify(public_key, message, signature)
        if ok:
            self._remember(key)
        return ok

    def verify_many(
        self, public_keys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
    ) -> list[bool]:
        """Like ``verify`` on each triple; misses go to ONE batch call."""
        out = [False] * len(public_keys)
        todo: list[int] = []
        cache = self._cache
        for i, key in enumerate(zip(public_keys, messages, signatures, strict=True)):
            if key in cache:
                out[i] = True
            else:
                todo.append(i)
        self.hits += len(public_keys) - len(todo)
        self.misses += len(todo)
        if todo:
            results = crypto.verify_batch(
                [public_keys[i] for i in todo],
                [messages[i] for i in todo],
                [signatures[i] for i in todo],
            )
            for i, ok in zip(todo, results, strict=True):
                out[i] = ok
                if ok:
                    self._remember((public_keys[i], messages[i], signatures[i]))
        return out

    def _remember(self, key: tuple[bytes, bytes, bytes]) -> None:
        if len(self._cache) >= self._max:
            # drop the oldest half: dicts keep insertion order
            for old in list(self._cache)[: self._max // 2]:
                del self._cache[old]
        self._cache[key] = None


class ValidatorSet:
    """The genesis validators, indexed for the engines."""

    def __init__(self, validators: Sequence[Validator]) -> None:
        if not validators:
            raise ValueError("a validator set needs at least one validator")
        self.validators = tuple(validators)
        self.keys = tuple(v.public_key for v in validators)
        self.index = {v.public_key: i for i, v in enumerate(validators)}
        if len(self.index) != len(self.keys):
            raise ValueError("a validator is listed twice")
        self.power = {v.public_key: v.power for v in validators}
        self.total_power = sum(v.power for v in validators)
        self.quorum = self.total_power * 2 // 3 + 1
        self.skip = self.total_power // 3 + 1
        self.majority = self.total_power // 2 + 1
        self._schedule: list[int] = []
        self._priority = [0] * len(validators)
        gcd = math.gcd(*(v.power for v in validators))
        self._cycle = self.total_power // gcd
        self._weights = [v.power // gcd for v in validators]

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, public_key: object) -> bool:
        return public_key in self.index

    def power_of(self, public_key: bytes) -> int:
        return self.power.get(public_key, 0)

    def proposer(self, height: int, round_: int) -> bytes:
        """Who proposes at (height, round): slot ``height + round`` of the cycle."""
        slot = (height + round_) % self._cycle
        if self._cycle > _MAX_CYCLE:
            return self._drawn(height, round_)
        while len(self._schedule) <= slot:
            self._extend()
        return self.keys[self._schedule[slot]]

    def _extend(self) -> None:
        prio = self._priority
        best = 0
        for i, w in enumerate(self._weights):
            prio[i] += w
            if prio[i] > prio[best]:
                best = i
        prio[best] -= self._cycle
        self._schedule.append(best)

    def _drawn(self, height: int, round_: int) -> bytes:
        seed = crypto.sha256(
            b"ordinet/proposer" + height.to_bytes(8, "big") + round_.to_bytes(4, "big")
        )
        point = int.from_bytes(seed, "big") % self.total_power
        for v in self.validators:
            if point < v.power:
                return v.public_key
            point -= v.power
        raise AssertionError("point beyond total power")

    def check_commit(
        self,
        commit: Commit,
        chain_id: str,
        height: int,
        block_hash: bytes,
        verifier: SignatureVerifier,
        *,
        need: int | None = None,
    ) -> str | None:
        """None when ``commit`` proves ``block_hash`` at ``height``, else why not.

        A certificate proves a block when its signers are validators holding
        at least ``need`` power (default: the > 2/3 quorum) and every
        signature is a valid precommit for (height, commit.round,
        block_hash). All signatures are checked in one batch call.
        """
        need = self.quorum if need is None else need
        if commit.height != height or commit.block_hash != block_hash:
            return "commit certificate is for another block"
        power = 0
        for validator, _ in commit.signatures:
            p = self.power.get(validator)
            if p is None:
                return "commit certificate signed by a non-validator"
            power += p
        if power < need:
            return f"commit certificate holds {power} of the {need} power needed"
        msg = vote_sign_bytes(chain_id, PRECOMMIT, height, commit.round, block_hash)
        sigs = commit.signatures
        ok = verifier.verify_many([v for v, _ in sigs], [msg] * len(sigs), [s for _, s in sigs])
        if not all(ok):
            return "commit certificate holds an invalid signature"
        return None
