//! Stop requests: signals and the wall-time budget.
//!
//! SIGTERM, SIGINT and SIGUSR1 only set a flag (and record which signal arrived); the training
//! loop polls [`StopFlag::should_stop`] at each batch boundary, writes a checkpoint and exits
//! with [`EXIT_RESUMABLE`]. A wall-time budget (`--max-wall 11h30m`) stops the same way, early
//! enough that the checkpoint is written before the budget runs out. SLURM sends SIGTERM at the
//! time limit (and SIGUSR1 with `--signal=USR1@120`), so both routes end in a resumable run.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::flag;
use signal_hook::low_level::signal_name;

/// Exit status of a run that stopped early with a checkpoint and can be resumed
/// (`EX_TEMPFAIL` in BSD's sysexits.h: "try again later").
pub const EXIT_RESUMABLE: u8 = 75;

/// Why the loop should stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A signal arrived; its name, e.g. `"SIGUSR1"`.
    Signal(String),
    /// The wall-time budget (less the checkpoint margin) is used up.
    WallTime {
        /// The whole budget, serialised like `"11h30m"`.
        #[serde(with = "compact_duration")]
        budget: Duration,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Signal(name) => f.write_str(name),
            StopReason::WallTime { budget } => {
                write!(f, "wall-time budget {} reached", format_compact(*budget))
            }
        }
    }
}

/// The budget and the time kept back at its end for writing a checkpoint.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: Duration,
    margin: Duration,
}

/// A stop request shared between signal handlers and the training loop. Clones share the
/// signal state; the wall-time budget is part of each value (set it before cloning).
#[derive(Debug, Clone)]
pub struct StopFlag {
    /// Set by the first signal; arms the "second signal terminates at once" handlers.
    raised: Arc<AtomicBool>,
    /// Number of the last signal that arrived; 0 while none has (no signal is numbered 0).
    signal: Arc<AtomicUsize>,
    started: Instant,
    budget: Option<Budget>,
}

impl Default for StopFlag {
    fn default() -> Self {
        Self::new()
    }
}

impl StopFlag {
    /// A flag no signal handler sets and without a budget; the wall clock starts now.
    pub fn new() -> Self {
        Self {
            raised: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
            started: Instant::now(),
            budget: None,
        }
    }

    /// A flag set by SIGTERM, SIGINT and SIGUSR1; the wall clock starts now.
    ///
    /// The handlers only store into atomics (async-signal-safe). A second SIGINT or SIGTERM
    /// after the first runs the signal's default action, so an impatient Ctrl-C twice still
    /// kills the process instead of waiting for the batch to end.
    pub fn install() -> io::Result<Self> {
        Self::new().register(&[SIGTERM, SIGINT, SIGUSR1])
    }

    fn register(self, signals: &[i32]) -> io::Result<Self> {
        for &signal in signals {
            // Order matters: the conditional default must run before the flag is set, so the
            // first signal only sets it and the second one finds it set.
            if signal == SIGINT || signal == SIGTERM {
                flag::register_conditional_default(signal, Arc::clone(&self.raised))?;
            }
            flag::register(signal, Arc::clone(&self.raised))?;
            let number = usize::try_from(signal).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "negative signal number")
            })?;
            flag::register_usize(signal, Arc::clone(&self.signal), number)?;
        }
        Ok(self)
    }

    /// Also stop once `elapsed + margin >= budget`, elapsed counted from when the flag was
    /// made. `margin` is the caller's estimate of how long writing the final checkpoint (and
    /// finishing the current batch) takes, e.g. two minutes or the longest checkpoint so far.
    pub fn with_budget(mut self, budget: Duration, margin: Duration) -> Self {
        self.budget = Some(Budget { limit: budget, margin });
        self
    }

    /// Time since the flag was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether to stop now, and why. A signal wins over the budget.
    pub fn should_stop(&self) -> Option<StopReason> {
        let signal = self.signal.load(Ordering::SeqCst);
        if signal != 0 {
            let name = i32::try_from(signal)
                .ok()
                .and_then(signal_name)
                .map_or_else(|| format!("signal {signal}"), str::to_owned);
            return Some(StopReason::Signal(name));
        }
        let budget = self.budget?;
        (self.elapsed().saturating_add(budget.margin) >= budget.limit)
            .then_some(StopReason::WallTime { budget: budget.limit })
    }
}

/// Parses a wall-time budget: humantime (`11h30m`, `11h 30m`, `90m`, `3600s`, `1d2h`) or
/// SLURM's `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`. Bare numbers are refused
/// (SLURM reads them as minutes, most people as seconds), as is a zero budget.
pub fn parse_wall(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty wall-time budget".to_owned());
    }
    let duration = if t.contains(':') || t.contains('-') {
        parse_slurm(t)?
    } else if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("wall-time budget {t:?} has no unit: write e.g. {t}m or {t}s"));
    } else {
        humantime::parse_duration(t).map_err(|e| {
            format!(
                "invalid wall-time budget {t:?}: {e} \
                 (expected e.g. 11h30m, 90m, 1d2h or SLURM's [D-]HH:MM:SS)"
            )
        })?
    };
    if duration.is_zero() {
        return Err(format!("wall-time budget {t:?} is zero"));
    }
    Ok(duration)
}

