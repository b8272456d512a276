//! Faults of the machine, injected with libfiu (`fiu-run`, Debian's fiu-utils, which
//! `scripts/test-setup.sh` installs): random failures of write, short writes, fsync, rename
//! and open at several rates over a small run, data generation and clip cache included. Each
//! attempt must end in 0, 74 (a fault of the machine) or a clear error, never a panic and
//! never a `FAILED` fold; once the faults stop, a plain rerun must end byte-identical to a
//! run never faulted. And a fault inside a checkpoint write must leave the checkpoint before
//! it valid. Without fiu-run these tests fail and name the install; a machine that cannot
//! have it leaves them out visibly, with `cargo test --release -- --skip faults`.
//!
//! `cargo test --release --test cli faults -- --nocapture` shows the figures.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::resume::{SETS, assert_same_as_reference, log, result_dir, run, send_signal};
use crate::support::{Run, Scratch, VALID, finish};

const ENVIRONMENT: i32 = 74;

/// libfiu's names of the failure points (`/usr/share/doc/fiu-utils/function_list.gz`):
/// write(2) failing, write(2) writing less than asked, fsync, rename, open.
const POINTS: [&str; 5] = [
    "posix/io/rw/write",
    "posix/io/rw/write/reduce",
    "posix/io/sync/fsync",
    "posix/io/dir/rename",
    "posix/io/oc/open",
];
/// The scenarios: each point's probability of failing a call, and the errno it fails with
/// (0: one that libfiu draws at random among those the call can give; 5: EIO, the transient
/// error of a shared filesystem, which the runner retries).
const SCENARIOS: [(f64, u32); 4] = [(0.002, 0), (0.01, 0), (0.04, 0), (0.02, 5)];
/// Faulted attempts per rate, at most (fewer once one finishes the run).
const ATTEMPTS: usize = 6;

/// Fails, naming the install, where fiu-run cannot inject faults.
fn require_fiu() {
    let works = Command::new("fiu-run").args(["-x", "true"]).output();
    assert!(
        works.is_ok_and(|o| o.status.success()),
        "fiu-run is not installed: run scripts/test-setup.sh (installs Debian's fiu-utils), \
         or leave these tests out with `cargo test --release -- --skip faults`"
    );
}

/// `fiu-run -x -f CTL runner run e.toml` with the resume tests' settings, in `s`, without
/// the caller's ECHO_RUNNER__* variables.
fn under_fiu(s: &Scratch, ctl: &str, enable: &[String]) -> Command {
    let mut cmd = Command::new("fiu-run");
    cmd.args(["-x", "-f", ctl]);
    for e in enable {
        cmd.arg("-c").arg(e);
    }
    cmd.arg(env!("CARGO_BIN_EXE_runner")).args(["run", "e.toml"]).args(SETS);
    cmd.current_dir(s.path());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ECHO_RUNNER__")) {
        cmd.env_remove(k);
    }
    cmd
}

/// The run under fiu-run, every point failing with probability `rate`.
fn faulted(s: &Scratch, rate: f64, errno: u32) -> Run {
    let enable: Vec<String> = POINTS
        .iter()
        .map(|p| format!("enable_random name={p},probability={rate},failinfo={errno}"))
        .collect();
    finish(under_fiu(s, "", &enable).output().expect("fiu-run starts"))
}

/// No fold marked failed anywhere under `s`.
fn assert_no_failed_fold(s: &Scratch, attempt: &Run) {
    for d in s.result_dirs() {
        let dir = s.path().join("results").join(d);
        for k in 0..2 {
            let failed = dir.join(format!("fold-{k}/FAILED"));
            assert!(
                !failed.exists(),
                "an injected fault marked fold {k} FAILED ({}):\n{}",
                fs::read_to_string(&failed).unwrap_or_default(),
                attempt.stderr
            );
        }
    }
}

#[derive(Default)]
struct Tally {
    attempts: usize,
    done: usize,
    environment: usize,
    clear_error: usize,
    retried: usize,
}

