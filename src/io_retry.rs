//! Faults of the machine, told apart from failures of the experiment. Shared filesystems
//! (Lustre, GPFS, NFS) fail a write now and then with EIO, EBUSY or ESTALE and take it a
//! moment later: such a write is retried a few times with a short backoff ([`retry`]). A
//! full disk or quota (ENOSPC, EDQUOT) is not retried: the run stops at once, resumably.
//! An I/O error that remains ends the run with [`EXIT_ENVIRONMENT`] and never marks a fold
//! failed; [`Fault::hint`] says what to free or fix. Opening a video, a CSV or the cache
//! for reading is retried the same way ([`open`]).

use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::path::Path;
use std::time::Duration;

/// Exit status of a run stopped by a fault of the machine (sysexits' EX_IOERR): nothing of
/// the experiment is wrong, the last checkpoint is intact, and the same command resumes.
pub const EXIT_ENVIRONMENT: u8 = 74;

/// Tries of an operation before its transient error is returned.
const TRIES: u32 = 5;
/// The wait before the first retry; it doubles at each one (50 + 100 + 200 + 400 ms).
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// EIO, which has no `ErrorKind` of its own (the same number on Linux and macOS).
const EIO: i32 = 5;

/// What an I/O error says of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Likely to pass: EIO, EBUSY, ESTALE, EAGAIN, EINTR, ETIMEDOUT. Retried in place.
    Transient,
    /// The disk or the quota is full: ENOSPC, EDQUOT. Not retried.
    Full,
    /// Any other error (a missing file, a permission).
    Other,
}

pub fn kind(e: &io::Error) -> Kind {
    match e.kind() {
        ErrorKind::ResourceBusy
        | ErrorKind::StaleNetworkFileHandle
        | ErrorKind::WouldBlock
        | ErrorKind::Interrupted
        | ErrorKind::TimedOut => Kind::Transient,
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Kind::Full,
        _ if e.raw_os_error() == Some(EIO) => Kind::Transient,
        _ => Kind::Other,
    }
}

/// An error that may be a transient I/O error.
pub trait MaybeTransient: fmt::Display {
    fn transient(&self) -> bool;
}

impl MaybeTransient for io::Error {
    fn transient(&self) -> bool {
        kind(self) == Kind::Transient
    }
}

/// Runs `op` until it succeeds, fails with an error that is not transient, or has been tried
/// [`TRIES`] times, waiting 50 ms before the first retry and twice as long before each next.
/// Each retry is noted on standard error, naming `what`. `op` must be safe to run again after
/// a failure (a whole atomic write, not half of one).
pub fn retry<T, E: MaybeTransient>(
    what: &Path,
    mut op: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut delay = FIRST_DELAY;
    for attempt in 1.. {
        match op() {
            Err(e) if e.transient() && attempt < TRIES => {
                let note = format!(
                    "note: {}: {e}; retrying in {} ms (try {} of {TRIES})\n",
                    what.display(),
                    delay.as_millis(),
                    attempt + 1
                );
                // One write, so that the line stays whole; standard error may be failing
                // too, and the note is not worth a panic.
                let _ = io::stderr().write_all(note.as_bytes());
                std::thread::sleep(delay);
                delay *= 2;
            }
            result => return result,
        }
    }
    unreachable!("the loop returns")
}

/// Opens `path` for reading, retrying a transient error as [`retry`] does: the dataset and
/// the cache are read from the same shared filesystems as results are written to.
pub fn open(path: &Path) -> io::Result<File> {
    retry(path, || File::open(path))
}

/// An error of the environment: an I/O error (or a failure of the HDF5 library) on a file of
/// the result directory, the cache, a checkpoint or a lock.
#[derive(Debug, Clone, Copy)]
pub struct Fault<'a> {
    pub path: &'a Path,
    /// The OS error, where there is one.
    pub source: Option<&'a io::Error>,
}

impl Fault<'_> {
    pub fn kind(&self) -> Kind {
        self.source.map_or(Kind::Other, kind)
    }

    /// What to do about it, for a person.
    pub fn hint(&self) -> String {
        let resume = "then run the same command again: it resumes from the last checkpoint \
                      (a SLURM fold task requeues itself)";
        match self.kind() {
            Kind::Full => format!(
                "the filesystem of {} is full or over quota: free space there (or raise the \
                 quota), {resume}. Nothing of the experiment failed and no fold is marked failed",
                self.path.display()
            ),
            _ => format!(
                "a fault of the machine (I/O on {}), not of the experiment: no fold is marked \
                 failed and the finished files and the last checkpoint are intact. Check that \
                 filesystem (`df`, `dmesg`, the cluster's status page), {resume}",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn kinds_of_the_errors_shared_filesystems_give() {
        // Linux numbers: EIO 5, EINTR 4, EAGAIN 11, EBUSY 16, ETIMEDOUT 110, ESTALE 116.
        for code in [5, 4, 11, 16, 110, 116] {
            assert_eq!(kind(&os(code)), Kind::Transient, "errno {code}");
        }
        // ENOSPC 28, EDQUOT 122.
        for code in [28, 122] {
            assert_eq!(kind(&os(code)), Kind::Full, "errno {code}");
        }
        // ENOENT 2, EACCES 13, EINVAL 22.
        for code in [2, 13, 22] {
            assert_eq!(kind(&os(code)), Kind::Other, "errno {code}");
        }
    }

    #[test]
    fn a_transient_error_is_retried_until_it_passes() {
        let calls = Cell::new(0);
        let got = retry(Path::new("x"), || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 { Err(os(5)) } else { Ok(7) }
        });
        assert_eq!(got.unwrap(), 7);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_full_disk_is_not_retried_and_a_lasting_fault_gives_up() {
        let calls = Cell::new(0);
        let got: io::Result<()> = retry(Path::new("x"), || {
            calls.set(calls.get() + 1);
            Err(os(28))
        });
        assert_eq!(kind(&got.unwrap_err()), Kind::Full);
        assert_eq!(calls.get(), 1);
        calls.set(0);
        let got: io::Result<()> = retry(Path::new("x"), || {
            calls.set(calls.get() + 1);
            Err(os(16))
        });
        assert_eq!(got.unwrap_err().kind(), ErrorKind::ResourceBusy);
        assert_eq!(calls.get(), TRIES);
    }

    #[test]
    fn the_hint_says_what_to_free_or_fix() {
        let full = os(122);
        let hint = Fault { path: Path::new("/scratch/r"), source: Some(&full) }.hint();
        assert!(hint.contains("/scratch/r is full") && hint.contains("resumes"), "{hint}");
        let eio = os(5);
        let hint = Fault { path: Path::new("/scratch/r"), source: Some(&eio) }.hint();
        assert!(hint.contains("not of the experiment") && hint.contains("resumes"), "{hint}");
    }
}
