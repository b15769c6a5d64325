//! Ed25519 keys, signatures and (batch) verification with ZIP-215 rules.
//!
//! Verification follows ZIP-215 (through `ed25519-zebra`): the cofactored
//! equation `[8][s]B = [8]R + [8][k]A`, any point encoding that decodes
//! (non-canonical ones included), `s` required canonical. The point of those
//! rules is that single and batch verification accept exactly the same
//! signatures, so consensus cannot depend on which one a node used.
//!
//! A verification key that does not decode to a curve point is an invalid
//! signature (`false`), not an error: it is just as much the signer's fault.

use ed25519_zebra::batch::{Item, Verifier};
use ed25519_zebra::{Signature, SigningKey, VerificationKey, VerificationKeyBytes};

use crate::error::{CoreError, CoreResult};
use crate::items::Items;

/// Length of a private seed.
pub const SEED_SIZE: usize = 32;
/// Length of a public (verification) key.
pub const PUBLIC_KEY_SIZE: usize = 32;
/// Length of a signature.
pub const SIGNATURE_SIZE: usize = 64;

/// A 32-byte private seed (RFC 8032's "private key").
pub type Seed = [u8; SEED_SIZE];
/// A 32-byte compressed Edwards point.
pub type PublicKey = [u8; PUBLIC_KEY_SIZE];
/// `R || s`, 64 bytes.
pub type SignatureBytes = [u8; SIGNATURE_SIZE];

/// Batches of fewer signatures are checked on the calling thread, in one
/// batch equation.
///
/// Measured with `cargo test --release -- --ignored calibrate --nocapture`
/// (2 cores): a signature costs ~15 us even in a small batch, so two chunks
/// of 8 already finish 1.6x sooner than one of 16 (64: 1.9x); smaller
/// batches are left alone, where a worker's wake-up would be a visible
/// share of the work.
pub const PARALLEL_FROM: usize = 16;

/// Most signatures in one batch equation.
///
/// A batch is cut into one chunk per worker, at most this large. Larger
/// chunks amortise more of the multi-scalar multiplication (10,000
/// signatures on 2 cores: chunks of 256 give ~147k/s, 1024 ~164k/s, 5000
/// ~172k/s), but a chunk that fails is re-checked one signature at a time,
/// so each bad signature costs up to a chunk of single verifications
/// (~25 ms for 1024).
pub const MAX_CHUNK: usize = 1024;

/// The public key of `seed`.
pub fn public_key(seed: &Seed) -> PublicKey {
    VerificationKey::from(&SigningKey::from(*seed)).into()
}

/// The RFC 8032 signature of `msg` under `seed` (deterministic).
pub fn sign(seed: &Seed, msg: &[u8]) -> SignatureBytes {
    SigningKey::from(*seed).sign(msg).to_bytes()
}

/// Whether `sig` is a valid signature of `msg` by `public_key` (ZIP-215).
pub fn verify(public_key: &PublicKey, msg: &[u8], sig: &SignatureBytes) -> bool {
    VerificationKey::try_from(*public_key)
        .and_then(|key| key.verify(&Signature::from_bytes(sig), msg))
        .is_ok()
}

/// For each entry, whether `sigs[i]` is a valid signature of `msgs[i]` by
/// `public_keys[i]`; exactly what [`verify`] says entry by entry.
pub fn verify_batch<M: Items + ?Sized>(
    public_keys: &[PublicKey],
    msgs: &M,
    sigs: &[SignatureBytes],
) -> CoreResult<Vec<bool>> {
    verify_batch_with(public_keys, msgs, sigs, PARALLEL_FROM, MAX_CHUNK)
}

