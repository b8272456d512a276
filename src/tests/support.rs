//! Running the binary on files in a scratch folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The repository root (experiment files, schema).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch folder that is also the working directory of every command run in it, so
/// result directories land in `<scratch>/results`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch { dir: tempfile::tempdir().expect("temp dir") }
    }

    /// A scratch folder for a static, kept for the whole test process (a static is never
    /// dropped, so one in the system's temporary folder would outlive every run): under
    /// target/tmp, named `prefix…`; the copies earlier processes left there are removed first.
    pub fn for_static(prefix: &str) -> Self {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in
                entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Scratch { dir: tempfile::Builder::new().prefix(prefix).tempdir_in(root).expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn runner(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        finish(cmd.output().expect("runner starts"))
    }

    /// `runner ARGS` with its standard output a pipe whose reader has gone before it starts,
    /// as `runner ARGS | head` once `head` has exited: every write to it fails.
    pub fn runner_into_closed_pipe(&self, args: &[&str]) -> Run {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = self.command(args);
        cmd.stdout(writer);
        finish(cmd.output().expect("runner starts"))
    }

    /// `runner ARGS` started in the background, its standard output and error piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runner starts")
    }

    /// `runner ARGS` in this folder, without the caller's ECHO_RUNNER__* variables.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runner"));
        cmd.args(args).current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("ECHO_RUNNER__") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Result directories in `results/` (not the `.cache` folder; absent folder: none).
    pub fn result_dirs(&self) -> Vec<String> {
        match std::fs::read_dir(self.path().join("results")) {
            Err(_) => vec![],
            Ok(rd) => rd
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect(),
        }
    }
}

pub fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A small valid experiment (synthetic data, micro Swin + hybrid layers).
pub const VALID: &str = r#"[experiment]
name = "t"
seed = 1

[data]
resize = 64

[data.source]
kind = "synthetic"
videos = 12
frame_size = 32
min_frames = 16
max_frames = 40

[data.clip]
frames = 8

[model]
kind = "swin_hybrid"
freeze = "none"

[model.backbone]
preset = "micro"

[model.temporal]
heads = 4
dwconv_kernel = 3

[sampler]
kind = "weighted"
weights = { scheme = "minority_times", factor = 3.0 }

[cv]
folds = 3

[train]
epochs = 2
batch_size = 4

[train.optimizer]
kind = "adamw"
lr = 1e-3

[runtime]
workers = 1
"#;

/// 1-based line of the first line containing `marker`.
pub fn line_of(text: &str, marker: &str) -> usize {
    text.lines()
        .position(|l| l.contains(marker))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {marker:?} in text"))
}

/// The full digest printed by `runner validate --print-hash`.
pub fn digest(run: &Run) -> String {
    assert_eq!(run.code, 0, "validate failed: {}", run.stderr);
    run.stdout.split_whitespace().next().expect("a digest").to_owned()
}

/// Fails, saying how to install it, when Python 3 lacks `module`.
pub(crate) fn require_python_module(module: &str, install: &str) {
    let found = Command::new("python3").args(["-c", &format!("import {module}")]).output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "the Python package {module} is not installed: {install}"
    );
}

/// Runs `src/tests/<script>` with `args` and parses what it prints as JSON.
pub(crate) fn python_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(repo().join("src/tests").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}
