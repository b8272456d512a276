//! Writes that matter: to a temporary file in the same folder, fsync, rename over the
//! target, fsync the folder. A crash leaves the old file or the new one, never a mix. A
//! transient I/O error (EIO, EBUSY, ESTALE, …) is retried a few times (`io_retry`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::io_retry;

pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    io_retry::retry(path, || write_once(path, bytes))
}

fn write_once(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::other("no file name"))?;
    let tmp = dir.join(tmp_name(&name.to_string_lossy()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A hidden temporary name for `name`, unique to this process on this host: processes on
/// several nodes may write the same file of a shared result directory at once.
pub fn tmp_name(name: &str) -> String {
    format!(".{name}.tmp-{}-{}", gethostname::gethostname().to_string_lossy(), std::process::id())
}

/// Makes a rename or a new entry in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Appends one line and fsyncs (for logs such as `runs.jsonl`).
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut f =
        io_retry::retry(path, || fs::OpenOptions::new().create(true).append(true).open(path))?;
    append_all(&mut f, path, format!("{line}\n").as_bytes())?;
    io_retry::retry(path, || f.sync_all())
}

/// Writes `bytes` to a file opened for appending, in one write where the system takes it
/// whole. A write call that fails has written nothing, so it is retried as it is; what a
/// short write left is written after it.
pub fn append_all(f: &mut impl Write, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let n = io_retry::retry(path, || f.write(bytes))?;
    f.write_all(&bytes[n..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_file(&p, b"first, longer content").unwrap();
        write_file(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
