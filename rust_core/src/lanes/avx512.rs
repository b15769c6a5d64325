//! SHA-256 of sixteen messages at once, one message per 32-bit lane of
//! AVX-512 registers (x86-64 only).
//!
//! Where SHA-NI's round instruction is the bottleneck (on the Sapphire
//! Rapids test machine four interleaved SHA-NI lanes are no faster than
//! two: ~30 ns a block), the plain FIPS 180-4 rounds on sixteen lanes do
//! more blocks per cycle: AVX-512 has 32-bit rotates and three-input logic
//! (`vpternlogd` computes Ch, Maj and the three-way XORs in one
//! instruction each).

use core::arch::x86_64::*;

use super::{Message, Start};
use crate::hash::Hash;

/// Messages hashed together.
pub const WIDTH: usize = 16;

/// FIPS 180-4 round constants.
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// `vpternlogd` truth tables: a ^ b ^ c, Ch(a, b, c), Maj(a, b, c).
const XOR3: i32 = 0x96;
const CH: i32 = 0xCA;
const MAJ: i32 = 0xE8;

#[target_feature(enable = "avx512f")]
#[inline]
fn add(a: __m512i, b: __m512i) -> __m512i {
    _mm512_add_epi32(a, b)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn big_sigma0(x: __m512i) -> __m512i {
    let (r2, r13, r22) = (
        _mm512_ror_epi32::<2>(x),
        _mm512_ror_epi32::<13>(x),
        _mm512_ror_epi32::<22>(x),
    );
    _mm512_ternarylogic_epi32::<XOR3>(r2, r13, r22)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn big_sigma1(x: __m512i) -> __m512i {
    let (r6, r11, r25) = (
        _mm512_ror_epi32::<6>(x),
        _mm512_ror_epi32::<11>(x),
        _mm512_ror_epi32::<25>(x),
    );
    _mm512_ternarylogic_epi32::<XOR3>(r6, r11, r25)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn small_sigma0(x: __m512i) -> __m512i {
    let (r7, r18, s3) = (
        _mm512_ror_epi32::<7>(x),
        _mm512_ror_epi32::<18>(x),
        _mm512_srli_epi32::<3>(x),
    );
    _mm512_ternarylogic_epi32::<XOR3>(r7, r18, s3)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn small_sigma1(x: __m512i) -> __m512i {
    let (r17, r19, s10) = (
        _mm512_ror_epi32::<17>(x),
        _mm512_ror_epi32::<19>(x),
        _mm512_srli_epi32::<10>(x),
    );
    _mm512_ternarylogic_epi32::<XOR3>(r17, r19, s10)
}

/// Round `t`: extends the schedule ring `w` if `t >= 16`, then one round on
/// `s`, whose eight slots hold a..h rotated by `t` (so no values move).
#[target_feature(enable = "avx512f")]
#[inline]
fn step(s: &mut [__m512i; 8], w: &mut [__m512i; 16], t: usize) {
    if t >= 16 {
        let sum = add(
            add(w[t % 16], small_sigma0(w[(t + 1) % 16])),
            add(w[(t + 9) % 16], small_sigma1(w[(t + 14) % 16])),
        );
        w[t % 16] = sum;
    }
    let at = |k: usize| (k + 8 - t % 8) % 8;
    let (a, b, c, d) = (s[at(0)], s[at(1)], s[at(2)], s[at(3)]);
    let (e, f, g, h) = (s[at(4)], s[at(5)], s[at(6)], s[at(7)]);
    let kw = add(w[t % 16], _mm512_set1_epi32(K[t] as i32));
    let ch = _mm512_ternarylogic_epi32::<CH>(e, f, g);
    let t1 = add(add(h, big_sigma1(e)), add(ch, kw));
    let maj = _mm512_ternarylogic_epi32::<MAJ>(a, b, c);
    let t2 = add(big_sigma0(a), maj);
    s[at(3)] = add(d, t1);
    s[at(7)] = add(t1, t2);
}

/// All 64 rounds, written out so that every index above is a constant.
macro_rules! rounds {
    ($s:expr, $w:expr; $($t:literal)*) => {
        $( step($s, $w, $t); )*
    };
}

/// One compression of one block into each lane's state; `w` holds the
/// block's sixteen words, word-major (lane `l` of `w[j]` is word `j` of
/// lane `l`'s block).
#[target_feature(enable = "avx512f")]
fn compress(state: &mut [__m512i; 8], mut w: [__m512i; 16]) {
    let mut s = *state;
    rounds!(&mut s, &mut w;
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
        16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
        48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    for (word, round_out) in state.iter_mut().zip(s) {
        *word = add(*word, round_out);
    }
}

/// Block `index` of `message` into `out`, like `Message::block`, but each
/// piece is copied with one masked load and store instead of a `memcpy`.
#[target_feature(enable = "avx512f,avx512bw")]
fn write_block(message: &Message<'_>, index: usize, absorbed: u64, out: &mut [u8; 64]) {
    // SAFETY: the store writes the 64 bytes of `out`.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), _mm512_setzero_si512()) };
    for (at, piece) in message.pieces(index) {
        // `piece` fits in the block: at most 64 bytes, ending by byte 64.
        let mask = u64::MAX >> (64 - piece.len());
        // SAFETY: the mask enables the first `piece.len()` bytes only, which
        // lie inside `piece` for the load and inside `out[at..]` for the
        // store; masked-off bytes are neither read nor written.
        unsafe {
            let bytes = _mm512_maskz_loadu_epi8(mask, piece.as_ptr().cast());
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(at).cast(), mask, bytes);
        }
    }
    message.pad(index, absorbed, out);
}

/// Sixteen 64-byte blocks as sixteen vectors of big-endian words,
/// word-major: a 16 x 16 transpose of 32-bit words in three rounds of
/// shuffles (32-bit pairs, 64-bit pairs, then 128-bit quarters).
#[target_feature(enable = "avx512f,avx512bw")]
fn transpose(blocks: &[[u8; 64]; WIDTH]) -> [__m512i; 16] {
    let swap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    // SAFETY: each load reads the 64 bytes of one block.
    let rows: [__m512i; 16] = std::array::from_fn(|lane| {
        let row = unsafe { _mm512_loadu_si512(blocks[lane].as_ptr().cast()) };
        _mm512_shuffle_epi8(row, swap)
    });
    // a[2k], a[2k + 1]: in each quarter q, words 4q..4q + 4 of rows 2k, 2k + 1 interleaved.
    let a: [__m512i; 16] = std::array::from_fn(|i| {
        let (x, y) = (rows[i & !1], rows[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(x, y)
        } else {
            _mm512_unpackhi_epi32(x, y)
        }
    });
    // b[4m + i]: in quarter q, word 4q + i of rows 4m..4m + 4.
    let b: [__m512i; 16] = std::array::from_fn(|n| {
        let (m, i) = (n / 4, n % 4);
        let (x, y) = (a[4 * m + i / 2], a[4 * m + 2 + i / 2]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi64(x, y)
        } else {
            _mm512_unpackhi_epi64(x, y)
        }
    });
    // w[4q + i]: quarter m is quarter q of b[4m + i].
    let mut w = [_mm512_setzero_si512(); 16];
    for i in 0..4 {
        let c0 = _mm512_shuffle_i32x4::<0x44>(b[i], b[4 + i]);
        let c1 = _mm512_shuffle_i32x4::<0xEE>(b[i], b[4 + i]);
        let c2 = _mm512_shuffle_i32x4::<0x44>(b[8 + i], b[12 + i]);
        let c3 = _mm512_shuffle_i32x4::<0xEE>(b[8 + i], b[12 + i]);
        w[i] = _mm512_shuffle_i32x4::<0x88>(c0, c2);
        w[4 + i] = _mm512_shuffle_i32x4::<0xDD>(c0, c2);
        w[8 + i] = _mm512_shuffle_i32x4::<0x88>(c1, c3);
        w[12 + i] = _mm512_shuffle_i32x4::<0xDD>(c1, c3);
    }
    w
}

/// Whether this CPU has the AVX-512 instructions the code uses.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
}

/// SHA-256 of sixteen messages of one length, continuing from `start`.
#[target_feature(enable = "avx512f,avx512bw")]
pub fn digest_lanes(start: &Start, messages: &[Message<'_>; WIDTH], out: &mut [Hash]) {
    let mut state: [__m512i; 8] = std::array::from_fn(|j| _mm512_set1_epi32(start.words[j] as i32));
    let mut blocks = [[0u8; 64]; WIDTH];
    for index in 0..messages[0].block_count() {
        for (block, message) in blocks.iter_mut().zip(messages) {
            write_block(message, index, start.absorbed, block);
        }
        compress(&mut state, transpose(&blocks));
    }
    let mut rows: [[u32; WIDTH]; 8] = [[0; WIDTH]; 8];
    for (row, word) in rows.iter_mut().zip(state) {
        // SAFETY: writes the 64 bytes of one `[u32; 16]` row.
        unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), word) };
    }
    for (lane, digest) in out.iter_mut().enumerate() {
        for (bytes, row) in digest.chunks_exact_mut(4).zip(&rows) {
            bytes.copy_from_slice(&row[lane].to_be_bytes());
        }
    }
}
