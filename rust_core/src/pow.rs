//! Proof-of-work nonce search.
//!
//! A header is `prefix || nonce` with the nonce as 8 big-endian bytes; it
//! meets `target` when `SHA-256(header) <= target`, both read as 256-bit
//! big-endian integers. The search returns the *smallest* such nonce in a
//! range, so the answer never depends on how many threads looked.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{CoreError, CoreResult};
use crate::hash::Hash;
use crate::lanes::{digest_all_from, Message, Start};

/// Nonces one worker tries before the workers compare notes.
///
/// About a few milliseconds of hashing: long enough to hide rayon's cost,
/// short enough that little work past the answer is thrown away.
pub const CHUNK: u64 = 1 << 14;

/// Ranges shorter than this are searched on the calling thread.
pub const PARALLEL_FROM: u64 = 2 * CHUNK;

/// Nonces hashed together (in SHA-NI lanes) before looking for a hit.
const BATCH: usize = 64;

/// `SHA-256(prefix || nonce_be8)`.
pub fn pow_hash(prefix: &[u8], nonce: u64) -> Hash {
    Sha256::new()
        .chain_update(prefix)
        .chain_update(nonce.to_be_bytes())
        .finalize()
        .into()
}

/// Whether `hash <= target` as big-endian integers.
pub fn meets_target(hash: &Hash, target: &Hash) -> bool {
    // Lexicographic order of equal-length byte strings is big-endian order.
    hash <= target
}

/// The smallest nonce `n` in `start..start + count` whose header meets
/// `target`, or `None`. The range must fit in 64 bits.
pub fn pow_search(prefix: &[u8], target: &Hash, start: u64, count: u64) -> CoreResult<Option<u64>> {
    if count == 0 {
        return Ok(None);
    }
    let last = start
        .checked_add(count - 1)
        .ok_or(CoreError::NonceRangeOverflow { start, count })?;
    let (start_state, rest) = Start::after_blocks(prefix);
    let search = Search {
        start: start_state,
        rest,
        target,
    };
    if count < PARALLEL_FROM {
        return Ok(search.first_in(start, last));
    }
    Ok(search.first_in_parallel(start, last))
}

/// One search: the hash state after the prefix's whole blocks, the rest of
/// the prefix, and the target.
struct Search<'a> {
    start: Start,
    rest: &'a [u8],
    target: &'a Hash,
}

impl Search<'_> {
    /// Smallest qualifying nonce in `first..=last`, hashing `BATCH` at a time.
    fn first_in(&self, first: u64, last: u64) -> Option<u64> {
        let mut digests = [[0u8; 32]; BATCH];
        let mut base = first;
        loop {
            let count = (last - base).min(BATCH as u64 - 1) as usize + 1;
            let nonces: [[u8; 8]; BATCH] =
                std::array::from_fn(|i| base.wrapping_add(i as u64).to_be_bytes());
            let digests = &mut digests[..count];
            digest_all_from(
                &self.start,
                |i| Message::new([self.rest, &nonces[i], &[]]),
                digests,
            );
            if let Some(i) = digests.iter().position(|h| meets_target(h, self.target)) {
                return Some(base + i as u64);
            }
            if last - base < BATCH as u64 {
                return None;
            }
            base += BATCH as u64;
        }
    }

    /// Like `first_in`, in rounds of one chunk per worker: the first round
    /// with any hit holds the smallest nonce, and `find_map_first` returns
    /// the hit of the earliest chunk.
    fn first_in_parallel(&self, first: u64, last: u64) -> Option<u64> {
        let workers = rayon::current_num_threads().max(1) as u64;
        let mut round_start = first;
        loop {
            let found = (0..workers).into_par_iter().find_map_first(|w| {
                let lo = round_start
                    .checked_add(w * CHUNK)
                    .filter(|&lo| lo <= last)?;
                let hi = lo.saturating_add(CHUNK - 1).min(last);
                self.first_in(lo, hi)
            });
            if found.is_some() {
                return found;
            }
            match round_start.checked_add(workers * CHUNK) {
                Some(next) if next <= last => round_start = next,
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that roughly one hash in `2^bits` meets.
    fn target_with_zero_bits(bits: u32) -> Hash {
        let mut target = [0xffu8; 32];
        for bit in 0..bits as usize {
            target[bit / 8] &= !(0x80 >> (bit % 8));
        }
        target
    }

    fn brute_force(prefix: &[u8], target: &Hash, start: u64, count: u64) -> Option<u64> {
        (start..start + count).find(|&n| meets_target(&pow_hash(prefix, n), target))
    }

    #[test]
    fn pow_hash_is_sha256_of_prefix_and_big_endian_nonce() {
        let mut header = b"header".to_vec();
        header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(pow_hash(b"header", 0x0102), crate::hash::sha256(&header));
    }

    #[test]
    fn meets_target_compares_big_endian() {
        let mut low = [0u8; 32];
        low[31] = 0xff;
        let mut high = [0u8; 32];
        high[0] = 0x01;
        assert!(meets_target(&low, &high));
        assert!(!meets_target(&high, &low));
        assert!(meets_target(&high, &high));
    }

    #[test]
    fn finds_the_smallest_qualifying_nonce() {
        let target = target_with_zero_bits(6);
        for start in [0, 5, 1000] {
            let expected = brute_force(b"block", &target, start, 500);
            assert!(expected.is_some());
            assert_eq!(pow_search(b"block", &target, start, 500).unwrap(), expected);
        }
    }

    #[test]
    fn parallel_search_agrees_with_a_serial_scan() {
        let target = target_with_zero_bits(17);
        let count = 6 * CHUNK;
        let expected = brute_force(b"deep", &target, 3, count);
        assert_eq!(pow_search(b"deep", &target, 3, count).unwrap(), expected);
    }

    #[test]
    fn none_when_no_nonce_qualifies() {
        let impossible = [0u8; 32];
        assert_eq!(pow_search(b"x", &impossible, 0, 1000).unwrap(), None);
        assert_eq!(
            pow_search(b"x", &impossible, 0, 3 * CHUNK + 7).unwrap(),
            None
        );
        assert_eq!(pow_search(b"x", &[0xff; 32], 0, 0).unwrap(), None);
    }

    #[test]
    fn range_reaching_the_last_nonce_is_fine_and_beyond_is_an_error() {
        let anything = [0xffu8; 32];
        assert_eq!(
            pow_search(b"x", &anything, u64::MAX, 1).unwrap(),
            Some(u64::MAX)
        );
        assert_eq!(
            pow_search(b"x", &anything, u64::MAX, 2),
            Err(CoreError::NonceRangeOverflow {
                start: u64::MAX,
                count: 2
            })
        );
        let impossible = [0u8; 32];
        let start = u64::MAX - 3 * CHUNK;
        assert_eq!(
            pow_search(b"x", &impossible, start, 3 * CHUNK + 1).unwrap(),
            None
        );
    }
}
