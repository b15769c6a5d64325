//! The signed part of an encoded transaction, and the check of many
//! transactions' signatures in one batch.
//!
//! The layout is docs/PROTOCOL.md's, whose reference implementation is
//! `node.types.Transaction.decode`:
//!
//! | offset | field | type |
//! |---|---|---|
//! | 0 | version | u8, must be 1 |
//! | 1 | chain_id | u8 length `c` (1..=32), then `c` bytes of `[A-Za-z0-9._-]` |
//! | 2+c | sender | 32 bytes, the Ed25519 public key that signs |
//! | 34+c | nonce, recipient, amount, fee | u64, 32 bytes, u64, u64 |
//! | 90+c | data_len | u16 big-endian `d` (0..=1024) |
//! | 92+c | data | `d` bytes |
//! | 92+c+d | signature | 64 bytes, over `TX_DOMAIN || body` |
//!
//! with nothing after the signature; the body is everything before it.
//! [`signed_part`] accepts exactly the encodings the reference decodes (a
//! differential test in `tests/crypto/` holds it to that) and reads only
//! what a verifier needs; the other fields take any value.

use crate::error::CoreResult;
use crate::items::{FlatItems, Items};
use crate::sig::{self, PublicKey, SignatureBytes, PUBLIC_KEY_SIZE, SIGNATURE_SIZE};

/// The only transaction version.
pub const TX_VERSION: u8 = 1;
/// Domain tag before the body in the signed message.
pub const TX_DOMAIN: &[u8] = b"ordinet/tx/v1\x00";
/// Longest chain id.
pub const MAX_NAME_LEN: usize = 32;
/// Longest data payload.
pub const MAX_TX_DATA: usize = 1024;

/// nonce (8), recipient (32), amount (8), fee (8) between sender and data_len.
const FIELDS_AFTER_SENDER: usize = 8 + 32 + 8 + 8;

/// Why an encoding is not a transaction (the reference's `DecodeError` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Truncated,
    UnknownVersion,
    Oversize,
    BadName,
    TrailingBytes,
}

/// What a verifier needs from an encoded transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedPart<'a> {
    /// The sender's public key.
    pub sender: &'a PublicKey,
    /// Everything before the signature; the signed message is `TX_DOMAIN || body`.
    pub body: &'a [u8],
    pub signature: &'a SignatureBytes,
}

/// Reads `raw` front to back, failing the way the reference's `Reader` does.
struct Cursor<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.raw.len());
        let end = end.ok_or(Malformed::Truncated)?;
        let bytes = &self.raw[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], Malformed> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')
}

/// The sender, body and signature of `raw`, or why `raw` is not the
/// encoding of a transaction.
pub fn signed_part(raw: &[u8]) -> Result<SignedPart<'_>, Malformed> {
    let mut cursor = Cursor { raw, pos: 0 };
    let [version] = *cursor.array::<1>()?;
    if version != TX_VERSION {
        return Err(Malformed::UnknownVersion);
    }
    let [name_len] = *cursor.array::<1>()?;
    if usize::from(name_len) > MAX_NAME_LEN {
        return Err(Malformed::Oversize);
    }
    let name = cursor.take(usize::from(name_len))?;
    if name.is_empty() || !name.iter().copied().all(is_name_byte) {
        return Err(Malformed::BadName);
    }
    let sender = cursor.array::<PUBLIC_KEY_SIZE>()?;
    cursor.take(FIELDS_AFTER_SENDER)?;
    let data_len = usize::from(u16::from_be_bytes(*cursor.array::<2>()?));
    if data_len > MAX_TX_DATA {
        return Err(Malformed::Oversize);
    }
    cursor.take(data_len)?;
    let body_len = cursor.pos;
    let signature = cursor.array::<SIGNATURE_SIZE>()?;
    if cursor.pos != raw.len() {
        return Err(Malformed::TrailingBytes);
    }
    Ok(SignedPart {
        sender,
        body: &raw[..body_len],
        signature,
    })
}

