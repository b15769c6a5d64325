"""Merkle roots and inclusion proofs follow RFC 6962 exactly.

Checked against the readable reference in ``merkle_reference.py``: fixed
expectations for small trees written out by hand, then random leaf lists
(Hypothesis), including sizes above the Rust core's parallel threshold.
"""

from __future__ import annotations

import hashlib

import merkle_reference as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import crypto

D = [f"leaf-{i}".encode() for i in range(8)]
L = [ref.leaf_hash(d) for d in D]
H = ref.node_hash


def packed(leaves: list[bytes]) -> bytes:
    return b"".join(leaves)


# --- the shape of small trees, written out -------------------------------

EXPECTED_ROOTS = {
    0: hashlib.sha256(b"").digest(),
    1: L[0],
    2: H(L[0], L[1]),
    # The third leaf is promoted to the top level: never paired with itself.
    3: H(H(L[0], L[1]), L[2]),
    7: H(H(H(L[0], L[1]), H(L[2], L[3])), H(H(L[4], L[5]), L[6])),
    8: H(H(H(L[0], L[1]), H(L[2], L[3])), H(H(L[4], L[5]), H(L[6], L[7]))),
}


@pytest.mark.parametrize("n", sorted(EXPECTED_ROOTS))
def test_root_of_small_trees(n: int) -> None:
    assert ref.mth(D[:n]) == EXPECTED_ROOTS[n]
    assert crypto.merkle_root(D[:n]) == EXPECTED_ROOTS[n]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert crypto.merkle_root([]) == crypto.EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert crypto.merkle_root_packed(b"", 32) == crypto.EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # A leaf whose data is two child hashes does not give the parent's hash.
    parent = crypto.merkle_root(D[:2])
    assert crypto.merkle_root([L[0] + L[1]]) != parent


def test_duplicating_the_last_leaf_changes_the_root() -> None:
    # Bitcoin's tree pairs an odd last node with itself, so [a, b, c] and
    # [a, b, c, c] share a root there; here they do not.
    assert crypto.merkle_root(D[:3]) != crypto.merkle_root([*D[:3], D[2]])


LEFT_HALF = H(H(L[0], L[1]), H(L[2], L[3]))

EXPECTED_PATHS = {
    (1, 0): [],
    (2, 0): [L[1]],
    (2, 1): [L[0]],
    (3, 2): [H(L[0], L[1])],
    (3, 0): [L[1], L[2]],
    # Leaf 6 of 7 was promoted past one level, so its path is one shorter.
    (7, 6): [H(L[4], L[5]), LEFT_HALF],
    (7, 4): [L[5], L[6], LEFT_HALF],
    (8, 5): [L[4], H(L[6], L[7]), LEFT_HALF],
}


@pytest.mark.parametrize(("n", "index"), sorted(EXPECTED_PATHS))
def test_audit_path_of_small_trees(n: int, index: int) -> None:
    expected = EXPECTED_PATHS[(n, index)]
    assert ref.path(index, D[:n]) == expected
    proof = crypto.merkle_proof(D[:n], index)
    assert proof == expected
    assert crypto.verify_merkle_proof(D[index], index, n, proof, EXPECTED_ROOTS[n])


# --- differential tests against the reference ------------------------------

leaf_lists = st.lists(st.binary(max_size=40), max_size=70)


# Hypothesis deadlines are off throughout: the machines are shared, a loaded
# core can stretch any example, and these tests assert behaviour, not speed.
@settings(deadline=None)
@given(leaf_lists)
def test_merkle_root_matches_reference(leaves: list[bytes]) -> None:
    assert crypto.merkle_root(leaves) == ref.mth(leaves)


@settings(deadline=None)
@given(st.integers(1, 48), st.integers(0, 70), st.data())
def test_merkle_root_packed_matches_reference(item_size: int, n: int, data: st.DataObject) -> None:
    leaves = data.draw(
        st.lists(st.binary(min_size=item_size, max_size=item_size), min_size=n, max_size=n)
    )
    buf = packed(leaves)
    assert crypto.merkle_root_packed(buf, item_size) == ref.mth(leaves)
    assert crypto.merkle_root_packed(bytearray(buf), item_size) == ref.mth(leaves)


@settings(deadline=None)
@given(st.lists(st.binary(max_size=16), min_size=1, max_size=70))
def test_every_proof_matches_reference_path_and_verifies(leaves: list[bytes]) -> None:
    root = crypto.merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = crypto.merkle_proof(leaves, index)
        assert proof == ref.path(index, leaves)
        assert crypto.verify_merkle_proof(leaf, index, len(leaves), proof, root)


