//! Who may write where: an OS lock on `<dir>/lock`, held for the whole run and released by
//! the OS if the process dies. A whole run holds its result directory's lock exclusively; a
//! one-fold run (`--fold K`) holds it shared, so the folds of one directory can run in
//! parallel (SLURM array tasks), and holds `fold-<k>/lock` exclusively. A transient I/O
//! error opening, locking or noting the lock is retried (`io_retry`); one that remains is an
//! error of the environment, never a failure of the experiment.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::io_retry::{self, Fault};

pub const LOCK: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is in use by {holder}; wait for it, or run without --no-wait to queue")]
    Busy { path: PathBuf, holder: String },
}

impl LockError {
    /// The fault of the machine this error is, if it is one (a busy lock is not).
    pub fn fault(&self) -> Option<Fault<'_>> {
        match self {
            LockError::Io { path, source } => Some(Fault { path, source: Some(source) }),
            LockError::Busy { .. } => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LockError + '_ {
    move |source| LockError::Io { path: path.to_path_buf(), source }
}

/// Held while it lives.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes `dir`'s lock exclusively; when another process holds it, waits (after saying
    /// who holds it) or, with `wait = false`, returns `LockError::Busy`.
    pub fn acquire(dir: &Path, wait: bool) -> Result<DirLock, LockError> {
        Self::take(dir, wait, false)
    }

    /// Takes `dir`'s lock shared with other shared holders (one-fold runs).
    pub fn acquire_shared(dir: &Path, wait: bool) -> Result<DirLock, LockError> {
        Self::take(dir, wait, true)
    }

    fn take(dir: &Path, wait: bool, shared: bool) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK);
        let mut file = io_retry::retry(&path, || {
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)
        })
        .map_err(io_err(&path))?;
        let tried = if shared { file.try_lock_shared() } else { file.try_lock() };
        match tried {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file);
                if !wait {
                    return Err(LockError::Busy { path: dir.to_path_buf(), holder });
                }
                // Standard error may be failing: the note is not worth a panic.
                let note =
                    format!("{} is in use by {holder}; waiting for it to finish\n", dir.display());
                let _ = io::stderr().write_all(note.as_bytes());
                if shared { file.lock_shared() } else { file.lock() }.map_err(io_err(&path))?;
            }
            Err(TryLockError::Error(e)) => return Err(LockError::Io { path, source: e }),
        }
        if shared {
            // Shared holders would overwrite each other's note; the exclusive one's is enough.
            return Ok(DirLock { _file: file });
        }
        let me = format!(
            "pid {} on {} since {}",
            std::process::id(),
            gethostname::gethostname().to_string_lossy(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        io_retry::retry(&path, || {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(me.as_bytes())
        })
        .map_err(io_err(&path))?;
        Ok(DirLock { _file: file })
    }
}

/// What a look at a lock file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockProbe {
    /// No lock file: no process has ever held it.
    Absent,
    /// Nobody holds it now.
    Free,
    /// A process holds it; what the file says of it.
    Held(String),
    /// The lock could not be tested.
    Unknown(String),
}

/// Tests the lock on `path` without waiting and without changing the file (opened read-only,
/// never created or truncated), and releases it at once if it was free.
pub fn probe(path: &Path) -> LockProbe {
    let Ok(mut file) = OpenOptions::new().read(true).open(path) else { return LockProbe::Absent };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            LockProbe::Free
        }
        Err(TryLockError::WouldBlock) => LockProbe::Held(holder(&mut file)),
        Err(TryLockError::Error(e)) => LockProbe::Unknown(e.to_string()),
    }
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.read_to_string(&mut s);
    if s.trim().is_empty() { "another process".into() } else { s.trim().to_owned() }
}