/// For each encoding: whether it is a transaction signed by its sender
/// (`Ok(true)`), a transaction with a bad signature (`Ok(false)`), or not a
/// transaction at all (`Err`). The signatures of all the well-formed ones
/// are checked together by [`sig::verify_batch`], so the verdicts are
/// exactly [`sig::verify`]'s.
pub fn verify_encoded<I: Items + ?Sized>(raws: &I) -> CoreResult<Vec<Result<bool, Malformed>>> {
    let parts: Vec<Result<SignedPart<'_>, Malformed>> = (0..raws.count())
        .map(|i| signed_part(raws.item(i)))
        .collect();
    let signed: Vec<&SignedPart<'_>> = parts.iter().filter_map(|part| part.as_ref().ok()).collect();
    let keys: Vec<PublicKey> = signed.iter().map(|part| *part.sender).collect();
    let sigs: Vec<SignatureBytes> = signed.iter().map(|part| *part.signature).collect();
    let message_bytes = signed
        .iter()
        .map(|part| TX_DOMAIN.len() + part.body.len())
        .sum();
    let mut msgs = FlatItems::with_capacity(signed.len(), message_bytes);
    for part in &signed {
        msgs.push_parts(&[TX_DOMAIN, part.body]);
    }
    let mut verdicts = sig::verify_batch(&keys, &msgs, &sigs)?.into_iter();
    Ok(parts
        .iter()
        .map(|part| match part {
            Ok(_) => Ok(verdicts.next().expect("one verdict per signed part")),
            Err(malformed) => Err(*malformed),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    /// A transaction encoding, laid out field by field.
    fn encode(chain_id: &[u8], sender: &PublicKey, data: &[u8], signature: &[u8; 64]) -> Vec<u8> {
        let mut raw = vec![TX_VERSION, chain_id.len() as u8];
        raw.extend_from_slice(chain_id);
        raw.extend_from_slice(sender);
        raw.extend_from_slice(&7u64.to_be_bytes());
        raw.extend_from_slice(&[9; 32]);
        raw.extend_from_slice(&100u64.to_be_bytes());
        raw.extend_from_slice(&2u64.to_be_bytes());
        raw.extend_from_slice(&(data.len() as u16).to_be_bytes());
        raw.extend_from_slice(data);
        raw.extend_from_slice(signature);
        raw
    }

    /// A transaction by key `i`, signed over `TX_DOMAIN || body`.
    fn signed_tx(i: u32, data: &[u8]) -> Vec<u8> {
        let seed = sha256(&i.to_le_bytes());
        let key = sig::public_key(&seed);
        let unsigned = encode(b"ordinet-test", &key, data, &[0; 64]);
        let body = &unsigned[..unsigned.len() - 64];
        let signature = sig::sign(&seed, &[TX_DOMAIN, body].concat());
        encode(b"ordinet-test", &key, data, &signature)
    }

    #[test]
    fn signed_part_finds_sender_body_and_signature() {
        let key = [5u8; 32];
        let raw = encode(b"main", &key, b"hello", &[8; 64]);
        let part = signed_part(&raw).unwrap();
        assert_eq!(part.sender, &key);
        assert_eq!(part.body, &raw[..raw.len() - 64]);
        assert_eq!(part.signature, &[8; 64]);
        assert_eq!(raw.len(), 156 + 4 + 5, "PROTOCOL.md's size");
    }

    #[test]
    fn malformed_encodings_say_why() {
        let good = encode(b"main", &[5; 32], b"hello", &[8; 64]);
        assert_eq!(signed_part(b""), Err(Malformed::Truncated));
        assert_eq!(
            signed_part(&good[..good.len() - 1]),
            Err(Malformed::Truncated)
        );
        assert_eq!(
            signed_part(&[good.as_slice(), b"x"].concat()),
            Err(Malformed::TrailingBytes)
        );
        let mut version = good.clone();
        version[0] = 2;
        assert_eq!(signed_part(&version), Err(Malformed::UnknownVersion));
        let empty_name = encode(b"", &[5; 32], b"", &[8; 64]);
        assert_eq!(signed_part(&empty_name), Err(Malformed::BadName));
        let odd_name = encode(b"ma in", &[5; 32], b"", &[8; 64]);
        assert_eq!(signed_part(&odd_name), Err(Malformed::BadName));
        let long_name = encode(&[b'a'; 33], &[5; 32], b"", &[8; 64]);
        assert_eq!(signed_part(&long_name), Err(Malformed::Oversize));
        let longest = encode(&[b'a'; 32], &[5; 32], &[0; MAX_TX_DATA], &[8; 64]);
        assert_eq!(longest.len(), 1212, "PROTOCOL.md's largest transaction");
        assert!(signed_part(&longest).is_ok());
        let big_data = encode(b"main", &[5; 32], &[0; MAX_TX_DATA + 1], &[8; 64]);
        assert_eq!(signed_part(&big_data), Err(Malformed::Oversize));
    }

    #[test]
    fn verify_encoded_tells_good_bad_and_malformed_apart() {
        let good = signed_tx(1, b"");
        let mut forged = signed_tx(2, b"payload");
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let mut tampered = signed_tx(3, b"payload");
        tampered[60] ^= 1; // inside the recipient: still well-formed
        let raws = [
            good.clone(),
            forged,
            b"\x01".to_vec(),
            tampered,
            signed_tx(4, b"x"),
        ];
        let verdicts = verify_encoded(raws.as_slice()).unwrap();
        assert_eq!(
            verdicts,
            vec![
                Ok(true),
                Ok(false),
                Err(Malformed::Truncated),
                Ok(false),
                Ok(true)
            ]
        );
        let part = signed_part(&good).unwrap();
        let message = [TX_DOMAIN, part.body].concat();
        assert!(sig::verify(part.sender, &message, part.signature));
        assert!(verify_encoded(&[] as &[&[u8]]).unwrap().is_empty());
    }
}