@pytest.mark.parametrize("n", [1023, 1024, 1025, 2049, 4096, 4097, 9000])
def test_large_trees_built_in_parallel_match_reference(n: int) -> None:
    leaves = [i.to_bytes(32, "big") for i in range(n)]
    root = ref.mth(leaves)
    assert crypto.merkle_root(leaves) == root
    assert crypto.merkle_root_packed(packed(leaves), 32) == root
    for index in (0, n // 3, n - 1):
        proof = crypto.merkle_proof(leaves, index)
        assert proof == ref.path(index, leaves)
        assert crypto.verify_merkle_proof(leaves[index], index, n, proof, root)


# --- tampering: every change to a proof is caught --------------------------


def _fixture(n: int, index: int) -> tuple[list[bytes], list[bytes], bytes]:
    leaves = [bytes([i]) * 5 for i in range(n)]
    return leaves, crypto.merkle_proof(leaves, index), crypto.merkle_root(leaves)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 70), st.data())
def test_flipped_bit_in_any_proof_element_fails(n: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, n - 1))
    leaves, proof, root = _fixture(n, index)
    element = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    tampered = list(proof)
    flipped = bytearray(tampered[element])
    flipped[bit // 8] ^= 1 << (bit % 8)
    tampered[element] = bytes(flipped)
    assert not crypto.verify_merkle_proof(leaves[index], index, n, tampered, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 70), st.data())
def test_wrong_index_leaf_or_root_fails(n: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, n - 1))
    other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index))
    leaves, proof, root = _fixture(n, index)
    assert not crypto.verify_merkle_proof(leaves[index], other, n, proof, root)
    assert not crypto.verify_merkle_proof(leaves[other], index, n, proof, root)
    assert not crypto.verify_merkle_proof(leaves[index], index, n, proof, crypto.sha256(root))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.data())
def test_extra_or_missing_proof_element_fails(n: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, n - 1))
    leaves, proof, root = _fixture(n, index)
    extra = data.draw(st.binary(min_size=32, max_size=32))
    position = data.draw(st.integers(0, len(proof)))
    longer = [*proof[:position], extra, *proof[position:]]
    assert not crypto.verify_merkle_proof(leaves[index], index, n, longer, root)
    if proof:
        dropped = data.draw(st.integers(0, len(proof) - 1))
        shorter = proof[:dropped] + proof[dropped + 1 :]
        assert not crypto.verify_merkle_proof(leaves[index], index, n, shorter, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.integers(1, 140), st.data())
def test_wrong_size_fails_unless_the_path_has_the_same_shape(
    n: int, other_size: int, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, n - 1))
    leaves, proof, root = _fixture(n, index)
    verdict = crypto.verify_merkle_proof(leaves[index], index, other_size, proof, root)
    # The root does not commit to the size (the header does): a size is
    # accepted exactly when the leaf's path in that tree has the same shape,
    # i.e. the reference path over an equally shaped tree hashes the same.
    same_shape = index < other_size and _path_shape(index, other_size) == _path_shape(index, n)
    assert verdict == same_shape


def _path_shape(index: int, size: int) -> list[bool]:
    """For each proof element, whether the sibling sits on the left."""
    if size <= 1:
        return []
    k = ref.split(size)
    if index < k:
        return [*_path_shape(index, k), False]
    return [*_path_shape(index - k, size - k), True]


def test_index_not_below_size_fails() -> None:
    leaves, proof, root = _fixture(5, 4)
    assert not crypto.verify_merkle_proof(leaves[4], 5, 5, proof, root)
    assert not crypto.verify_merkle_proof(leaves[4], 4, 4, proof, root)
    assert not crypto.verify_merkle_proof(leaves[4], -1, 5, proof, root)
    assert not crypto.verify_merkle_proof(leaves[4], 4, -5, proof, root)
    assert not crypto.verify_merkle_proof(leaves[4], 4, 2**70, proof, root)


# --- argument errors --------------------------------------------------------


@pytest.mark.parametrize("index", [3, 4, 100, -1, 2**64])
def test_proof_index_out_of_range_is_value_error(index: int) -> None:
    with pytest.raises(ValueError, match="index"):
        crypto.merkle_proof(D[:3], index)


def test_proof_of_empty_tree_is_value_error() -> None:
    with pytest.raises(ValueError):
        crypto.merkle_proof([], 0)


def test_malformed_proof_or_root_is_value_error() -> None:
    leaves, proof, root = _fixture(4, 1)
    with pytest.raises(ValueError, match=r"proof\[1\]"):
        crypto.verify_merkle_proof(leaves[1], 1, 4, [proof[0], proof[1][:31]], root)
    with pytest.raises(ValueError, match="root"):
        crypto.verify_merkle_proof(leaves[1], 1, 4, proof, root + b"\x00")


@pytest.mark.parametrize(("size", "item_size"), [(10, 3), (5, 0), (64, -1)])
def test_ragged_packed_buffer_is_value_error(size: int, item_size: int) -> None:
    with pytest.raises(ValueError, match="item_size"):
        crypto.merkle_root_packed(bytes(size), item_size)
