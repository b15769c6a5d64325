//! Merkle trees in the style of RFC 6962 (Certificate Transparency), section 2.1.
//!
//! For leaf data `D[0..n]`:
//! - the root of no leaves is `SHA-256("")`;
//! - the hash of one leaf `d` is `SHA-256(0x00 || d)`;
//! - for `n > 1`, with `k` the largest power of two below `n`, the root is
//!   `SHA-256(0x01 || root(D[0..k]) || root(D[k..n]))`.
//!
//! So the left subtree is always complete and a lone last node is promoted
//! to the next level unchanged, never paired with a copy of itself. The
//! 0x00/0x01 prefixes keep a leaf from posing as an inner node.

use crate::error::{CoreError, CoreResult};
use crate::hash::{sha256, sha256_parts, Hash};
use crate::items::Items;
use crate::lanes::{digest_all, Message};

/// Subtrees of fewer leaves are built on the calling thread.
///
/// Measured with `cargo test --release -- --ignored calibrate --nocapture`
/// on 32-byte leaves (2 cores): a 4096-leaf tree takes ~0.29 ms on one
/// thread and ~0.16 ms on two (2^20 leaves: 74 ms and 38 ms); at 2048
/// leaves the gain (up to 1.8x) comes and goes with the workers' wake-up
/// latency.
pub const PARALLEL_FROM: usize = 4096;

/// Complete subtrees of at most this many leaves are hashed level by level
/// in one buffer (32 KiB of leaf hashes), four hashes at a time.
const LEVEL_CHUNK: usize = 1024;

/// Domain prefix of a leaf hash.
const LEAF_PREFIX: u8 = 0x00;
/// Domain prefix of an inner-node hash.
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256_parts(&[&[LEAF_PREFIX], data])
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256_parts(&[&[NODE_PREFIX], left, right])
}

/// Root of a tree without leaves: `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// Root of the tree whose leaves are `items`.
pub fn merkle_root<I: Items + ?Sized>(items: &I) -> Hash {
    merkle_root_with(items, PARALLEL_FROM)
}

/// [`merkle_root`] with an explicit parallel threshold (for calibration).
pub fn merkle_root_with<I: Items + ?Sized>(items: &I, parallel_from: usize) -> Hash {
    match items.count() {
        0 => empty_root(),
        n => subtree_root(items, 0, n, parallel_from),
    }
}

/// Inclusion proof (audit path) of leaf `index`: the sibling subtree roots
/// from the leaf up to the root, as in RFC 6962 section 2.1.1.
pub fn merkle_proof<I: Items + ?Sized>(items: &I, index: u64) -> CoreResult<Vec<Hash>> {
    let size = items.count();
    let leaf = usize::try_from(index)
        .ok()
        .filter(|&leaf| leaf < size)
        .ok_or(CoreError::IndexOutOfRange {
            index,
            size: size as u64,
        })?;
    let mut path = Vec::new();
    collect_path(items, leaf, 0, size, &mut path);
    Ok(path)
}

