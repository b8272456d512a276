//! What a run would hit at its start, checked before anything is written: the backend, the
//! pretrained weights, the dataset's folder and the folders the run writes into. Each
//! problem is a [`Violation`] at the key that causes it, so that all of them are reported
//! at once, located in the experiment's files, like the config's own errors.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::config::{Experiment, Violation};
use crate::data::DataSource;
use crate::data::stage;
use crate::train::CvMode;
use crate::train::runtime::Backend;

/// Checks of an experiment against this machine and its files: for a run (`for_run`), the
/// backend, the pretrained weights, the dataset and the output folders; always, where the
/// data is already there, the fold count against the smallest class of the
/// cross-validation pool.
pub fn checks(exp: &Experiment, for_run: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    if for_run {
        // Rules of the config alone (CPU: one device, fp32) are `config::check`'s; here, whether
        // this build and machine can run CUDA or wgpu on the listed devices.
        if exp.runtime.backend != Backend::Cpu
            && let Err(e) = crate::train::compute::check(&exp.runtime)
        {
            out.push(Violation::value(e.pointer(), e.to_string()));
        }
        if let Some(v) = exp.model.check_pretrained() {
            out.push(Violation::value(v.pointer, v.message));
        }
        out.extend(dataset_check(&exp.data.source));
        out.extend(output_checks(exp));
    }
    out.extend(fold_check(exp));
    out
}

/// An EchoNet-Dynamic folder has its FileList.csv and its Videos folder (what is inside
/// them is `data-check`'s business, and the run's).
fn dataset_check(source: &DataSource) -> Option<Violation> {
    let DataSource::Echonet { root } = source else { return None };
    let (list, videos) = (root.join("FileList.csv"), root.join("Videos"));
    let missing = if !list.is_file() {
        list
    } else if !videos.is_dir() {
        videos
    } else {
        return None;
    };
    let what = if root.is_dir() {
        format!("{} is not there", missing.display())
    } else {
        format!("the dataset folder {} is not there", root.display())
    };
    Some(Violation::value(
        "/data/source/root",
        format!(
            "{what}: download EchoNet-Dynamic into it with `runner fetch-echonet --url URL \
             --out DIR` (its licence forbids shipping it), or set data.source.root to the \
             folder that holds FileList.csv and Videos/"
        ),
    ))
}

/// The result directories' root and the clip cache can be created and written to.
fn output_checks(exp: &Experiment) -> Vec<Violation> {
    let runtime = &exp.runtime;
    let mut out = Vec::new();
    if let Err(why) = writable(&runtime.output_root) {
        out.push(Violation::value(
            "/runtime/output_root",
            format!(
                "results cannot be written under {}: {why}; free or fix it, or set \
                 runtime.output_root to a folder you can write to",
                runtime.output_root.display()
            ),
        ));
    }
    if let Some(cache) = &runtime.cache_dir
        && let Err(why) = writable(cache)
    {
        out.push(Violation::value(
            "/runtime/cache_dir",
            format!(
                "the clip cache cannot be written under {}: {why}; set runtime.cache_dir to \
                 a folder you can write to, or leave it out (then <output_root>/.cache)",
                cache.display()
            ),
        ));
    }
    out
}

/// Whether `dir` is a folder this process can write to, or one it can create: a probe file
/// is made and removed in `dir`, or in its nearest existing ancestor (which the run creates
/// the missing folders in). Asking the file system itself, rather than reading permission
/// bits, also catches read-only mounts, ACLs and root squashing on NFS.
fn writable(dir: &Path) -> Result<(), String> {
    let mut at: PathBuf = dir.to_path_buf();
    loop {
        match fs::metadata(&at) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => return Err(format!("{} is a file, not a folder", at.display())),
            // Not there, or under a file (ENOTDIR): the file is found further up.
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
            Err(e) => return Err(format!("{}: {e}", at.display())),
        }
        at = match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
    let probe = at.join(format!(".runner-preflight-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("{}: {e}", at.display())),
    }
}

fn fold_check(exp: &Experiment) -> Vec<Violation> {
    if exp.cv.mode != CvMode::Kfold {
        return vec![];
    }
    let Some([normal, abnormal]) = stage::known_pool_classes(&exp.data, &exp.runtime.cache_dir())
    else {
        return vec![];
    };
    let smallest = normal.min(abnormal);
    if (exp.cv.folds as usize) <= smallest {
        return vec![];
    }
    vec![Violation::value(
        "/cv/folds",
        format!(
            "{} folds, but the smallest class has {smallest} videos in train+val \
             ({normal} normal, {abnormal} abnormal); expected at most {smallest}",
            exp.cv.folds
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_writable_where_its_ancestor_is() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(writable(&tmp.path().join("a/b/c")), Ok(()));
        assert!(!tmp.path().join("a").exists(), "the check created a folder");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "the probe was left behind");
    }

    #[test]
    fn a_file_in_the_way_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("results");
        fs::write(&file, "").unwrap();
        let why = writable(&file.join("sub")).unwrap_err();
        assert!(why.contains("results is a file, not a folder"), "{why}");
    }

    #[test]
    fn a_dataset_without_its_file_list_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("Videos")).unwrap();
        let source = DataSource::Echonet { root: tmp.path().to_path_buf() };
        let v = dataset_check(&source).unwrap();
        assert_eq!(v.pointer, "/data/source/root");
        assert!(v.message.contains("FileList.csv is not there"), "{}", v.message);
        fs::write(tmp.path().join("FileList.csv"), "").unwrap();
        assert!(dataset_check(&source).is_none());
        let gone = DataSource::Echonet { root: tmp.path().join("nowhere") };
        let v = dataset_check(&gone).unwrap();
        assert!(v.message.contains("the dataset folder") && v.message.contains("fetch-echonet"));
    }
}
