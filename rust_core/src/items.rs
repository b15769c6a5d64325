//! Read-only views of "many byte strings", the input of every batch call.
//!
//! A batch function takes `&impl Items` so the same code serves a Rust
//! slice of byte strings (tests), an owned copy of a Python list
//! ([`FlatItems`]) and one contiguous buffer of fixed-size records
//! ([`PackedItems`]).

use crate::error::{CoreError, CoreResult};

/// An indexable collection of byte strings that threads may share.
pub trait Items: Sync {
    /// Number of items.
    fn count(&self) -> usize;
    /// Item `index`; `index < self.count()`.
    fn item(&self, index: usize) -> &[u8];
}

impl<T: AsRef<[u8]> + Sync> Items for [T] {
    fn count(&self) -> usize {
        self.len()
    }

    fn item(&self, index: usize) -> &[u8] {
        self[index].as_ref()
    }
}

/// Consecutive `item_size`-byte records of one buffer.
#[derive(Debug, Clone, Copy)]
pub struct PackedItems<'a> {
    buf: &'a [u8],
    item_size: usize,
}

impl<'a> PackedItems<'a> {
    /// Views `buf` as records of `item_size` bytes; the length must divide evenly.
    pub fn new(buf: &'a [u8], item_size: usize) -> CoreResult<Self> {
        if item_size == 0 {
            return Err(CoreError::ZeroItemSize);
        }
        if !buf.len().is_multiple_of(item_size) {
            return Err(CoreError::RaggedBuffer {
                len: buf.len(),
                item_size,
            });
        }
        Ok(Self { buf, item_size })
    }
}

impl Items for PackedItems<'_> {
    fn count(&self) -> usize {
        self.buf.len() / self.item_size
    }

    fn item(&self, index: usize) -> &[u8] {
        let start = index * self.item_size;
        &self.buf[start..start + self.item_size]
    }
}

/// Byte strings of any length, copied back to back into one allocation.
///
/// This is how a Python list of `bytes` crosses into Rust: two vectors
/// instead of one allocation per item, owned so the GIL can be released.
#[derive(Debug, Clone, Default)]
pub struct FlatItems {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl FlatItems {
    /// An empty collection with room for `count` items of `bytes` bytes in total.
    pub fn with_capacity(count: usize, bytes: usize) -> Self {
        Self {
            data: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// Appends a copy of `item`.
    pub fn push(&mut self, item: &[u8]) {
        self.data.extend_from_slice(item);
        self.ends.push(self.data.len());
    }
}

impl Items for FlatItems {
    fn count(&self) -> usize {
        self.ends.len()
    }

    fn item(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        &self.data[start..self.ends[index]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(items: &impl Items) -> Vec<Vec<u8>> {
        (0..items.count()).map(|i| items.item(i).to_vec()).collect()
    }

    #[test]
    fn packed_items_split_the_buffer_evenly() {
        let packed = PackedItems::new(b"aabbcc", 2).unwrap();
        assert_eq!(
            collect(&packed),
            vec![b"aa".to_vec(), b"bb".to_vec(), b"cc".to_vec()]
        );
        assert_eq!(PackedItems::new(b"", 5).unwrap().count(), 0);
    }

    #[test]
    fn packed_items_reject_zero_size_and_ragged_buffers() {
        assert_eq!(
            PackedItems::new(b"ab", 0).unwrap_err(),
            CoreError::ZeroItemSize
        );
        assert_eq!(
            PackedItems::new(b"abc", 2).unwrap_err(),
            CoreError::RaggedBuffer {
                len: 3,
                item_size: 2
            }
        );
    }

    #[test]
    fn flat_items_keep_variable_lengths_including_empty() {
        let mut flat = FlatItems::with_capacity(3, 4);
        for item in [&b"abc"[..], b"", b"d"] {
            flat.push(item);
        }
        assert_eq!(collect(&flat), vec![b"abc".to_vec(), vec![], b"d".to_vec()]);
    }
}
