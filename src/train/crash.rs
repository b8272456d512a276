//! Crash points for the resume tests: with `ECHO_RUNNER_CRASH_AT=<point>:<n>` in the
//! environment, the process kills itself with SIGKILL the n-th time it passes `<point>`
//! (`batch`, `epoch`, or `checkpoint` — between a checkpoint's files and its rename), as a
//! power cut or the OOM killer would. Unset, a crash point costs one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
static PASSED: AtomicU64 = AtomicU64::new(0);

pub fn point(name: &str) {
    let plan = PLAN.get_or_init(|| {
        let value = std::env::var("ECHO_RUNNER_CRASH_AT").ok()?;
        let (point, n) = value.split_once(':')?;
        Some((point.to_owned(), n.parse().ok()?))
    });
    if let Some((point, n)) = plan
        && point == name
        && PASSED.fetch_add(1, Ordering::Relaxed) + 1 == *n
    {
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGKILL);
    }
}
