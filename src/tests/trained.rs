//! Two trained experiments shared by the report, plot, status and predict tests (training
//! once keeps the suite fast): VALID, all three folds, and VALID with the depth-wise kernel
//! changed, fold 0 only.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::{Run, Scratch, VALID};

pub struct Trained {
    pub scratch: Scratch,
    /// `e.toml`'s result directory: every fold done, summary written.
    pub full: PathBuf,
    /// `f.toml`'s (dwconv_kernel = 5): fold 0 of 3 done.
    pub partial: PathBuf,
}

impl Trained {
    pub fn runner(&self, args: &[&str]) -> Run {
        self.scratch.runner(args, &[])
    }

    pub fn path(&self) -> &Path {
        self.scratch.path()
    }

    /// The synthetic dataset's `Videos/` folder.
    pub fn videos(&self) -> PathBuf {
        let report: serde_json::Value = read_json(&self.full.join("data-report.json"));
        self.path().join(report["data"]["root"].as_str().expect("a data root")).join("Videos")
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("JSON")
}

fn dir_of(s: &Scratch, file: &str) -> PathBuf {
    let run = s.runner(&["validate", file, "--print-hash"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    s.path().join(run.stdout.split_whitespace().nth(1).expect("a directory"))
}

pub fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let scratch = Scratch::for_static("trained-");
        scratch.write("e.toml", VALID);
        scratch.write("f.toml", "base = \"e.toml\"\n\n[model.temporal]\ndwconv_kernel = 5\n");
        for args in [&["run", "e.toml"][..], &["run", "f.toml", "--fold", "0"]] {
            let run = scratch.runner(args, &[]);
            assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        }
        let (full, partial) = (dir_of(&scratch, "e.toml"), dir_of(&scratch, "f.toml"));
        assert!(full.join("summary.json").is_file() && partial.join("fold-0/DONE").is_file());
        Trained { scratch, full, partial }
    })
}

/// Copies a result directory (recursively) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
