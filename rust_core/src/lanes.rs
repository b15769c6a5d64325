//! SHA-256 of several equally long messages at once.
//!
//! One SHA-256 compression is a chain of dependent steps, so a core that can
//! start a new SHA-NI instruction every cycle or two sits waiting for the
//! previous one most of the time. Hashing [`LANES`] independent messages with
//! their instructions interleaved fills those gaps: on a 2-core AMD EPYC
//! four lanes hash 64-byte messages about twice as fast as one at a time.
//! On the 2-core Sapphire Rapids test machine SHA-NI's round instruction
//! itself is the limit (two lanes are as fast as four, ~1.4x one), and
//! sixteen lanes of AVX-512 (`avx512`) are 1.6x faster than four of SHA-NI
//! (`cargo test --release -- --ignored calibrate_lanes --nocapture`).
//!
//! Merkle trees, batches of fixed-size records and proof-of-work nonces are
//! exactly this workload: many messages of one length. [`digest_all`] groups
//! them in sixteens (AVX-512) and fours (SHA-NI), and falls back to
//! one-at-a-time (the `sha2` crate's compression function) for leftovers,
//! unequal lengths, and CPUs without those instructions. Hashing may start
//! from a [`Start`] other than SHA-256's initial state, to share the whole
//! blocks of a common prefix.

use sha2::block_api::compress256;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

use crate::hash::Hash;

/// Messages hashed together.
pub const LANES: usize = 4;

/// FIPS 180-4 initial hash value.
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The state hashing starts from, and how many bytes it has absorbed.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    words: [u32; 8],
    absorbed: u64,
}

impl Start {
    /// SHA-256's own starting point: nothing absorbed.
    pub const INITIAL: Start = Start {
        words: H0,
        absorbed: 0,
    };

    /// The state after the whole 64-byte blocks of `prefix`, and the rest of
    /// `prefix`, which every message hashed from here must begin with.
    pub fn after_blocks(prefix: &[u8]) -> (Start, &[u8]) {
        let (blocks, rest) = prefix.as_chunks::<64>();
        let mut words = H0;
        compress256(&mut words, blocks);
        let absorbed = (blocks.len() * 64) as u64;
        (Start { words, absorbed }, rest)
    }
}

/// A message given as the concatenation of up to three slices, so that
/// `0x01 || left || right` needs no copy before hashing.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    parts: [&'a [u8]; 3],
    len: usize,
}

