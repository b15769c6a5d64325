//! Measurements behind the parallel thresholds (`PARALLEL_FROM`, `MAX_CHUNK`).
//!
//! Not a test of behaviour: run by hand on the target machine with
//! `cargo test --release -p rust_core -- --ignored calibrate --nocapture`
//! and read the table. Each row times the serial and the parallel path of
//! one operation on the same input (best of several runs).

use std::time::{Duration, Instant};

use crate::hash::{sha256, sha256_many_with};
use crate::lanes::{digest_all, digest_in_fours, Message, Start};
use crate::merkle::merkle_root_with;
use crate::sig::{public_key, sign, verify_batch_with, PublicKey, SignatureBytes};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn report(what: &str, n: usize, serial: Duration, parallel: Duration) {
    compare(what, n, ("serial", serial), ("parallel", parallel));
}

fn compare(what: &str, n: usize, (name_a, a): (&str, Duration), (name_b, b): (&str, Duration)) {
    println!(
        "{what:<28} n={n:>7}  {name_a} {:>10.1} us  {name_b} {:>10.1} us  speed-up {:.2}",
        a.as_secs_f64() * 1e6,
        b.as_secs_f64() * 1e6,
        a.as_secs_f64() / b.as_secs_f64()
    );
}

#[test]
#[ignore = "measurement, run by hand"]
fn calibrate_lanes() {
    // One core: one message at a time (the `sha2` crate), four interleaved
    // SHA-NI lanes, and `digest_all`, which takes sixteen AVX-512 lanes
    // where the CPU has them.
    let messages: Vec<[u8; 64]> = (0..4096).map(|i| [i as u8; 64]).collect();
    let message = |i: usize| Message::new([&messages[i], &[], &[]]);
    let mut expected = vec![[0u8; 32]; messages.len()];
    let one_at_a_time = best_of(50, || {
        for (slot, message) in expected.iter_mut().zip(&messages) {
            *slot = sha256(message);
        }
    });
    let mut out = vec![[0u8; 32]; messages.len()];
    let fours = best_of(50, || digest_in_fours(&Start::INITIAL, message, &mut out));
    assert_eq!(out, expected);
    let widest = best_of(50, || digest_all(message, &mut out));
    assert_eq!(out, expected);
    compare(
        "SHA-256 of 64 B messages",
        messages.len(),
        ("1 lane", one_at_a_time),
        ("4 SHA-NI lanes", fours),
    );
    compare(
        "SHA-256 of 64 B messages",
        messages.len(),
        ("4 SHA-NI lanes", fours),
        ("digest_all", widest),
    );
}

#[test]
#[ignore = "measurement, run by hand"]
fn calibrate_sha256_many() {
    for n in [64, 256, 512, 1024, 2048, 8192, 65536] {
        let items: Vec<[u8; 64]> = (0..n).map(|i| [i as u8; 64]).collect();
        let serial = best_of(50, || sha256_many_with(items.as_slice(), usize::MAX));
        let parallel = best_of(50, || sha256_many_with(items.as_slice(), 0));
        report("sha256_many (64 B items)", n, serial, parallel);
    }
}

#[test]
#[ignore = "measurement, run by hand"]
fn calibrate_merkle_root() {
    // Subtrees of up to 1024 leaves are never split, so smaller trees have
    // no parallel path to compare.
    for n in [1025, 2048, 4096, 16384, 1 << 20] {
        let leaves: Vec<[u8; 32]> = (0..n).map(|i| [i as u8; 32]).collect();
        let runs = if n > 100_000 { 5 } else { 50 };
        let serial = best_of(runs, || merkle_root_with(leaves.as_slice(), usize::MAX));
        let parallel = best_of(runs, || merkle_root_with(leaves.as_slice(), 0));
        report("merkle_root (32 B leaves)", n, serial, parallel);
    }
}

#[test]
#[ignore = "measurement, run by hand"]
fn calibrate_verify_batch() {
    let n = 10_000usize;
    let mut keys: Vec<PublicKey> = Vec::new();
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut sigs: Vec<SignatureBytes> = Vec::new();
    for i in 0..n {
        let seed = crate::hash::sha256(&i.to_le_bytes());
        let msg = format!("transaction {i} with some payload bytes").into_bytes();
        keys.push(public_key(&seed));
        sigs.push(sign(&seed, &msg));
        msgs.push(msg);
    }
    for size in [8, 16, 32, 64, 128, 512, 10_000] {
        let (k, m, s) = (&keys[..size], &msgs[..size], &sigs[..size]);
        let runs = if size > 1000 { 5 } else { 30 };
        let serial = best_of(runs, || verify_batch_with(k, m, s, usize::MAX, usize::MAX));
        let parallel = best_of(runs, || verify_batch_with(k, m, s, 0, usize::MAX));
        report("verify_batch (chunk/worker)", size, serial, parallel);
    }
    for chunk in [64, 128, 256, 512, 1024, 5000] {
        let elapsed = best_of(5, || {
            verify_batch_with(&keys, msgs.as_slice(), &sigs, 0, chunk)
        });
        println!(
            "verify_batch n={n} chunk={chunk:>5}: {:>8.1} ms, {:>9.0} signatures/s",
            elapsed.as_secs_f64() * 1e3,
            n as f64 / elapsed.as_secs_f64()
        );
    }
    let mut bad = sigs.clone();
    bad[n / 2][0] ^= 1;
    for chunk in [128, 256, 512, 1024] {
        let elapsed = best_of(3, || {
            verify_batch_with(&keys, msgs.as_slice(), &bad, 0, chunk)
        });
        println!(
            "verify_batch n={n} chunk={chunk:>5} one bad: {:>8.1} ms",
            elapsed.as_secs_f64() * 1e3
        );
    }
}

#[test]
#[ignore = "measurement, run by hand"]
fn calibrate_pow_search() {
    // A target no hash meets, so every nonce in the range is tried.
    let impossible = [0u8; 32];
    let header = [7u8; 120];
    for count in [1u64 << 12, 1 << 15, 1 << 20] {
        let serial = best_of(5, || {
            (0..count)
                .find(|&n| crate::pow::meets_target(&crate::pow::pow_hash(&header, n), &impossible))
        });
        let searched = best_of(5, || crate::pow::pow_search(&header, &impossible, 0, count));
        compare(
            "pow nonces (naive vs search)",
            count as usize,
            ("naive", serial),
            ("pow_search", searched),
        );
    }
}
