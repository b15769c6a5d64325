//! The Python face of the crate: the extension module `node._core`.
//!
//! Everything here is conversion. Arguments are checked and copied into
//! owned Rust values while the GIL is held; batch work then runs with the GIL
//! released (`py.detach`), possibly on both cores; results are converted
//! back. One exception to the copy: a `bytes` object is read in place,
//! because nothing can change it and a reference keeps it alive for the
//! whole call (the caller's, for an argument; ours, for an element of a
//! list, which the caller could empty meanwhile). Copying 32 MiB would cost
//! a third of a 2^20-leaf Merkle root, and copying a list's items one by one
//! more than holding them. A [`CoreError`] becomes a `ValueError` in one
//! place (`From` below); an object that is not bytes-like or not an int is
//! a `TypeError`.

use std::borrow::Cow;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::error::{fixed, fixed_at, CoreError};
use crate::hash::{self, Hash, HASH_SIZE};
use crate::items::PackedItems;
use crate::merkle;
use crate::pow;
use crate::sig::{self, PublicKey, SignatureBytes, PUBLIC_KEY_SIZE, SEED_SIZE, SIGNATURE_SIZE};

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

/// Names an argument, or element `index` of one, in an error message; only
/// formatted when there is an error to report.
#[derive(Clone, Copy)]
struct Arg {
    name: &'static str,
    index: Option<usize>,
}

impl Arg {
    const fn named(name: &'static str) -> Self {
        Self { name, index: None }
    }

    const fn element(name: &'static str, index: usize) -> Self {
        Self {
            name,
            index: Some(index),
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(index) => write!(f, "{}[{index}]", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Calls `read` with the bytes of a bytes-like object: borrowed from a
/// `bytes`, copied from any other buffer of unsigned bytes.
fn with_bytes<R>(obj: &Bound<'_, PyAny>, what: Arg, read: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(read(bytes.as_bytes()));
    }
    let buffer = PyBuffer::<u8>::get(obj).map_err(|_| {
        let type_name = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |name| name.to_string());
        PyTypeError::new_err(format!(
            "{what} must be a bytes-like object (a buffer of unsigned bytes), not {type_name}"
        ))
    })?;
    Ok(read(&buffer.to_vec(obj.py())?))
}

/// An owned copy of a bytes-like object.
fn owned_bytes(obj: &Bound<'_, PyAny>, what: &'static str) -> PyResult<Vec<u8>> {
    with_bytes(obj, Arg::named(what), <[u8]>::to_vec)
}

/// The bytes of a bytes-like object, for work done without the GIL: a
/// `bytes` object is borrowed (immutable, and the caller holds it until the
/// call returns); any other buffer is copied, since its owner could change
/// it while the GIL is released.
fn bytes_for_detached_work<'a>(
    obj: &'a Bound<'_, PyAny>,
    what: &'static str,
) -> PyResult<Cow<'a, [u8]>> {
    match obj.cast::<PyBytes>() {
        Ok(bytes) => Ok(Cow::Borrowed(bytes.as_bytes())),
        Err(_) => Ok(Cow::Owned(owned_bytes(obj, what)?)),
    }
}

/// A bytes-like object of exactly `N` bytes.
fn fixed_bytes<const N: usize>(obj: &Bound<'_, PyAny>, what: &'static str) -> PyResult<[u8; N]> {
    Ok(with_bytes(obj, Arg::named(what), |bytes| {
        fixed::<N>(what, bytes)
    })??)
}

/// Room to reserve for the elements of `seq`: its `len()`, if it has one,
/// trusted only up to a bound (a `__len__` may say anything).
fn capacity_hint(seq: &Bound<'_, PyAny>) -> usize {
    seq.len().unwrap_or(0).min(1 << 20)
}

/// Every element of an iterable of bytes-like objects as a `bytes`, for
/// work done without the GIL: a `bytes` element is referenced, not copied
/// (it cannot change, and the reference keeps it alive whatever happens to
/// the iterable meanwhile); any other buffer is copied into a new `bytes`.
/// Borrow the contents with [`contents`].
fn held_items<'py>(
    seq: &Bound<'py, PyAny>,
    what: &'static str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut items = Vec::with_capacity(capacity_hint(seq));
    for (index, item) in seq.try_iter()?.enumerate() {
        let held = match item?.cast_into::<PyBytes>() {
            Ok(bytes) => bytes,
            Err(err) => {
                let obj = err.into_inner();
                with_bytes(&obj, Arg::element(what, index), |bytes| {
                    PyBytes::new(obj.py(), bytes)
                })?
            }
        };
        items.push(held);
    }
    Ok(items)
}

