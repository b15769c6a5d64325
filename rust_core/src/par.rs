//! When to use both cores.
//!
//! Every batch function runs through [`map_indices`] or [`fill_chunks`]: below a
//! per-operation threshold the loop runs on the calling thread, because
//! waking rayon's workers costs more than small inputs take to process (the
//! thresholds, and the measurements behind them, sit next to each caller).

use rayon::prelude::*;

/// `(0..count).map(f).collect()`, spread over rayon's pool when `count >= parallel_from`.
///
/// `min_chunk` is the fewest indices a worker takes at once, so cheap items
/// are not scheduled one by one. The output order is the index order either way.
pub fn map_indices<T, F>(count: usize, parallel_from: usize, min_chunk: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    if count < parallel_from {
        (0..count).map(f).collect()
    } else {
        (0..count)
            .into_par_iter()
            .with_min_len(min_chunk.max(1))
            .map(f)
            .collect()
    }
}

/// Calls `fill(first, chunk)` on consecutive chunks of `out` (`first` is the
/// index of the chunk's first element): one call on the calling thread when
/// `out.len() < parallel_from`, else chunks of `chunk_len` spread over rayon's pool.
pub fn fill_chunks<T, F>(out: &mut [T], parallel_from: usize, chunk_len: usize, fill: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if out.len() < parallel_from {
        fill(0, out);
    } else {
        let chunk_len = chunk_len.max(1);
        out.par_chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(index, chunk)| fill(index * chunk_len, chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_and_parallel_paths_give_the_same_ordered_output() {
        let serial = map_indices(1000, usize::MAX, 1, |i| i * i);
        let parallel = map_indices(1000, 0, 7, |i| i * i);
        assert_eq!(serial, parallel);
        assert_eq!(serial[999], 999 * 999);
        assert!(map_indices(0, 0, 1, |i| i).is_empty());
    }

    #[test]
    fn fill_chunks_sees_every_index_once_on_both_paths() {
        for parallel_from in [usize::MAX, 0] {
            let mut out = vec![0usize; 1000];
            fill_chunks(&mut out, parallel_from, 64, |first, chunk| {
                for (offset, slot) in chunk.iter_mut().enumerate() {
                    *slot += first + offset;
                }
            });
            assert_eq!(out, (0..1000).collect::<Vec<_>>());
        }
    }
}
