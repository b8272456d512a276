//! `runner run`: drives one experiment through the stages into its result directory,
//! holding the directory's lock and recording the run.

use std::fmt;
use std::path::PathBuf;

use crate::config::Loaded;
use crate::results::{DirLock, ResultDir, ResultsError, RunRecord};
use crate::train::CvMode;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run only this fold.
    pub fold: Option<u32>,
    /// Discard earlier outputs first.
    pub force: bool,
    /// Wait for another process holding the result directory (else fail at once).
    pub wait: bool,
    /// The command line, for the run record.
    pub argv: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("--fold {fold} is out of range: this experiment has {folds} fold(s), numbered from 0")]
    FoldOutOfRange { fold: u32, folds: u32 },
}

impl RunError {
    /// 2: the command line was wrong; 3: the result directory is busy; 1: anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::FoldOutOfRange { .. } => 2,
            RunError::Results(ResultsError::Busy { .. }) => 3,
            RunError::Results(_) => 1,
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub dir: PathBuf,
    pub created: bool,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.created { "created" } else { "reopened" };
        write!(f, "result directory {what}: {}", self.dir.display())
    }
}

pub fn run(loaded: &Loaded, options: &RunOptions) -> Result<Outcome, RunError> {
    let exp = &loaded.experiment;
    let folds = match exp.cv.mode {
        CvMode::Kfold => exp.cv.folds,
        CvMode::Single => 1,
    };
    if let Some(fold) = options.fold.filter(|&k| k >= folds) {
        return Err(RunError::FoldOutOfRange { fold, folds });
    }
    let existed = crate::results::dir_path(loaded).exists();
    let dir = ResultDir::open_or_create(loaded)?;
    let _lock = DirLock::acquire(&dir.path, options.wait)?;
    if options.force {
        dir.clear_outputs()?;
    }
    let backend = serde_json::to_value(exp.runtime.backend)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let record = RunRecord::start(backend, options.argv.clone());
    record.append(&dir.path)?;
    let outcome = Outcome { dir: dir.path.clone(), created: !existed };
    record.end(0, outcome.to_string()).append(&dir.path)?;
    Ok(outcome)
}
