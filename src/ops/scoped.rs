//! Settings of a forward that hold for one thread while a guard lives: the autocast dtype, the
//! random layers' stream, frozen BatchNorm statistics. As PyTorch's `torch.autocast`, they are
//! scopes rather than arguments, so the modules' `forward` signatures stay Burn's; per thread,
//! so that data-parallel shards on threads of their own each have theirs.

use std::cell::Cell;
use std::thread::LocalKey;

/// Puts a value into a thread-local while it lives; dropping it puts the previous one back.
#[must_use = "the setting lasts as long as the guard value"]
pub struct Guard<T: Default + 'static> {
    key: &'static LocalKey<Cell<T>>,
    previous: T,
}

/// Sets `key` to `value` on this thread until the returned guard is dropped.
pub fn set<T: Default + 'static>(key: &'static LocalKey<Cell<T>>, value: T) -> Guard<T> {
    Guard { key, previous: key.replace(value) }
}

impl<T: Default + 'static> Drop for Guard<T> {
    fn drop(&mut self) {
        self.key.set(std::mem::take(&mut self.previous));
    }
}
