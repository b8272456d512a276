//! `runner run SWEEP`: the members in order, each exactly as `runner run` runs it alone;
//! finished members are skipped, an interrupted one resumes, a failed one does not stop the
//! others (unless `fail_fast`), and a member another process holds is come back to at the end.

use std::io;
use std::time::Duration;

use super::expand::{Member, Sweep};
use super::state::MemberState;
use crate::io_retry::EXIT_ENVIRONMENT;
use crate::lock::{DirLock, LockError};
use crate::results::ResultsError;
use crate::run::{self as pipeline, Outcome, RunError, RunOptions, wall_margin};
use crate::train::stop::{EXIT_RESUMABLE, StopFlag, StopReason};

#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Stop at the first member that fails.
    pub fail_fast: bool,
    /// Take failed folds up again (`runner run --retry-failed` for every member).
    pub retry_failed: bool,
    /// Stop resumably before this much wall time has passed, for the whole sweep.
    pub max_wall: Option<Duration>,
    /// Wait for members another process holds (else leave them, exit 3).
    pub wait: bool,
    /// The command line, for each member's run record.
    pub argv: Vec<String>,
}

/// How one member's turn ended.
#[derive(Debug)]
pub enum MemberEnd {
    /// Finished before this sweep came to it.
    AlreadyDone,
    Done(Box<Outcome>),
    /// It stopped resumably (a signal, `--max-wall`); the sweep stops with it.
    Stopped(Box<Outcome>),
    Failed {
        message: String,
        exit_code: u8,
    },
    /// Another process holds it, and the sweep was told not to wait.
    Busy,
}

impl MemberEnd {
    /// A fault of the machine ended it: the sweep stops there, resumably.
    fn is_fault(&self) -> bool {
        matches!(self, MemberEnd::Failed { exit_code: EXIT_ENVIRONMENT, .. })
    }
}

#[derive(Debug, Default)]
pub struct SweepOutcome {
    pub ends: Vec<(usize, MemberEnd)>,
    /// Why the sweep stopped before its last member, resumably.
    pub stopped: Option<StopReason>,
}

impl SweepOutcome {
    /// 75: stopped and resumable; 74: a fault of the machine stopped it (resumable too); 1: a
    /// member failed; 3: a member was busy; 0: all done.
    pub fn exit_code(&self) -> u8 {
        let any = |f: fn(&MemberEnd) -> bool| self.ends.iter().any(|(_, e)| f(e));
        if self.stopped.is_some() {
            EXIT_RESUMABLE
        } else if any(MemberEnd::is_fault) {
            EXIT_ENVIRONMENT
        } else if any(|e| matches!(e, MemberEnd::Failed { .. })) {
            1
        } else if any(|e| matches!(e, MemberEnd::Busy)) {
            3
        } else {
            0
        }
    }

    pub fn failed(&self) -> usize {
        self.ends.iter().filter(|(_, e)| matches!(e, MemberEnd::Failed { .. })).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot install the signal handlers: {0}")]
    Signals(io::Error),
    #[error("cannot write the sweep's record in {dir}: {source}")]
    Record { dir: std::path::PathBuf, source: io::Error },
    #[error(transparent)]
    Say(io::Error),
}

/// Runs the sweep; `say` gets one line per event (member i of n starting, skipped, ended).
pub fn run(
    sweep: &Sweep,
    options: &SweepOptions,
    say: &mut dyn FnMut(&str) -> io::Result<()>,
) -> Result<SweepOutcome, SweepError> {
    let record =
        || sweep.write_record().map_err(|source| SweepError::Record { dir: sweep.dir(), source });
    record()?;
    let mut stop = StopFlag::install().map_err(SweepError::Signals)?;
    if let Some(budget) = options.max_wall {
        stop = stop.with_budget(budget, wall_margin(budget));
    }
    let n = sweep.members.len();
    let mut outcome = SweepOutcome::default();
    let mut deferred = Vec::new();
    for member in &sweep.members {
        if let Some(reason) = stop.should_stop() {
            outcome.stopped = Some(reason);
            break;
        }
        let head =
            format!("member {} ({} of {n}): {}", member.index, member.index + 1, member.label());
        let end = turn(member, options, &stop, false, &head, say)?;
        record()?;
        match end {
            MemberEnd::Busy => {
                say(&format!("{head}: another process is running it; coming back to it last"))
                    .map_err(SweepError::Say)?;
                deferred.push(member);
            }
            MemberEnd::Stopped(ref o) => {
                outcome.stopped = o.stopped.clone();
                outcome.ends.push((member.index, end));
                break;
            }
            end if end.is_fault() => {
                outcome.ends.push((member.index, end));
                say("a fault of the machine: not running the members after it; rerun the sweep to resume")
                    .map_err(SweepError::Say)?;
                break;
            }
            MemberEnd::Failed { .. } if options.fail_fast => {
                outcome.ends.push((member.index, end));
                say("--fail-fast: not running the members after it").map_err(SweepError::Say)?;
                break;
            }
            end => outcome.ends.push((member.index, end)),
        }
    }
    let go_on = |o: &SweepOutcome| {
        o.stopped.is_none()
            && !(options.fail_fast && o.failed() > 0)
            && !o.ends.iter().any(|(_, e)| e.is_fault())
    };
    for member in deferred {
        let head =
            format!("member {} ({} of {n}): {}", member.index, member.index + 1, member.label());
        if !go_on(&outcome) {
            break;
        }
        let end = if options.wait {
            // Wait for the other process to let go, then take the member as it left it.
            if let Err(e) = DirLock::acquire(&member.dir(), true) {
                MemberEnd::Failed { message: e.to_string(), exit_code: 1 }
            } else {
                turn(member, options, &stop, true, &head, say)?
            }
        } else {
            MemberEnd::Busy
        };
        record()?;
        if let MemberEnd::Stopped(o) = &end {
            outcome.stopped = o.stopped.clone();
        }
        outcome.ends.push((member.index, end));
    }
    outcome.ends.sort_by_key(|(i, _)| *i);
    Ok(outcome)
}

/// One member: skipped when done, else run as `runner run` runs it.
fn turn(
    member: &Member,
    options: &SweepOptions,
    stop: &StopFlag,
    wait: bool,
    head: &str,
    say: &mut dyn FnMut(&str) -> io::Result<()>,
) -> Result<MemberEnd, SweepError> {
    let mut say = |text: String| say(&text).map_err(SweepError::Say);
    if MemberState::of(&member.dir()).is_done() {
        say(format!("{head}: done already ({})", member.dir().display()))?;
        return Ok(MemberEnd::AlreadyDone);
    }
    say(format!("{head}: running ({})", member.dir().display()))?;
    let run_options = RunOptions {
        fold: None,
        force: false,
        retry_failed: options.retry_failed,
        max_wall: None,
        wait,
        argv: options.argv.clone(),
        stop: Some(stop.clone()),
    };
    Ok(match pipeline::run(&member.loaded, &run_options) {
        Err(RunError::Results(ResultsError::Lock(LockError::Busy { .. }))) if !wait => {
            MemberEnd::Busy
        }
        Ok(outcome) => {
            say(format!("{outcome}"))?;
            if outcome.stopped.is_some() {
                MemberEnd::Stopped(Box::new(outcome))
            } else {
                say(format!("{head}: done"))?;
                MemberEnd::Done(Box::new(outcome))
            }
        }
        Err(e) => {
            say(format!("{head}: failed: {e}"))?;
            MemberEnd::Failed { message: e.to_string(), exit_code: e.exit_code() }
        }
    })
}