/// The bytes of each of `items`, borrowed.
fn contents<'a>(items: &'a [Bound<'_, PyBytes>]) -> Vec<&'a [u8]> {
    items.iter().map(|item| item.as_bytes()).collect()
}

/// Every element of an iterable of `N`-byte bytes-like objects.
fn fixed_items<const N: usize>(
    seq: &Bound<'_, PyAny>,
    what: &'static str,
) -> PyResult<Vec<[u8; N]>> {
    let mut out = Vec::with_capacity(capacity_hint(seq));
    for (index, item) in seq.try_iter()?.enumerate() {
        let array = with_bytes(&item?, Arg::element(what, index), |bytes| {
            fixed_at::<N>(what, index, bytes)
        })??;
        out.push(array);
    }
    Ok(out)
}

/// A Python int as a `u64`: `None` if it is negative or too large.
fn u64_or_none(obj: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    match obj.extract::<u64>() {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_instance_of::<PyOverflowError>(obj.py()) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A Python int that must lie in `[0, 2**64)`.
fn u64_arg(obj: &Bound<'_, PyAny>, what: &'static str) -> PyResult<u64> {
    u64_or_none(obj)?.ok_or_else(|| {
        CoreError::NotU64 {
            what,
            value: obj.to_string(),
        }
        .into()
    })
}

/// A positive Python int that fits a `usize` (an item size).
fn item_size_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    let size = u64_arg(obj, "item_size")?;
    usize::try_from(size).map_err(|_| {
        CoreError::NotU64 {
            what: "item_size",
            value: obj.to_string(),
        }
        .into()
    })
}

fn digest_list<'py>(py: Python<'py>, digests: &[Hash]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, digests.iter().map(|digest| PyBytes::new(py, digest)))
}

/// SHA-256 of a bytes-like object.
#[pyfunction]
fn sha256<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let digest = with_bytes(data, Arg::named("data"), hash::sha256)?;
    Ok(PyBytes::new(py, &digest))
}

/// SHA-256 of every item, in order, as a list of 32-byte digests.
#[pyfunction]
fn sha256_many<'py>(py: Python<'py>, items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let items = held_items(items, "items")?;
    let items = contents(&items);
    let digests = py.detach(|| hash::sha256_many(items.as_slice()));
    digest_list(py, &digests)
}

/// Digests of the consecutive `item_size`-byte items of `buf`, back to back
/// in one bytes object of 32 * n bytes.
///
/// Raises ValueError if `item_size` is not positive or `len(buf)` is not a
/// multiple of it.
#[pyfunction]
fn sha256_many_packed<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyAny>,
    item_size: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let item_size = item_size_arg(item_size)?;
    let buf = bytes_for_detached_work(buf, "buf")?;
    let digests = py.detach(|| hash::sha256_many_packed(&buf, item_size))?;
    Ok(PyBytes::new(py, &digests))
}

/// RFC 6962 Merkle root of the leaf data `items` (SHA-256(b"") when empty).
#[pyfunction]
fn merkle_root<'py>(py: Python<'py>, items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let items = held_items(items, "items")?;
    let items = contents(&items);
    let root = py.detach(|| merkle::merkle_root(items.as_slice()));
    Ok(PyBytes::new(py, &root))
}

/// RFC 6962 Merkle root over the consecutive `item_size`-byte items of
/// `buf`; ValueError as for `sha256_many_packed`.
#[pyfunction]
fn merkle_root_packed<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyAny>,
    item_size: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let item_size = item_size_arg(item_size)?;
    let buf = bytes_for_detached_work(buf, "buf")?;
    let root =
        py.detach(|| PackedItems::new(&buf, item_size).map(|items| merkle::merkle_root(&items)))?;
    Ok(PyBytes::new(py, &root))
}

/// RFC 6962 audit path of leaf `index`, from the leaf's sibling up to the
/// root's children; ValueError unless 0 <= index < len(items).
#[pyfunction]
fn merkle_proof<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    index: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let index = u64_arg(index, "index")?;
    let items = held_items(items, "items")?;
    let items = contents(&items);
    let path = py.detach(|| merkle::merkle_proof(items.as_slice(), index))?;
    digest_list(py, &path)
}

/// Whether `proof` shows `item` is leaf `index` of the `size`-leaf tree with
/// this `root`.
///
/// False for every proof that does not verify (wrong leaf, sibling, index,
/// size or length, index >= size); ValueError only when a proof element or
/// the root is not 32 bytes.
#[pyfunction]
fn verify_merkle_proof(
    item: &Bound<'_, PyAny>,
    index: &Bound<'_, PyAny>,
    size: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let proof = fixed_items::<HASH_SIZE>(proof, "proof")?;
    let root = fixed_bytes::<HASH_SIZE>(root, "root")?;
    let leaf = owned_bytes(item, "item")?;
    let (Some(index), Some(size)) = (u64_or_none(index)?, u64_or_none(size)?) else {
        return Ok(false);
    };
    Ok(merkle::verify_merkle_proof(
        &leaf, index, size, &proof, &root,
    ))
}

