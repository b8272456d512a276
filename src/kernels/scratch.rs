//! Per-thread work buffers for the CPU kernels, kept between calls: a fresh buffer for every
//! chunk of work costs page faults and zeroing.

use std::cell::Cell;

thread_local! {
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// `f` on two work buffers of `a` and `b` values from this thread's scratch space. Their
/// contents are left over from earlier calls: `f` overwrites them before reading. The space is
/// taken out while `f` runs, so a call nested inside `f` (a task rayon runs on this thread
/// while `f` waits on a GEMM split over the cores) works in a buffer of its own instead of
/// finding this one borrowed.
pub fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    let mut scratch = SCRATCH.take();
    if scratch.len() < a + b {
        scratch.resize(a + b, 0.0);
    }
    let (first, second) = scratch[..a + b].split_at_mut(a);
    let result = f(first, second);
    SCRATCH.set(scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::with_scratch;

    /// A call inside another gets its own buffer and leaves the outer one's values alone.
    #[test]
    fn nested_calls_work_in_buffers_of_their_own() {
        with_scratch(4, 2, |outer, rest| {
            outer.fill(1.0);
            rest.fill(3.0);
            with_scratch(8, 0, |inner, _| inner.fill(2.0));
            assert_eq!((outer, rest), (&mut [1.0; 4][..], &mut [3.0; 2][..]));
        });
        // The space is kept for the next call (its values left over).
        with_scratch(3, 0, |again, _| assert_eq!(again.len(), 3));
    }
}