/// Whether `proof` shows that `leaf` is leaf `index` of the tree of `size`
/// leaves with root `root` (the check of RFC 9162 section 2.1.3.2).
///
/// Any mismatch is `false`: an index outside the tree, a proof too short or
/// too long for the tree's shape, a wrong sibling, leaf or root.
///
/// `size` must come from a trusted place (a block header): the root does not
/// commit to it, and a proof also verifies for another size whose tree has
/// the same shape along the leaf's path (leaf 4 of 7 and of 8, say).
pub fn verify_merkle_proof(
    leaf: &[u8],
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    // `node` is our subtree's position in its level and `last` the position
    // of that level's last node; both halve as we climb.
    let mut node = index;
    let mut last = size - 1;
    let mut acc = leaf_hash(leaf);
    for sibling in proof {
        if last == 0 {
            return false;
        }
        if node & 1 == 1 || node == last {
            acc = node_hash(sibling, &acc);
            // A last node without a right sibling is promoted unchanged
            // until it becomes a right child: skip those levels.
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            acc = node_hash(&acc, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    last == 0 && acc == *root
}

/// Largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Root of leaves `lo..hi` (non-empty): the RFC 6962 split, the two halves
/// in parallel when large, complete subtrees of modest size level by level.
fn subtree_root<I: Items + ?Sized>(items: &I, lo: usize, hi: usize, parallel_from: usize) -> Hash {
    let n = hi - lo;
    if n.is_power_of_two() && n <= LEVEL_CHUNK {
        return complete_subtree_root(items, lo, n);
    }
    let mid = lo + split_point(n);
    let (left, right) = if n >= parallel_from {
        rayon::join(
            || subtree_root(items, lo, mid, parallel_from),
            || subtree_root(items, mid, hi, parallel_from),
        )
    } else {
        (
            subtree_root(items, lo, mid, parallel_from),
            subtree_root(items, mid, hi, parallel_from),
        )
    };
    node_hash(&left, &right)
}

/// Root of the complete tree over leaves `lo..lo + n` (`n` a power of two):
/// all leaf hashes, then each level from the one below, in place.
fn complete_subtree_root<I: Items + ?Sized>(items: &I, lo: usize, n: usize) -> Hash {
    debug_assert!(n.is_power_of_two());
    let mut level = vec![[0u8; 32]; n];
    digest_all(
        |i| Message::new([&[LEAF_PREFIX], items.item(lo + i), &[]]),
        &mut level,
    );
    let mut parents = vec![[0u8; 32]; n / 2];
    let mut width = n;
    while width > 1 {
        width /= 2;
        digest_all(
            |i| Message::new([&[NODE_PREFIX], &level[2 * i], &level[2 * i + 1]]),
            &mut parents[..width],
        );
        level[..width].copy_from_slice(&parents[..width]);
    }
    level[0]
}

/// Appends to `path` the audit path of `leaf` within leaves `lo..hi`.
fn collect_path<I: Items + ?Sized>(
    items: &I,
    leaf: usize,
    lo: usize,
    hi: usize,
    path: &mut Vec<Hash>,
) {
    let n = hi - lo;
    if n < 2 {
        return;
    }
    let mid = lo + split_point(n);
    if leaf < mid {
        collect_path(items, leaf, lo, mid, path);
        path.push(subtree_root(items, mid, hi, PARALLEL_FROM));
    } else {
        collect_path(items, leaf, mid, hi, path);
        path.push(subtree_root(items, lo, mid, PARALLEL_FROM));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tests::unhex;

    /// The largest power of two below `n`, counted up the slow way.
    fn reference_split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// RFC 6962's MTH, written as the recursive definition.
    fn reference_root(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => sha256(b""),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = reference_split(n);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962's PATH, written as the recursive definition.
    fn reference_path(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
        let n = leaves.len();
        if n < 2 {
            return Vec::new();
        }
        let k = reference_split(n);
        if m < k {
            let mut path = reference_path(m, &leaves[..k]);
            path.push(reference_root(&leaves[k..]));
            path
        } else {
            let mut path = reference_path(m - k, &leaves[k..]);
            path.push(reference_root(&leaves[..k]));
            path
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below_n() {
        let expected = [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (7, 4),
            (8, 4),
            (9, 8),
            (1 << 20, 1 << 19),
        ];
        for (n, k) in expected {
            assert_eq!(split_point(n), k, "n = {n}");
        }
    }

    #[test]
    fn small_trees_have_the_rfc_6962_shape() {
        let d = leaves(3);
        assert_eq!(merkle_root(&[] as &[&[u8]]), sha256(b""));
        assert_eq!(merkle_root(&d[..1]), leaf_hash(&d[0]));
        let ab = node_hash(&leaf_hash(&d[0]), &leaf_hash(&d[1]));
        assert_eq!(merkle_root(&d[..2]), ab);
        // The odd third leaf is promoted, not paired with itself.
        assert_eq!(merkle_root(&d[..3]), node_hash(&ab, &leaf_hash(&d[2])));
    }

    #[test]
    fn empty_root_is_the_hash_of_nothing() {
        assert_eq!(
            empty_root().to_vec(),
            unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn root_matches_the_recursive_definition_on_both_paths() {
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 100, 1000, 5000] {
            let d = leaves(n);
            let expected = reference_root(&d);
            assert_eq!(
                merkle_root_with(d.as_slice(), usize::MAX),
                expected,
                "serial, n = {n}"
            );
            assert_eq!(
                merkle_root_with(d.as_slice(), 2),
                expected,
                "parallel, n = {n}"
            );
        }
    }

    #[test]
    fn proof_matches_the_recursive_path_and_verifies_for_every_leaf() {
        for n in [1, 2, 3, 7, 8, 13] {
            let d = leaves(n);
            let root = merkle_root(d.as_slice());
            for (m, leaf) in d.iter().enumerate() {
                let proof = merkle_proof(d.as_slice(), m as u64).unwrap();
                assert_eq!(proof, reference_path(m, &d), "n = {n}, m = {m}");
                assert!(verify_merkle_proof(leaf, m as u64, n as u64, &proof, &root));
            }
        }
    }

    #[test]
    fn proof_index_outside_the_tree_is_an_error() {
        let d = leaves(3);
        assert_eq!(
            merkle_proof(d.as_slice(), 3),
            Err(CoreError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert!(merkle_proof(&[] as &[&[u8]], 0).is_err());
        assert!(merkle_proof(d.as_slice(), u64::MAX).is_err());
    }

    #[test]
    fn tampered_proofs_do_not_verify() {
        let d = leaves(7);
        let root = merkle_root(d.as_slice());
        let proof = merkle_proof(d.as_slice(), 4).unwrap();
        assert!(verify_merkle_proof(&d[4], 4, 7, &proof, &root));

        assert!(
            !verify_merkle_proof(&d[5], 4, 7, &proof, &root),
            "wrong leaf"
        );
        assert!(
            !verify_merkle_proof(&d[4], 5, 7, &proof, &root),
            "wrong index"
        );
        // Sizes whose trees put leaf 4 on a path of another shape. (A size
        // with the same shape along that path, here 8, cannot be told apart:
        // the root does not commit to the size.)
        for size in [5, 6, 9, 16] {
            assert!(
                !verify_merkle_proof(&d[4], 4, size, &proof, &root),
                "wrong size {size}"
            );
        }
        assert!(
            !verify_merkle_proof(&d[4], 7, 7, &proof, &root),
            "index == size"
        );
        assert!(
            !verify_merkle_proof(&d[4], 4, 7, &proof[..2], &root),
            "missing element"
        );
        let mut longer = proof.clone();
        longer.push(root);
        assert!(
            !verify_merkle_proof(&d[4], 4, 7, &longer, &root),
            "extra element"
        );
        for i in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[i][0] ^= 1;
            assert!(
                !verify_merkle_proof(&d[4], 4, 7, &flipped, &root),
                "flipped element {i}"
            );
        }
        let mut other_root = root;
        other_root[31] ^= 0x80;
        assert!(
            !verify_merkle_proof(&d[4], 4, 7, &proof, &other_root),
            "wrong root"
        );
    }

    #[test]
    fn single_leaf_tree_has_an_empty_proof() {
        let d = leaves(1);
        let root = merkle_root(d.as_slice());
        assert!(merkle_proof(d.as_slice(), 0).unwrap().is_empty());
        assert!(verify_merkle_proof(&d[0], 0, 1, &[], &root));
        assert!(!verify_merkle_proof(&d[0], 0, 0, &[], &root));
    }
}
