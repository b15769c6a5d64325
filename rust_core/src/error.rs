//! The one error type of the crate.
//!
//! Every failure a caller can cause with bad arguments is a [`CoreError`];
//! `python.rs` turns it into a Python `ValueError` at the boundary. Invalid
//! signatures and proofs that do not verify are *answers* (`false`), not
//! errors.

use thiserror::Error;

/// What was wrong with the arguments of a call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// A fixed-size argument (key, seed, signature, hash) had the wrong length.
    #[error("{what} must be {expected} bytes, got {actual}")]
    BadLength {
        what: &'static str,
        expected: usize,
        actual: usize,
    },

    /// Like `BadLength`, for one entry of a batch.
    #[error("{what}[{index}] must be {expected} bytes, got {actual}")]
    BadLengthAt {
        what: &'static str,
        index: usize,
        expected: usize,
        actual: usize,
    },

    /// Parallel sequences of a batch call differ in length.
    #[error("batch sequences differ in length: {what}")]
    LengthMismatch { what: String },

    /// `item_size` of a packed buffer was zero.
    #[error("item_size must be positive")]
    ZeroItemSize,

    /// A packed buffer is not a whole number of items.
    #[error("buffer length {len} is not a multiple of item_size {item_size}")]
    RaggedBuffer { len: usize, item_size: usize },

    /// A leaf index outside the tree.
    #[error("index {index} out of range for a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },

    /// An integer argument outside `[0, 2**64)` (a negative index, say).
    #[error("{what} must be an integer in [0, 2**64), got {value}")]
    NotU64 { what: &'static str, value: String },

    /// A nonce range that does not fit in 64 bits.
    #[error("nonce range [{start}, {start} + {count}) does not fit in 64 bits")]
    NonceRangeOverflow { start: u64, count: u64 },
}

/// Result of a call that can fail on its arguments.
pub type CoreResult<T> = Result<T, CoreError>;

/// Copies `bytes` into a fixed-size array or says which argument was wrong.
pub fn fixed<const N: usize>(what: &'static str, bytes: &[u8]) -> CoreResult<[u8; N]> {
    bytes.try_into().map_err(|_| CoreError::BadLength {
        what,
        expected: N,
        actual: bytes.len(),
    })
}

/// [`fixed`] for entry `index` of a batch.
pub fn fixed_at<const N: usize>(
    what: &'static str,
    index: usize,
    bytes: &[u8],
) -> CoreResult<[u8; N]> {
    bytes.try_into().map_err(|_| CoreError::BadLengthAt {
        what,
        index,
        expected: N,
        actual: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_accepts_exact_length_only() {
        assert_eq!(fixed::<2>("x", b"ab"), Ok(*b"ab"));
        let err = fixed::<2>("seed", b"abc").unwrap_err();
        assert_eq!(err.to_string(), "seed must be 2 bytes, got 3");
        let err = fixed_at::<4>("sigs", 7, b"").unwrap_err();
        assert_eq!(err.to_string(), "sigs[7] must be 4 bytes, got 0");
    }
}