#[test]
fn random_io_faults_never_fail_a_fold_and_the_rerun_ends_identical() {
    require_fiu();
    let mut total = Tally::default();
    let mut lines = vec![];
    for (rate, errno) in SCENARIOS {
        let scenario = match errno {
            0 => format!("rate {rate}, random errno"),
            e => format!("rate {rate}, errno {e}"),
        };
        let s = Scratch::new();
        s.write("e.toml", VALID);
        let mut t = Tally::default();
        let mut kinds: Vec<String> = vec![];
        for _ in 0..ATTEMPTS {
            let r = faulted(&s, rate, errno);
            t.attempts += 1;
            t.retried += r.stderr.matches("; retrying in ").count();
            assert!(
                !r.stderr.contains("panicked"),
                "a panic at {scenario} (exit {}):\n{}",
                r.code,
                r.stderr
            );
            // Injected faults may cut a line of standard error short: the message may follow it.
            let last_error =
                r.stderr.lines().rev().find_map(|l| l.find("error: ").map(|at| &l[at..]));
            match r.code {
                0 => t.done += 1,
                ENVIRONMENT => {
                    t.environment += 1;
                    assert!(
                        r.stderr.contains("a fault of the machine") || r.stderr.contains("is full"),
                        "exit 74 without saying what to do:\n{}",
                        r.stderr
                    );
                }
                1 | 2 => {
                    t.clear_error += 1;
                    let line = last_error.unwrap_or_else(|| {
                        panic!("exit {} without an error line:\n{}", r.code, r.stderr)
                    });
                    assert!(line.contains('/') || line.contains(".toml"), "{line}");
                }
                code => panic!("exit {code} at {scenario}:\n{}", r.stderr),
            }
            if let Some(line) = last_error {
                kinds.push(format!("{}: {}", r.code, line.chars().take(150).collect::<String>()));
            }
            assert_no_failed_fold(&s, &r);
            if r.code == 0 {
                break;
            }
        }
        // The faults stop: a plain rerun finishes what is left, identical to a clean run.
        let plain = run(&s, &[], &[]);
        assert_eq!(plain.code, 0, "rerun after faults at {scenario}:\n{}", plain.stderr);
        assert_same_as_reference(&result_dir(&s));
        lines.push(format!(
            "{scenario}: {} attempts: {} done, {} exit 74, {} clear errors (exit 1/2); {} \
             retries; rerun byte-identical: yes",
            t.attempts, t.done, t.environment, t.clear_error, t.retried
        ));
        for k in kinds {
            lines.push(format!("  - {k}"));
        }
        total.attempts += t.attempts;
        total.done += t.done;
        total.environment += t.environment;
        total.clear_error += t.clear_error;
        total.retried += t.retried;
    }
    let seen = total.retried + total.environment + total.clear_error;
    println!("fault injection into {}, each at:", POINTS.join(", "));
    for line in &lines {
        println!("  {line}");
    }
    println!(
        "  total: {} attempts; {} done, {} exit 74, {} clear errors, 0 panics, 0 FAILED; faults \
         seen by the runner at least {seen} ({} retried, {} that ended an attempt); {} of {} \
         reruns byte-identical",
        total.attempts,
        total.done,
        total.environment,
        total.clear_error,
        total.retried,
        total.environment + total.clear_error,
        SCENARIOS.len(),
        SCENARIOS.len()
    );
    assert!(total.environment > 0, "no attempt ended with a fault of the machine");
    assert!(total.retried > 0, "no transient fault was retried");
}

/// Fold 0's whole checkpoints (renamed into place), oldest first.
fn checkpoints(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("fold-0/checkpoints"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('e'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs the experiment under fiu-run until fold 0's first epoch is checkpointed, then makes
/// every fsync fail with EIO (failinfo 5) and sends SIGTERM, which asks for a checkpoint at
/// the next batch: that checkpoint's write fails. Returns the scratch folder, the result
/// directory and the faulted run.
fn fault_a_stop_checkpoint() -> (Scratch, std::path::PathBuf, Run) {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let ctl = s.path().join("fiu");
    let child = under_fiu(&s, ctl.to_str().unwrap(), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fiu-run starts");
    let pid = child.id();
    let started = Instant::now();
    let dir = loop {
        let dir = s.result_dirs().first().map(|d| s.path().join("results").join(d));
        if let Some(dir) = dir.filter(|d| d.join("fold-0/checkpoints/e00001-b0000000").is_dir()) {
            break dir;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no first checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    };
    let enabled = Command::new("fiu-ctrl")
        .args(["-f", ctl.to_str().unwrap(), "-c", "enable name=posix/io/sync/fsync,failinfo=5"])
        .arg(pid.to_string())
        .status()
        .expect("fiu-ctrl runs");
    assert!(enabled.success());
    send_signal(pid, "TERM");
    let stopped = finish(child.wait_with_output().unwrap());
    (s, dir, stopped)
}

#[test]
fn a_fault_inside_a_checkpoint_write_leaves_the_one_before_valid() {
    require_fiu();
    // The stop lands at a batch of the second epoch, unless that epoch ended first (then the
    // fault hits its history.json) or the signal came before its first batch (then no
    // checkpoint is due: exit 75). Those tries are checked too, then tried again.
    let mut tries = 0;
    let (s, dir, stopped) = loop {
        tries += 1;
        let (s, dir, stopped) = fault_a_stop_checkpoint();
        assert!(!stopped.stderr.contains("panicked"), "{}", stopped.stderr);
        assert!(!dir.join("fold-0/FAILED").exists(), "{}", stopped.stderr);
        assert!([ENVIRONMENT, 75].contains(&stopped.code), "{}", stopped.stderr);
        if stopped.code == ENVIRONMENT && stopped.stderr.contains("checkpoints/") {
            break (s, dir, stopped);
        }
        assert!(tries < 5, "the fault never landed in a checkpoint write:\n{}", stopped.stderr);
    };
    println!(
        "checkpoint fault (try {tries}): exit {}; checkpoints left {:?}",
        stopped.code,
        checkpoints(&dir)
    );
    for line in stopped.stderr.lines().filter(|l| l.starts_with("error") || l.starts_with('(')) {
        println!("  {line}");
    }
    assert!(stopped.stderr.contains("error: "), "{}", stopped.stderr);
    assert!(stopped.stderr.matches("; retrying in ").count() >= 4, "{}", stopped.stderr);
    // `status` tells the fault apart from a failure.
    let status = s.runner(&["status", dir.to_str().unwrap()], &[]);
    assert!(status.stdout.contains("last environment error"), "{}", status.stdout);
    assert!(!status.stdout.contains("FAILED"), "{}", status.stdout);

    // The faults stop: the rerun resumes from the checkpoint before the faulted one, which
    // verifies, and ends byte-identical to a run never faulted.
    let resumed = run(&s, &[], &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let log = log(&dir);
    assert!(log.contains("fold-0: resuming at epoch"), "{log}");
    assert!(!log.contains("unusable"), "{log}");
    assert!(!dir.join("fold-0/ENVIRONMENT-ERROR").exists());
    assert_same_as_reference(&dir);
}
