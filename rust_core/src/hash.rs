//! SHA-256 of one message and of many.

use sha2::{Digest, Sha256};

use crate::error::CoreResult;
use crate::items::{Items, PackedItems};
use crate::lanes::{digest_all, Message};
use crate::par::fill_chunks;

/// Length of a SHA-256 digest.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 digest.
pub type Hash = [u8; HASH_SIZE];

/// Batches of fewer items are hashed on the calling thread.
///
/// Measured with `cargo test --release -- --ignored calibrate --nocapture`
/// on 64-byte items (2 cores, SHA-NI lanes, ~45 ns an item): from 2048
/// items on, two threads are 1.4x faster, and 2x from 8192; below that the
/// gain is small and erratic, since waking a worker costs tens of
/// microseconds.
pub const PARALLEL_FROM: usize = 2048;

/// Items a rayon worker hashes at once.
const CHUNK: usize = 256;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// SHA-256 of the concatenation of `parts`, without building it.
pub fn sha256_parts(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SHA-256 of every item, in order.
pub fn sha256_many<I: Items + ?Sized>(items: &I) -> Vec<Hash> {
    sha256_many_with(items, PARALLEL_FROM)
}

/// [`sha256_many`] with an explicit parallel threshold (for calibration).
pub fn sha256_many_with<I: Items + ?Sized>(items: &I, parallel_from: usize) -> Vec<Hash> {
    let mut digests = vec![[0u8; HASH_SIZE]; items.count()];
    fill_chunks(&mut digests, parallel_from, CHUNK, |first, chunk| {
        digest_all(|i| Message::new([items.item(first + i), &[], &[]]), chunk);
    });
    digests
}

/// Digests of the consecutive `item_size`-byte items of `buf`, back to back
/// (`32 * n` bytes).
pub fn sha256_many_packed(buf: &[u8], item_size: usize) -> CoreResult<Vec<u8>> {
    let items = PackedItems::new(buf, item_size)?;
    Ok(sha256_many(&items).into_flattened())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes a hex literal of a test vector.
    pub(crate) fn unhex(text: &str) -> Vec<u8> {
        assert!(text.len().is_multiple_of(2), "odd hex length");
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    #[test]
    fn sha256_matches_fips_180_vectors() {
        let vectors: [(&[u8], &str); 3] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (message, digest) in vectors {
            assert_eq!(sha256(message).to_vec(), unhex(digest));
        }
    }

    #[test]
    fn sha256_of_a_million_a() {
        let message = vec![b'a'; 1_000_000];
        assert_eq!(
            sha256(&message).to_vec(),
            unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        );
    }

    #[test]
    fn sha256_parts_equals_sha256_of_the_concatenation() {
        assert_eq!(sha256_parts(&[b"ab", b"", b"c"]), sha256(b"abc"));
        assert_eq!(sha256_parts(&[]), sha256(b""));
    }

    #[test]
    fn sha256_many_hashes_each_item_in_order_on_both_paths() {
        let items: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| i.to_le_bytes().repeat(i as usize % 9))
            .collect();
        let expected: Vec<Hash> = items.iter().map(|m| sha256(m)).collect();
        assert_eq!(sha256_many_with(items.as_slice(), usize::MAX), expected);
        assert_eq!(sha256_many_with(items.as_slice(), 0), expected);
        assert!(sha256_many(&[] as &[&[u8]]).is_empty());
    }

    #[test]
    fn sha256_many_packed_returns_contiguous_digests() {
        let buf: Vec<u8> = (0..=255u8).cycle().take(64 * 5).collect();
        let packed = sha256_many_packed(&buf, 64).unwrap();
        assert_eq!(packed.len(), 5 * HASH_SIZE);
        for (chunk, digest) in buf.chunks(64).zip(packed.chunks(HASH_SIZE)) {
            assert_eq!(digest, sha256(chunk));
        }
        assert_eq!(sha256_many_packed(b"", 3).unwrap(), Vec::<u8>::new());
        assert!(sha256_many_packed(b"abc", 2).is_err());
        assert!(sha256_many_packed(b"abc", 0).is_err());
    }
}
