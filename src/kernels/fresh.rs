//! Fresh output buffers, written chunk by chunk on rayon's threads without being zeroed first.
//! `vec![0.0; n]` zeroes a whole output on the calling thread before a kernel overwrites it
//! (2–5% of a step in `memset`); here each task initialises its own chunk just before using it,
//! while the chunk is in its core's cache.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A vector of `len` values made in chunks of `size` (the last may be shorter): `init` gets
/// each chunk uninitialised, with the matching item of `inputs` (one per chunk), and returns
/// the same values initialised, as [`copied`] and [`filled`] do.
pub fn par_init<I, F>(
    len: usize,
    size: usize,
    inputs: impl IndexedParallelIterator<Item = I>,
    init: F,
) -> Vec<f32>
where
    I: Send,
    F: for<'a> Fn(&'a mut [MaybeUninit<f32>], I) -> &'a mut [f32] + Sync + Send,
{
    assert_eq!(
        inputs.len(),
        len.div_ceil(size.max(1)),
        "one input per chunk of {size} in {len} values"
    );
    let mut values = Vec::with_capacity(len);
    values.spare_capacity_mut()[..len].par_chunks_mut(size.max(1)).zip(inputs).for_each(
        |(chunk, input)| {
            let (start, count) = (chunk.as_ptr() as *const f32, chunk.len());
            let done = init(chunk, input);
            // Safe code can only hold a `&mut [f32]` over these values once they are written.
            assert!(
                std::ptr::eq(done.as_ptr(), start) && done.len() == count,
                "a chunk returned as written is the chunk"
            );
        },
    );
    // SAFETY: every chunk of the first `len` values was returned initialised (checked above).
    unsafe { values.set_len(len) };
    values
}

/// `vec![0.0; len]` written as `.par_chunks_mut(size).zip(inputs).for_each(write)` would, each
/// chunk zeroed by the task that then writes it rather than the whole vector up front.
pub fn par_zeroed<I, F>(
    len: usize,
    size: usize,
    inputs: impl IndexedParallelIterator<Item = I>,
    write: F,
) -> Vec<f32>
where
    I: Send,
    F: Fn(&mut [f32], I) + Sync + Send,
{
    par_init(len, size, inputs, |chunk, input| {
        let chunk = filled(chunk, 0.0);
        write(chunk, input);
        chunk
    })
}

/// `vec![0.0; len]`, zeroed on all cores.
pub fn zeros(len: usize) -> Vec<f32> {
    const SIZE: usize = 1 << 15;
    par_init(len, SIZE, (0..len.div_ceil(SIZE)).into_par_iter(), |chunk, _| filled(chunk, 0.0))
}

/// `chunk` holding a copy of `values`, of its length (`<[MaybeUninit]>::write_copy_of_slice`,
/// stable only after the crate's minimum Rust version).
pub fn copied<'a>(chunk: &'a mut [MaybeUninit<f32>], values: &[f32]) -> &'a mut [f32] {
    assert_eq!(chunk.len(), values.len(), "a value for every entry of the chunk");
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, the two do not overlap (one is borrowed
    // mutably) and are of one length; every value is then written.
    unsafe {
        std::ptr::copy_nonoverlapping(values.as_ptr(), chunk.as_mut_ptr().cast(), values.len());
        assume_written(chunk)
    }
}

/// `chunk` with every value `value` (`<[MaybeUninit]>::write_filled`, not yet stable).
pub fn filled(chunk: &mut [MaybeUninit<f32>], value: f32) -> &mut [f32] {
    chunk.iter_mut().for_each(|v| {
        v.write(value);
    });
    // SAFETY: every value was written just above.
    unsafe { assume_written(chunk) }
}

/// # Safety
/// Every value of `chunk` is initialised.
#[inline(always)]
unsafe fn assume_written(chunk: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and the caller vouches for the values.
    unsafe { &mut *(chunk as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    use super::*;

    #[test]
    fn chunks_are_made_in_order_with_their_inputs() {
        let source: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let copied = par_init(1000, 64, source.par_chunks(64), |chunk, s| copied(chunk, s));
        assert_eq!(copied, source);
        let sevens = par_init(130, 50, (0..3usize).into_par_iter(), |chunk, i| {
            filled(chunk, i as f32 + 7.0)
        });
        assert_eq!(
            (sevens[0], sevens[49], sevens[50], sevens[129], sevens.len()),
            (7.0, 7.0, 8.0, 9.0, 130)
        );
        assert!(
            par_init(0, 8, (0..0usize).into_par_iter(), |chunk, _| filled(chunk, 1.0)).is_empty()
        );
        // Each chunk starts at zero, whatever the allocator hands out (likely the block just freed).
        drop(vec![f32::NAN; 10]);
        let sums = par_zeroed(10, 4, source.par_chunks(4).take(3), |chunk, s| {
            chunk.iter_mut().zip(s).for_each(|(c, v)| *c += v)
        });
        assert_eq!(sums, &source[..10]);
        drop(vec![f32::NAN; 100_000]);
        assert!(zeros(100_000).iter().all(|&v| v == 0.0));
    }

    #[test]
    #[should_panic(expected = "one input per chunk")]
    fn every_chunk_needs_an_input() {
        par_init(100, 10, (0..9usize).into_par_iter(), |chunk, _| filled(chunk, 0.0));
    }

    #[test]
    #[should_panic(expected = "returned as written is the chunk")]
    fn a_chunk_must_be_returned_written() {
        let elsewhere: &'static mut [f32] = Box::leak(vec![0.0; 10].into_boxed_slice());
        let spare = std::sync::Mutex::new(Some(elsewhere));
        par_init(10, 10, (0..1usize).into_par_iter(), |_, _| spare.lock().unwrap().take().unwrap());
    }
}
