//! The preflight: what a run would hit at its start (dataset, weights, output folders) is
//! reported all at once, located in the experiment's files, by `run`, `validate --for-run`
//! and `slurm`, before anything is written.

use std::fs;

use crate::support::{Scratch, VALID, line_of, repo};

#[test]
fn the_seed_config_without_dataset_and_weights_reports_both_and_writes_nothing() {
    let s = Scratch::new();
    let file = repo().join("experiments/phase3_hybrid.toml");
    let text = fs::read_to_string(&file).unwrap();
    let root_line = line_of(&text, "root = \"data/EchoNet-Dynamic\"");
    let weights_line = line_of(&text, "pretrained = ");
    let path = file.to_str().unwrap();
    for args in [vec!["run", path], vec!["validate", "--for-run", path], vec!["slurm", path]] {
        let r = s.runner(&args, &[]);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let at = |line: usize, key: &str, says: &str| {
            let loc = format!("{path}:{line}:");
            r.stderr.lines().any(|l| l.contains(&loc) && l.contains(key) && l.contains(says))
        };
        assert!(
            at(root_line, "/data/source/root", "runner fetch-echonet"),
            "{args:?}: the dataset is not named at line {root_line}:\n{}",
            r.stderr
        );
        assert!(
            at(weights_line, "/model/pretrained", "No such file"),
            "{args:?}: the weights are not named at line {weights_line}:\n{}",
            r.stderr
        );
        assert!(r.stderr.contains("2 error(s); nothing was written"), "{}", r.stderr);
        assert_eq!(fs::read_dir(s.path()).unwrap().count(), 0, "{args:?} wrote something");
    }
    // The config itself is valid: a plain validate does not look at this machine.
    assert_eq!(s.runner(&["validate", path], &[]).code, 0);
}

#[test]
fn validate_for_run_says_ready_where_a_run_can_start_and_writes_nothing() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let r = s.runner(&["validate", "--for-run", "e.toml"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "e.toml: ok, ready to run here");
    assert!(!s.path().join("results").exists());
}

#[test]
fn an_output_folder_that_cannot_be_made_is_named_with_what_to_do() {
    let s = Scratch::new();
    s.write("e.toml", &format!("{VALID}output_root = \"blocked/results\"\n"));
    s.write("blocked", "a file where a folder should be");
    let line = line_of(&fs::read_to_string(s.path().join("e.toml")).unwrap(), "output_root");
    for command in ["run", "slurm"] {
        let r = s.runner(&[command, "e.toml"], &[]);
        assert_eq!(r.code, 2, "{command}: {}", r.stderr);
        assert!(
            r.stderr.lines().any(|l| l.starts_with(&format!("error: e.toml:{line}:"))
                && l.contains("/runtime/output_root")
                && l.contains("blocked is a file, not a folder")
                && l.contains("set runtime.output_root")),
            "{command}: {}",
            r.stderr
        );
    }
    // The same key from a flag is located at the flag.
    let r = s.runner(&["run", "e.toml", "--set", "runtime.cache_dir=blocked/cache"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("/runtime/cache_dir") && r.stderr.contains("2 error(s)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        fs::read_to_string(s.path().join("blocked")).unwrap(),
        "a file where a folder should be"
    );
}
