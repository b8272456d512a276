//! What the kernels' tests share: test data and the thread-count check.

/// `len` values of a sine, `k` radians apart: test data in which no two rows are alike.
pub fn wave(len: usize, k: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * k).sin()).collect()
}

/// `f` gives the same result (its sums taken in the same order) on one thread and on three.
pub fn assert_same_on_1_and_3_threads<T: PartialEq + std::fmt::Debug + Send>(
    f: impl Fn() -> T + Send + Sync,
) {
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(&f)
    };
    assert_eq!(on(1), on(3));
}