/// [`verify_batch`] with explicit tuning (for calibration).
pub fn verify_batch_with<M: Items + ?Sized>(
    public_keys: &[PublicKey],
    msgs: &M,
    sigs: &[SignatureBytes],
    parallel_from: usize,
    max_chunk: usize,
) -> CoreResult<Vec<bool>> {
    let n = public_keys.len();
    if msgs.count() != n || sigs.len() != n {
        return Err(CoreError::LengthMismatch {
            what: format!(
                "{n} public keys, {} messages, {} signatures",
                msgs.count(),
                sigs.len()
            ),
        });
    }
    let parallel = n >= parallel_from;
    let workers = if parallel {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    let chunk = n.div_ceil(workers).clamp(1, max_chunk.max(1));
    let chunk_parallel_from = if parallel { 0 } else { usize::MAX };
    let verdicts = crate::par::map_indices(n.div_ceil(chunk), chunk_parallel_from, 1, |c| {
        let range = c * chunk..n.min((c + 1) * chunk);
        verify_chunk(range.map(|i| {
            let key = VerificationKeyBytes::from(public_keys[i]);
            Item::from((key, Signature::from_bytes(&sigs[i]), msgs.item(i)))
        }))
    });
    Ok(verdicts.concat())
}

/// Checks a chunk with one batch equation; if that fails, finds the bad
/// entries by checking each one alone. Under ZIP-215 both give the same
/// verdicts, and the batch succeeds only if every entry is valid (up to a
/// 2^-128 chance, from fresh randomness of a CSPRNG each time).
fn verify_chunk(entries: impl Iterator<Item = Item>) -> Vec<bool> {
    let items: Vec<Item> = entries.collect();
    let mut batch = Verifier::new();
    for item in &items {
        batch.queue(item.clone());
    }
    if batch.verify(rand::rng()).is_ok() {
        vec![true; items.len()]
    } else {
        items
            .into_iter()
            .map(|item| item.verify_single().is_ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tests::unhex;

    fn seed(i: u32) -> Seed {
        crate::hash::sha256(&i.to_le_bytes())
    }

    /// `n` valid (key, message, signature) entries from distinct keys.
    fn signed_entries(n: u32) -> (Vec<PublicKey>, Vec<Vec<u8>>, Vec<SignatureBytes>) {
        let mut keys = Vec::new();
        let mut msgs = Vec::new();
        let mut sigs = Vec::new();
        for i in 0..n {
            let msg = format!("message {i}").into_bytes();
            keys.push(public_key(&seed(i)));
            sigs.push(sign(&seed(i), &msg));
            msgs.push(msg);
        }
        (keys, msgs, sigs)
    }

    #[test]
    fn rfc_8032_test_1() {
        let seed: Seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .try_into()
            .unwrap();
        let key = public_key(&seed);
        assert_eq!(
            key.to_vec(),
            unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let sig = sign(&seed, b"");
        assert_eq!(
            sig.to_vec(),
            unhex(concat!(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
                "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            ))
        );
        assert!(verify(&key, b"", &sig));
    }

    #[test]
    fn sign_then_verify_and_corruptions_fail() {
        let key = public_key(&seed(1));
        let sig = sign(&seed(1), b"hello");
        assert!(verify(&key, b"hello", &sig));
        assert!(!verify(&key, b"hellp", &sig));
        let mut bad_sig = sig;
        bad_sig[10] ^= 4;
        assert!(!verify(&key, b"hello", &bad_sig));
        assert!(!verify(&public_key(&seed(2)), b"hello", &sig));
    }

    #[test]
    fn key_that_is_not_a_point_is_an_invalid_signature() {
        // y = 2 is not the y-coordinate of any point on edwards25519.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(VerificationKey::try_from(not_a_point).is_err());
        let sig = sign(&seed(1), b"m");
        assert!(!verify(&not_a_point, b"m", &sig));
        let verdicts = verify_batch(&[not_a_point], [b"m"].as_slice(), &[sig]).unwrap();
        assert_eq!(verdicts, vec![false]);
    }

    #[test]
    fn batch_of_valid_signatures_is_all_true_on_both_paths() {
        let (keys, msgs, sigs) = signed_entries(300);
        let serial = verify_batch_with(&keys, msgs.as_slice(), &sigs, usize::MAX, 1000).unwrap();
        let parallel = verify_batch_with(&keys, msgs.as_slice(), &sigs, 0, 32).unwrap();
        assert_eq!(serial, vec![true; 300]);
        assert_eq!(parallel, serial);
    }

    #[test]
    fn batch_identifies_exactly_the_bad_entries() {
        let (keys, mut msgs, mut sigs) = signed_entries(200);
        msgs[3].push(b'!');
        sigs[77][40] ^= 1;
        sigs[150] = sigs[151];
        let verdicts = verify_batch_with(&keys, msgs.as_slice(), &sigs, 0, 16).unwrap();
        let expected: Vec<bool> = (0..200)
            .map(|i| verify(&keys[i], &msgs[i], &sigs[i]))
            .collect();
        assert_eq!(verdicts, expected);
        let bad: Vec<usize> = (0..200).filter(|&i| !verdicts[i]).collect();
        assert_eq!(bad, vec![3, 77, 150]);
    }

    #[test]
    fn batch_of_one_key_signing_many_messages() {
        let key = public_key(&seed(9));
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; i as usize]).collect();
        let mut sigs: Vec<SignatureBytes> = msgs.iter().map(|m| sign(&seed(9), m)).collect();
        sigs[5][0] ^= 1;
        let verdicts = verify_batch(&[key; 40], msgs.as_slice(), &sigs).unwrap();
        assert_eq!(verdicts.iter().filter(|&&ok| !ok).count(), 1);
        assert!(!verdicts[5]);
    }

    #[test]
    fn empty_batch_is_empty() {
        assert_eq!(
            verify_batch(&[], &[] as &[&[u8]], &[]).unwrap(),
            Vec::<bool>::new()
        );
    }

    #[test]
    fn batch_sequences_of_different_lengths_are_an_error() {
        let (keys, msgs, sigs) = signed_entries(2);
        let err = verify_batch(&keys, &msgs[..1], &sigs).unwrap_err();
        assert!(matches!(err, CoreError::LengthMismatch { .. }), "{err}");
        assert!(verify_batch(&keys[..1], msgs.as_slice(), &sigs[..1]).is_err());
    }
}