impl<'a> Message<'a> {
    pub fn new(parts: [&'a [u8]; 3]) -> Self {
        let len = parts.iter().map(|part| part.len()).sum();
        Self { parts, len }
    }

    /// Number of 64-byte blocks after padding (0x80, zeros, 64-bit length).
    fn block_count(&self) -> usize {
        (self.len + 8) / 64 + 1
    }

    /// Block `index` of the padded message, when `absorbed` bytes came before it.
    fn block(&self, index: usize, absorbed: u64, out: &mut [u8; 64]) {
        out.fill(0);
        for (at, bytes) in self.pieces(index) {
            out[at..at + bytes.len()].copy_from_slice(bytes);
        }
        self.pad(index, absorbed, out);
    }

    /// The message bytes of block `index`: each non-empty overlap of a part
    /// with the block, and where in the block it goes.
    fn pieces(&self, index: usize) -> impl Iterator<Item = (usize, &'a [u8])> {
        let start = index * 64;
        let end = start + 64;
        let mut offset = 0;
        self.parts.into_iter().filter_map(move |part| {
            let (from, to) = (offset.max(start), (offset + part.len()).min(end));
            let piece = (from < to).then(|| (from - start, &part[from - offset..to - offset]));
            offset += part.len();
            piece
        })
    }

    /// Writes the padding of block `index` (0x80 after the message, the bit
    /// length in the last block) over a block that is zero past the message.
    fn pad(&self, index: usize, absorbed: u64, out: &mut [u8; 64]) {
        let start = index * 64;
        let end = start + 64;
        if (start..end).contains(&self.len) {
            out[self.len - start] = 0x80;
        }
        if index + 1 == self.block_count() {
            let total_bits = (absorbed + self.len as u64) * 8;
            out[56..].copy_from_slice(&total_bits.to_be_bytes());
        }
    }

    /// The digest, one block at a time.
    fn digest_from(&self, start: &Start) -> Hash {
        let mut words = start.words;
        let mut block = [0u8; 64];
        for index in 0..self.block_count() {
            self.block(index, start.absorbed, &mut block);
            compress256(&mut words, std::slice::from_ref(&block));
        }
        let mut digest = [0u8; 32];
        for (bytes, word) in digest.chunks_exact_mut(4).zip(words) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

/// `out[i] = SHA-256(message(i))` for every `i < out.len()`.
pub fn digest_all<'a>(message: impl Fn(usize) -> Message<'a>, out: &mut [Hash]) {
    digest_all_from(&Start::INITIAL, message, out);
}

/// Like [`digest_all`], continuing from `start`: the digest of the prefix
/// `start` absorbed followed by each message.
pub fn digest_all_from<'a>(
    start: &Start,
    message: impl Fn(usize) -> Message<'a>,
    out: &mut [Hash],
) {
    let mut first = 0;
    let mut rest = out;
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        let mut groups = rest.chunks_exact_mut(avx512::WIDTH);
        for group in &mut groups {
            let messages: [Message<'a>; avx512::WIDTH] =
                std::array::from_fn(|lane| message(first + lane));
            if same_length(&messages) {
                // SAFETY: `available()` checked that the CPU has the instructions.
                unsafe { avx512::digest_lanes(start, &messages, group) };
            } else {
                digest_in_fours(start, |i| messages[i], group);
            }
            first += avx512::WIDTH;
        }
        rest = groups.into_remainder();
    }
    digest_in_fours(start, |i| message(first + i), rest);
}

fn same_length(messages: &[Message<'_>]) -> bool {
    messages.iter().all(|m| m.len == messages[0].len)
}

/// [`digest_all_from`] with SHA-NI, [`LANES`] messages at a time.
pub(crate) fn digest_in_fours<'a>(
    start: &Start,
    message: impl Fn(usize) -> Message<'a>,
    out: &mut [Hash],
) {
    let interleave = x86::available();
    let mut groups = out.chunks_exact_mut(LANES);
    let mut first = 0;
    for group in &mut groups {
        let messages: [Message<'a>; LANES] = std::array::from_fn(|lane| message(first + lane));
        if interleave && same_length(&messages) {
            // SAFETY: `available()` checked that the CPU has the instructions.
            unsafe { x86::digest_lanes(start, &messages, group) };
        } else {
            for (slot, m) in group.iter_mut().zip(&messages) {
                *slot = m.digest_from(start);
            }
        }
        first += LANES;
    }
    for (offset, slot) in groups.into_remainder().iter_mut().enumerate() {
        *slot = message(first + offset).digest_from(start);
    }
}

/// SHA-NI, four lanes interleaved (x86-64 only).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::{Message, Start, LANES};
    use crate::hash::Hash;

    /// Whether this CPU has SHA-NI and the SSE versions the code uses.
    pub fn available() -> bool {
        std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("sse4.1")
            && std::is_x86_feature_detected!("ssse3")
    }

    /// FIPS 180-4 round constants.
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// The eight state words as SHA-NI wants them: (A, B, E, F) and (C, D, G, H).
    #[derive(Clone, Copy)]
    struct State {
        abef: __m128i,
        cdgh: __m128i,
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn load(words: &[u32; 8]) -> State {
        // SAFETY: both loads read 16 bytes inside `words` (unaligned loads).
        let (abcd, efgh) = unsafe {
            (
                _mm_loadu_si128(words.as_ptr().cast()),
                _mm_loadu_si128(words.as_ptr().add(4).cast()),
            )
        };
        let cdab = _mm_shuffle_epi32(abcd, 0xB1);
        let hgfe = _mm_shuffle_epi32(efgh, 0x1B);
        State {
            abef: _mm_alignr_epi8(cdab, hgfe, 8),
            cdgh: _mm_blend_epi16(hgfe, cdab, 0xF0),
        }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn digest_bytes(state: State) -> Hash {
        let feba = _mm_shuffle_epi32(state.abef, 0x1B);
        let dchg = _mm_shuffle_epi32(state.cdgh, 0xB1);
        let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
        let hgfe = _mm_alignr_epi8(dchg, feba, 8);
        // Big-endian bytes of each word: reverse the bytes within 32-bit lanes.
        let swap = _mm_set_epi64x(0x0c0d0e0f08090a0b, 0x0405060700010203);
        let mut out = [0u8; 32];
        // SAFETY: both stores write 16 bytes inside `out` (unaligned stores).
        unsafe {
            _mm_storeu_si128(out.as_mut_ptr().cast(), _mm_shuffle_epi8(dcba, swap));
            _mm_storeu_si128(
                out.as_mut_ptr().add(16).cast(),
                _mm_shuffle_epi8(hgfe, swap),
            );
        }
        out
    }

    /// One compression of one block into each lane's state, interleaved.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress(states: &mut [State; LANES], blocks: &[[u8; 64]; LANES]) {
        let swap = _mm_set_epi64x(0x0c0d0e0f08090a0b, 0x0405060700010203);
        let before = *states;
        // The message schedule, four words per vector, a ring of four vectors.
        let mut w = [[_mm_setzero_si128(); 4]; LANES];
        for quad in 0..16 {
            for (lane, ring) in w.iter_mut().enumerate() {
                ring[quad % 4] = if quad < 4 {
                    // SAFETY: reads 16 bytes inside the 64-byte block.
                    let words =
                        unsafe { _mm_loadu_si128(blocks[lane].as_ptr().add(16 * quad).cast()) };
                    _mm_shuffle_epi8(words, swap)
                } else {
                    // W[t] from W[t-16], W[t-15], W[t-7] and W[t-2], four at a time.
                    let (w16, w12) = (ring[quad % 4], ring[(quad + 1) % 4]);
                    let (w8, w4) = (ring[(quad + 2) % 4], ring[(quad + 3) % 4]);
                    let partial =
                        _mm_add_epi32(_mm_sha256msg1_epu32(w16, w12), _mm_alignr_epi8(w4, w8, 4));
                    _mm_sha256msg2_epu32(partial, w4)
                };
            }
            // SAFETY: reads K[4 * quad..4 * quad + 4], inside the 64-word table.
            let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * quad).cast()) };
            for (state, ring) in states.iter_mut().zip(&w) {
                let wk = _mm_add_epi32(ring[quad % 4], k);
                state.cdgh = _mm_sha256rnds2_epu32(state.cdgh, state.abef, wk);
                state.abef =
                    _mm_sha256rnds2_epu32(state.abef, state.cdgh, _mm_shuffle_epi32(wk, 0x0E));
            }
        }
        for (state, start) in states.iter_mut().zip(&before) {
            state.abef = _mm_add_epi32(state.abef, start.abef);
            state.cdgh = _mm_add_epi32(state.cdgh, start.cdgh);
        }
    }

    /// SHA-256 of four messages of one length, continuing from `start`.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub fn digest_lanes(start: &Start, messages: &[Message<'_>; LANES], out: &mut [Hash]) {
        let initial = load(&start.words);
        let mut states = [initial; LANES];
        let mut blocks = [[0u8; 64]; LANES];
        for index in 0..messages[0].block_count() {
            for (block, message) in blocks.iter_mut().zip(messages) {
                message.block(index, start.absorbed, block);
            }
            compress(&mut states, &blocks);
        }
        for (slot, state) in out.iter_mut().zip(states) {
            *slot = digest_bytes(state);
        }
    }
}

