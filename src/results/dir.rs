//! `results/<name>-<hash12>/`: created atomically with the config that defines it, and
//! re-checked against that config whenever it is opened again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{ResultsError, io_err};
use super::runs::RUNS;
use crate::atomic;
use crate::config::{HASH_SCHEME, Loaded};
use crate::io_retry;
use crate::lock::{DirLock, LOCK};

pub const RESOLVED: &str = "config.resolved.toml";
pub const CANONICAL: &str = "config.canonical.json";
pub const DIGEST: &str = "hash";
pub const RUNNER: &str = "runner.json";
/// `runner slurm`'s scripts and its jobs' logs.
pub const SLURM: &str = "slurm";

/// Files that define the directory; everything else in it is output.
const DEFINING: &[&str] = &[RESOLVED, CANONICAL, DIGEST, RUNNER];

/// What a result directory records about the runner that made it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RunnerInfo {
    pub(crate) runner_version: String,
    pub(crate) hash_scheme: u32,
    pub(crate) digest: String,
}

/// Where the experiment's results go: `<output_root>/<name>-<hash12>`.
pub fn dir_path(loaded: &Loaded) -> PathBuf {
    let exp = &loaded.experiment;
    exp.runtime.output_root.join(format!("{}-{}", exp.experiment.name, loaded.hash.short()))
}

#[derive(Debug, Clone)]
pub struct ResultDir {
    pub path: PathBuf,
}

impl ResultDir {
    /// Opens the experiment's result directory, creating it (atomically, with its defining
    /// files) when it does not exist, and refusing one that holds another experiment.
    pub fn open_or_create(loaded: &Loaded) -> Result<Self, ResultsError> {
        let path = dir_path(loaded);
        if !path.exists() {
            create(loaded, &path)?;
        }
        verify(loaded, &path)?;
        Ok(ResultDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Removes every output of earlier runs (`--force`); keeps the defining files, the
    /// run records, the lock and the SLURM jobs' folder (queued jobs log there).
    pub fn clear_outputs(&self) -> Result<(), ResultsError> {
        let keep = |name: &str| DEFINING.contains(&name) || [RUNS, LOCK, SLURM].contains(&name);
        for entry in fs::read_dir(&self.path).map_err(io_err(&self.path))? {
            let entry = entry.map_err(io_err(&self.path))?;
            if keep(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let p = entry.path();
            let removed = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            removed.map_err(io_err(&p))?;
        }
        Ok(())
    }
}

impl ResultDir {
    /// Discards fold `k`'s outputs and the run-level `summary` file that depended on them,
    /// under the fold's lock (another process may be training that fold).
    pub fn clear_fold(&self, k: usize, summary: &str, wait: bool) -> Result<(), ResultsError> {
        let fold = self.path.join(format!("fold-{k}"));
        fs::create_dir_all(&fold).map_err(io_err(&fold))?;
        let _lock = DirLock::acquire(&fold, wait)?;
        let mut doomed = vec![self.path.join(summary)];
        for entry in fs::read_dir(&fold).map_err(io_err(&fold))? {
            let entry = entry.map_err(io_err(&fold))?;
            if entry.file_name() != LOCK {
                doomed.push(entry.path());
            }
        }
        for p in doomed {
            let removed = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            match removed {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(ResultsError::Io { path: p, source: e });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn create(loaded: &Loaded, path: &Path) -> Result<(), ResultsError> {
    let root = path.parent().unwrap_or(Path::new("."));
    io_retry::retry(root, || fs::create_dir_all(root)).map_err(io_err(root))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = root.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let info = RunnerInfo {
        runner_version: env!("CARGO_PKG_VERSION").into(),
        hash_scheme: HASH_SCHEME,
        digest: loaded.hash.digest.clone(),
    };
    let files: [(&str, String); 4] = [
        (RESOLVED, loaded.resolved_toml()),
        (CANONICAL, format!("{}\n", loaded.hash.canonical)),
        (DIGEST, format!("{}\n", loaded.hash.digest)),
        (RUNNER, serde_json::to_string_pretty(&info).expect("JSON") + "\n"),
    ];
    for (file, text) in files {
        let p = tmp.join(file);
        atomic::write_file(&p, text.as_bytes()).map_err(io_err(&p))?;
    }
    match fs::rename(&tmp, path) {
        Ok(()) => atomic::sync_dir(root).map_err(io_err(root)),
        // Another process created it first: theirs stands, and is verified by the caller.
        Err(_) if path.exists() => fs::remove_dir_all(&tmp).map_err(io_err(&tmp)),
        Err(e) => Err(ResultsError::Io { path: path.to_path_buf(), source: e }),
    }
}

fn verify(loaded: &Loaded, path: &Path) -> Result<(), ResultsError> {
    let runner_file = path.join(RUNNER);
    let info: RunnerInfo =
        fs::read_to_string(&runner_file).map_err(io_err(&runner_file)).and_then(|t| {
            serde_json::from_str(&t).map_err(|e| ResultsError::Io {
                path: runner_file.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })
        })?;
    if info.hash_scheme != HASH_SCHEME {
        return Err(ResultsError::OtherScheme {
            path: path.to_path_buf(),
            found: info.hash_scheme,
            version: info.runner_version,
        });
    }
    let canonical_file = path.join(CANONICAL);
    let stored = fs::read_to_string(&canonical_file).map_err(io_err(&canonical_file))?;
    if stored.trim_end() != loaded.hash.canonical {
        return Err(ResultsError::Mismatch { path: path.to_path_buf() });
    }
    Ok(())
}
