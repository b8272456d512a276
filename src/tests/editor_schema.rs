//! What a TOML editor shows: Taplo (the checker behind Even Better TOML), reading each file's
//! `#:schema` line, accepts every committed experiment and sweep file and flags each bad file
//! of src/tests/editor/bad/ at the line `runner validate` names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Run, Scratch, finish, repo};

/// The bad files: (file, the line of the bad key or value, the first line of its table, a
/// word both Taplo's and the runner's message contain).
const BAD: &[(&str, usize, usize, &str)] = &[
    ("wrong_type.toml", 6, 5, "\"ten\""),
    ("unknown_nested_key.toml", 7, 5, "perod"),
    ("unknown_key_partial_variant.toml", 6, 5, "dwconv_kernal"),
    ("key_of_another_variant.toml", 8, 5, "beta1"),
    ("out_of_range.toml", 6, 5, "1.5"),
    ("unknown_kind.toml", 6, 5, "transformer"),
    ("sweep_unknown_key.toml", 10, 7, "step"),
];

fn bad_dir() -> PathBuf {
    repo().join("src/tests/editor/bad")
}

/// `taplo check FILES` with the schemas the files name and nothing else: no configuration
/// file, no online catalog.
fn taplo(files: &[PathBuf]) -> Run {
    let taplo = repo().join("src/tests/editor/node_modules/.bin/taplo");
    assert!(
        taplo.is_file(),
        "Taplo is not installed ({} is missing): run `sh scripts/test-setup.sh`",
        taplo.display()
    );
    let out = Command::new(&taplo)
        .args(["check", "--no-auto-config", "--colors", "never"])
        .args(files)
        .current_dir(repo())
        .env_remove("TAPLO_CONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("{} does not start ({e}): is Node.js installed?", taplo.display())
        });
    finish(out)
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(toml_files(&p));
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The lines Taplo flags in `file` and its messages there: each diagnostic is an
/// `error: MESSAGE` line, then `┌─ FILE:LINE:COL`.
fn flagged(run: &Run, file: &Path) -> (BTreeSet<usize>, Vec<String>) {
    let text = format!("{}{}", run.stdout, run.stderr);
    let marker = format!("{}:", file.display());
    let mut lines = BTreeSet::new();
    let mut messages = Vec::new();
    let mut message = None;
    for l in text.lines() {
        if let Some(m) = l.strip_prefix("error: ") {
            message = Some(m.to_owned());
        } else if let Some(at) =
            l.trim_start().strip_prefix("┌─ ").and_then(|a| a.strip_prefix(&marker))
        {
            lines.extend(at.split(':').next().and_then(|n| n.parse::<usize>().ok()));
            messages.extend(message.take());
        }
    }
    (lines, messages)
}

#[test]
fn taplo_accepts_every_committed_experiment_and_sweep_file() {
    let files = toml_files(&repo().join("experiments"));
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let sweep = toml::from_str::<toml::Table>(&text).unwrap().contains_key("sweep");
        let want = if sweep { "sweep.schema.json" } else { "experiment.schema.json" };
        let line = text.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("#:schema ") && line.ends_with(&format!("schemas/{want}")),
            "{}: the first line should name schemas/{want}, found {line:?}",
            f.display()
        );
    }
    assert!(files.len() >= 20, "found only {} files under experiments/", files.len());
    let run = taplo(&files);
    assert_eq!(run.code, 0, "Taplo rejects committed files:\n{}{}", run.stdout, run.stderr);
}

#[test]
fn taplo_and_validate_flag_each_bad_file_at_the_same_line() {
    let listed: BTreeSet<String> = BAD.iter().map(|(f, ..)| f.to_string()).collect();
    let present: BTreeSet<String> = toml_files(&bad_dir())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, present, "every file of src/tests/editor/bad/ is listed in BAD");
    let s = Scratch::new();
    let files: Vec<PathBuf> = BAD.iter().map(|(name, ..)| bad_dir().join(name)).collect();
    let run = taplo(&files);
    assert_ne!(run.code, 0, "Taplo accepts every bad file");
    for (&(name, line, table, word), file) in BAD.iter().zip(&files) {
        let (lines, messages) = flagged(&run, file);
        assert!(lines.contains(&line), "{name}: Taplo flags lines {lines:?}, not {line}");
        assert!(
            lines.iter().all(|l| *l >= table),
            "{name}: Taplo flags lines {lines:?}, outside the table at line {table}"
        );
        assert!(
            !messages.is_empty() && messages.iter().all(|m| m.contains(word)),
            "{name}: Taplo's messages do not all name {word}: {messages:?}"
        );
        let validate = s.runner(&["validate", file.to_str().unwrap()], &[]);
        assert_eq!(validate.code, 2, "{name}: runner validate: {}", validate.stderr);
        let at = format!("{}:{line}:", file.display());
        let errors: Vec<&str> =
            validate.stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(
            errors.len() == 1 && errors[0].contains(&at) && errors[0].contains(word),
            "{name}: runner validate should report one error at {at} naming {word}: {}",
            validate.stderr
        );
    }
}