/// Without SHA-NI every message is hashed on its own.
#[cfg(not(target_arch = "x86_64"))]
mod x86 {
    pub fn available() -> bool {
        false
    }

    pub unsafe fn digest_lanes(
        _: &super::Start,
        _: &[super::Message<'_>; super::LANES],
        _: &mut [crate::hash::Hash],
    ) {
        unreachable!("guarded by available()")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn padded_blocks_spell_the_padded_message() {
        for len in [0, 1, 54, 55, 56, 63, 64, 65, 119, 120, 200] {
            let data = pseudo_random_bytes(len, len as u64);
            let (a, b) = data.split_at(len / 3);
            let message = Message::new([&[], a, b]);
            let mut expected = data.clone();
            expected.push(0x80);
            while expected.len() % 64 != 56 {
                expected.push(0);
            }
            expected.extend_from_slice(&(len as u64 * 8).to_be_bytes());
            let mut spelled = Vec::new();
            for index in 0..message.block_count() {
                let mut block = [0u8; 64];
                message.block(index, 0, &mut block);
                spelled.extend_from_slice(&block);
            }
            assert_eq!(spelled, expected, "len = {len}");
        }
    }

    #[test]
    fn digest_all_equals_sha256_of_each_message() {
        // Every length class around the padding boundaries, in groups of
        // sixteen and four equal lengths, mixed lengths, and remainders.
        for len in [0usize, 1, 31, 32, 33, 54, 55, 56, 64, 65, 100, 128, 1000] {
            for count in [0usize, 1, 3, 4, 5, 8, 13, 16, 17, 35, 48] {
                let data: Vec<Vec<u8>> = (0..count)
                    .map(|i| pseudo_random_bytes(len + i % 2 * (len % 3), i as u64))
                    .collect();
                let mut out = vec![[0u8; 32]; count];
                digest_all(|i| Message::new([b"\x01", &data[i], b"tail"]), &mut out);
                for (i, digest) in out.iter().enumerate() {
                    let whole = [b"\x01".as_slice(), &data[i], b"tail"].concat();
                    assert_eq!(
                        *digest,
                        sha256(&whole),
                        "len = {len}, count = {count}, i = {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn digest_all_from_a_prefix_state_equals_sha256_of_prefix_and_message() {
        for prefix_len in [0usize, 1, 63, 64, 65, 130, 200] {
            let prefix = pseudo_random_bytes(prefix_len, 99);
            let (start, rest) = Start::after_blocks(&prefix);
            assert_eq!(rest.len(), prefix_len % 64);
            let nonces: Vec<[u8; 8]> = (0..37u64).map(u64::to_be_bytes).collect();
            let mut out = vec![[0u8; 32]; nonces.len()];
            digest_all_from(&start, |i| Message::new([rest, &nonces[i], &[]]), &mut out);
            for (digest, nonce) in out.iter().zip(&nonces) {
                let whole = [prefix.as_slice(), nonce].concat();
                assert_eq!(*digest, sha256(&whole), "prefix_len = {prefix_len}");
            }
        }
    }

    #[test]
    fn one_message_path_equals_sha256_for_every_length() {
        // The path taken without SHA-NI, for leftovers and unequal lengths.
        for len in 0..300 {
            let data = pseudo_random_bytes(len, 7);
            let (a, b) = data.split_at(len / 2);
            let message = Message::new([a, &[], b]);
            assert_eq!(
                message.digest_from(&Start::INITIAL),
                sha256(&data),
                "len = {len}"
            );
        }
    }
}
