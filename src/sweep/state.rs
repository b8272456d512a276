//! Where a member stands, read from its result directory without disturbing it.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::lock::{LOCK, LockProbe, probe};
use crate::results::view::{FoldState, RunView};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MemberState {
    /// No result directory yet.
    NotStarted,
    /// Some folds done, none failed; `running` when a process holds the directory.
    Partial { folds_done: usize, folds_total: usize, running: bool },
    /// A fold failed; what it said.
    Failed { fold: usize, message: String },
    /// Every fold and the summary are written.
    Done { folds_total: usize },
    /// The directory cannot be read as a result directory.
    Unreadable { message: String },
}

impl MemberState {
    pub fn of(dir: &Path) -> MemberState {
        if !dir.exists() {
            return MemberState::NotStarted;
        }
        let view = match RunView::open(dir) {
            Ok(view) => view,
            Err(e) => return MemberState::Unreadable { message: e.to_string() },
        };
        let total = view.folds.len();
        if view.summary.is_some() && view.done().len() == total {
            return MemberState::Done { folds_total: total };
        }
        if let Some((fold, message)) = view.folds.iter().enumerate().find_map(|(k, f)| match f {
            FoldState::Failed(why) | FoldState::Broken(why) => Some((k, why.clone())),
            _ => None,
        }) {
            return MemberState::Failed { fold, message };
        }
        let running = matches!(probe(&dir.join(LOCK)), LockProbe::Held(_));
        MemberState::Partial { folds_done: view.done().len(), folds_total: total, running }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, MemberState::Done { .. })
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberState::NotStarted => write!(f, "not started"),
            MemberState::Partial { folds_done, folds_total, running } => {
                let how = if *running { "running" } else { "stopped" };
                write!(f, "{how}, {folds_done}/{folds_total} folds done")
            }
            MemberState::Failed { fold, message } => {
                let first = message.lines().next().unwrap_or_default();
                write!(f, "failed (fold {fold}: {first})")
            }
            MemberState::Done { folds_total } => {
                write!(f, "done, {folds_total}/{folds_total} folds")
            }
            MemberState::Unreadable { message } => write!(f, "unreadable: {message}"),
        }
    }
}
