//! Ordinet's hot path: SHA-256, RFC 6962 Merkle trees, Ed25519 signatures
//! with ZIP-215 rules, and the proof-of-work nonce search.
//!
//! The modules below are plain Rust with no Python in them, tested by
//! `cargo test`. With the `python` feature, [`python`] wraps them as the
//! extension module `node._core` (built by maturin).

pub mod error;
pub mod hash;
pub mod items;
mod lanes;
pub mod merkle;
mod par;
pub mod pow;
pub mod sig;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod calibrate;