/// (seed, public_key) for a 32-byte seed; ValueError for another length.
#[pyfunction]
fn keypair_from_seed<'py>(
    py: Python<'py>,
    seed: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let seed = fixed_bytes::<SEED_SIZE>(seed, "seed")?;
    let public_key = sig::public_key(&seed);
    Ok((PyBytes::new(py, &seed), PyBytes::new(py, &public_key)))
}

/// The 64-byte Ed25519 signature (RFC 8032, deterministic) of `msg` under a
/// 32-byte seed.
#[pyfunction]
fn sign<'py>(
    py: Python<'py>,
    seed: &Bound<'py, PyAny>,
    msg: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = fixed_bytes::<SEED_SIZE>(seed, "seed")?;
    let signature = with_bytes(msg, Arg::named("msg"), |msg| sig::sign(&seed, msg))?;
    Ok(PyBytes::new(py, &signature))
}

/// Whether `sig` is a valid Ed25519 signature of `msg` by `public_key` under
/// ZIP-215 rules.
///
/// Returns False (does not raise) for any invalid signature, including a
/// public key that is not the encoding of a curve point. Raises ValueError
/// only if the key is not 32 bytes or the signature not 64.
#[pyfunction]
fn verify(
    public_key: &Bound<'_, PyAny>,
    msg: &Bound<'_, PyAny>,
    sig: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let public_key = fixed_bytes::<PUBLIC_KEY_SIZE>(public_key, "public_key")?;
    let signature = fixed_bytes::<SIGNATURE_SIZE>(sig, "sig")?;
    with_bytes(msg, Arg::named("msg"), |msg| {
        sig::verify(&public_key, msg, &signature)
    })
}

/// For each entry i, whether `sigs[i]` is a valid signature of `msgs[i]` by
/// `public_keys[i]`: exactly what `verify` says, entry by entry.
///
/// Raises ValueError if the three sequences differ in length, or naming the
/// index of a key that is not 32 bytes or a signature that is not 64.
#[pyfunction]
fn verify_batch<'py>(
    py: Python<'py>,
    public_keys: &Bound<'py, PyAny>,
    msgs: &Bound<'py, PyAny>,
    sigs: &Bound<'py, PyAny>,
) -> PyResult<Vec<bool>> {
    let public_keys: Vec<PublicKey> = fixed_items(public_keys, "public_keys")?;
    let msgs = held_items(msgs, "msgs")?;
    let msgs = contents(&msgs);
    let sigs: Vec<SignatureBytes> = fixed_items(sigs, "sigs")?;
    Ok(py.detach(|| sig::verify_batch(&public_keys, msgs.as_slice(), &sigs))?)
}

/// The smallest nonce n in [start_nonce, start_nonce + count) with
/// SHA-256(prefix || n.to_bytes(8, "big")) <= target (256-bit big-endian
/// integers), or None.
///
/// Raises ValueError if `target` is not 32 bytes or the nonce range does not
/// fit in [0, 2**64).
#[pyfunction]
fn pow_search(
    py: Python<'_>,
    prefix: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    start_nonce: &Bound<'_, PyAny>,
    count: &Bound<'_, PyAny>,
) -> PyResult<Option<u64>> {
    let target = fixed_bytes::<HASH_SIZE>(target, "target")?;
    let start = u64_arg(start_nonce, "start_nonce")?;
    let count = u64_arg(count, "count")?;
    let prefix = bytes_for_detached_work(prefix, "prefix")?;
    Ok(py.detach(|| pow::pow_search(&prefix, &target, start, count))?)
}

/// Ordinet's hot path in Rust: SHA-256, RFC 6962 Merkle trees, Ed25519 with
/// ZIP-215 rules, proof-of-work search. Use it through `node.crypto`.
#[pymodule(name = "_core")]
mod core_module {
    #[pymodule_export]
    use super::{
        keypair_from_seed, merkle_proof, merkle_root, merkle_root_packed, pow_search, sha256,
        sha256_many, sha256_many_packed, sign, verify, verify_batch, verify_merkle_proof,
    };

    #[pymodule_export]
    const HASH_SIZE: usize = crate::hash::HASH_SIZE;
    #[pymodule_export]
    const SEED_SIZE: usize = crate::sig::SEED_SIZE;
    #[pymodule_export]
    const PUBLIC_KEY_SIZE: usize = crate::sig::PUBLIC_KEY_SIZE;
    #[pymodule_export]
    const SIGNATURE_SIZE: usize = crate::sig::SIGNATURE_SIZE;
}
