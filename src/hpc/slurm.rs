//! `runner slurm`: writes an experiment's SLURM jobs into `<result dir>/slurm/` and, when
//! asked, submits them.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use super::options::{OptionsError, SlurmOptions};
use super::script::{self, FOLDS_FILE, Job, SUBMIT_FILE, SUMMARY_FILE, ScriptError, Scripts};
use crate::atomic;
use crate::config::{ENV_PREFIX, Loaded};
use crate::results::{ResultDir, ResultsError};
use crate::train::CvMode;

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("--runner {path}: not a file; give the path of the runner binary the jobs should call")]
    NoRunner { path: PathBuf },
}

impl SlurmError {
    /// 2: the command line asks for something impossible; 1: anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            SlurmError::Options(_) | SlurmError::Script(_) | SlurmError::NoRunner { .. } => 2,
            SlurmError::Results(_) | SlurmError::Io { .. } => 1,
        }
    }
}

/// The files written, and their text.
#[derive(Debug)]
pub struct Written {
    pub scripts: Scripts,
    pub folds: PathBuf,
    pub summary: PathBuf,
    pub submit: PathBuf,
}

/// The runner the jobs call: `given` (made absolute), or this process's own binary.
pub fn runner_path(given: Option<PathBuf>) -> Result<PathBuf, SlurmError> {
    let path = match given {
        Some(p) => std::path::absolute(&p).map_err(|source| SlurmError::Io { path: p, source })?,
        None => std::env::current_exe()
            .map_err(|source| SlurmError::Io { path: "runner".into(), source })?,
    };
    if !path.is_file() {
        return Err(SlurmError::NoRunner { path });
    }
    Ok(path)
}

/// Opens (or creates) the experiment's result directory and writes its jobs into `slurm/`.
/// `sets`: the `--set` flags the experiment was loaded with; the `ECHO_RUNNER__*` variables
/// are read from this process, as the loader read them.
pub fn write(
    loaded: &Loaded,
    sets: &[String],
    options: &SlurmOptions,
) -> Result<Written, SlurmError> {
    options.check()?;
    let dir = ResultDir::open_or_create(loaded)?;
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|source| SlurmError::Io { path: p.to_path_buf(), source })
    };
    let exp = &loaded.experiment;
    let job = Job {
        name: exp.experiment.name.clone(),
        folds: match exp.cv.mode {
            CvMode::Kfold => exp.cv.folds,
            CvMode::Single => 1,
        },
        digest: loaded.hash.digest.clone(),
        max_requeues: exp.runtime.max_requeues,
        result_dir: absolute(&dir.path)?,
        workdir: absolute(Path::new("."))?,
        config: absolute(&loaded.file)?,
        sets: sets.to_vec(),
        env: std::env::vars().filter(|(name, _)| name.starts_with(ENV_PREFIX)).collect(),
    };
    let scripts = script::scripts(&job, options)?;
    let slurm_dir = job.slurm_dir();
    let put = |name: &str, text: &str| put(&slurm_dir, name, text);
    Ok(Written {
        folds: put(FOLDS_FILE, &scripts.folds)?,
        summary: put(SUMMARY_FILE, &scripts.summary)?,
        submit: put(SUBMIT_FILE, &scripts.submit)?,
        scripts,
    })
}

/// Runs a `submit.sh` (which calls sbatch), its output going to ours.
pub fn submit(script: &Path) -> Result<ExitStatus, SlurmError> {
    Command::new("bash")
        .arg(script)
        .status()
        .map_err(|source| SlurmError::Io { path: script.to_path_buf(), source })
}

/// Writes `dir/name` atomically, making `dir` first.
pub(super) fn put(dir: &Path, name: &str, text: &str) -> Result<PathBuf, SlurmError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| SlurmError::Io { path: dir.to_path_buf(), source })?;
    let path = dir.join(name);
    atomic::write_file(&path, text.as_bytes())
        .map_err(|source| SlurmError::Io { path: path.clone(), source })?;
    Ok(path)
}