fn parse_slurm(t: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid wall-time budget {t:?}: SLURM times are MM:SS, HH:MM:SS, D-HH, D-HH:MM \
             or D-HH:MM:SS"
        )
    };
    let number = |field: &str| -> Result<u64, String> {
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        field.parse().map_err(|_| bad())
    };
    let (days, clock) = match t.split_once('-') {
        Some((days, clock)) => (Some(number(days)?), clock),
        None => (None, t),
    };
    let fields = clock.split(':').map(number).collect::<Result<Vec<_>, _>>()?;
    // With days the clock starts at hours; without, two fields are MM:SS and three HH:MM:SS.
    let (hours, minutes, seconds) = match (days.is_some(), fields.as_slice()) {
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        (_, [h, m, s]) => (*h, *m, *s),
        (false, [m, s]) => (0, *m, *s),
        _ => return Err(bad()),
    };
    // The leading field may overflow into the next unit (SLURM takes `90:00` as 90 minutes);
    // the others may not.
    let leading_minutes = days.is_none() && fields.len() == 2;
    if seconds >= 60 || (minutes >= 60 && !leading_minutes) || (days.is_some() && hours >= 24) {
        return Err(format!("invalid wall-time budget {t:?}: a field is out of range"));
    }
    let total = days
        .unwrap_or(0)
        .checked_mul(24)
        .and_then(|h| h.checked_add(hours))
        .and_then(|h| h.checked_mul(60))
        .and_then(|m| m.checked_add(minutes))
        .and_then(|m| m.checked_mul(60))
        .and_then(|s| s.checked_add(seconds))
        .ok_or_else(|| format!("wall-time budget {t:?} is too large"))?;
    Ok(Duration::from_secs(total))
}

/// humantime's format without the spaces: `11h30m`, which [`parse_wall`] reads back.
fn format_compact(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

mod compact_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_compact(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_wall(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    #[test]
    fn parses_humantime_and_slurm() {
        let cases = [
            ("11h30m", 11 * H + 1800),
            ("11h 30m", 11 * H + 1800),
            (" 90m ", 5400),
            ("3600s", 3600),
            ("1d2h", 26 * H),
            ("11:30:00", 11 * H + 1800),
            ("36:00:00", 36 * H),
            ("1-12:00:00", 36 * H),
            ("2-00", 48 * H),
            ("1-02:30", 26 * H + 1800),
            ("05:30", 330),
            ("90:00", 5400),
        ];
        for (text, secs) in cases {
            assert_eq!(parse_wall(text), Ok(Duration::from_secs(secs)), "{text}");
        }
    }

    #[test]
    fn rejects_bad_budgets_with_reasons() {
        let cases = [
            ("", "empty"),
            ("90", "no unit"),
            ("0s", "zero"),
            ("00:00:00", "zero"),
            ("eleven hours", "expected e.g."),
            ("11x", "expected e.g."),
            ("1:2:3:4", "SLURM times"),
            ("1-", "SLURM times"),
            ("-5:00", "SLURM times"),
            ("1:-5", "SLURM times"),
            ("10:60", "out of range"),
            ("1:60:00", "out of range"),
            ("1-24:00:00", "out of range"),
            ("99999999999999999999:00", "SLURM times"),
            ("999999999999999-00", "too large"),
        ];
        for (text, reason) in cases {
            let err = parse_wall(text).expect_err(text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn sigusr1_sets_the_flag_and_is_named() {
        // Only SIGUSR1 is registered here: SIGINT/SIGTERM handlers would change how the test
        // binary reacts to Ctrl-C. Registering first matters: SIGUSR1's default kills.
        let stop = StopFlag::new().register(&[SIGUSR1]).expect("register SIGUSR1");
        let clone = stop.clone();
        assert_eq!(stop.should_stop(), None);
        signal_hook::low_level::raise(SIGUSR1).expect("raise SIGUSR1");
        let reason = clone.should_stop().expect("stop after SIGUSR1");
        assert_eq!(reason, StopReason::Signal("SIGUSR1".to_owned()));
        assert_eq!(reason.to_string(), "SIGUSR1");
        assert_eq!(serde_json::to_string(&reason).expect("json"), r#"{"signal":"SIGUSR1"}"#);
    }

    #[test]
    fn budget_reports_wall_time() {
        let budget = Duration::from_secs(11 * H + 1800);
        assert_eq!(
            StopFlag::new().with_budget(budget, Duration::from_secs(120)).should_stop(),
            None
        );
        // Margin ≥ budget: stop at once.
        let reason = StopFlag::new()
            .with_budget(budget, budget)
            .should_stop()
            .expect("stop when the margin eats the budget");
        assert_eq!(reason, StopReason::WallTime { budget });
        assert_eq!(reason.to_string(), "wall-time budget 11h30m reached");
        let json = serde_json::to_string(&reason).expect("json");
        assert_eq!(json, r#"{"wall_time":{"budget":"11h30m"}}"#);
        assert_eq!(serde_json::from_str::<StopReason>(&json).expect("parse back"), reason);

        let short = StopFlag::new().with_budget(Duration::from_millis(20), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(30));
        assert!(matches!(short.should_stop(), Some(StopReason::WallTime { .. })));
        assert!(StopFlag::new().should_stop().is_none(), "no budget, no signal");
    }
}
