//! Interrupted runs: killed (SIGKILL at a batch, after an epoch, inside a checkpoint write),
//! stopped (SIGTERM, `--max-wall`), with a corrupt checkpoint, a failed fold, folds run in
//! parallel. Each must end byte-identical to a run that was never interrupted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use crate::support::{Run, Scratch, VALID, finish};

/// Two folds of three epochs of two-clip batches: several batches and checkpoints per fold.
pub(crate) const SETS: [&str; 6] =
    ["--set", "cv.folds=2", "--set", "train.epochs=3", "--set", "train.batch_size=2"];

/// The files a finished run must reproduce exactly.
const COMPARED: [&str; 9] = [
    "summary.json",
    "folds.json",
    "fold-0/metrics.json",
    "fold-0/history.json",
    "fold-0/best.safetensors",
    "fold-1/metrics.json",
    "fold-1/history.json",
    "fold-1/best.safetensors",
    "fold-1/DONE",
];

pub(crate) fn run(s: &Scratch, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["run", "e.toml"];
    args.extend(SETS);
    args.extend(extra);
    s.runner(&args, env)
}

pub(crate) fn result_dir(s: &Scratch) -> PathBuf {
    let dirs = s.result_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    s.path().join("results").join(&dirs[0])
}

/// The uninterrupted run every test compares with (its folder kept: a static is never dropped).
static REFERENCE: LazyLock<(Scratch, PathBuf)> = LazyLock::new(|| {
    let s = Scratch::for_static("resume-reference-");
    s.write("e.toml", VALID);
    let r = run(&s, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = result_dir(&s);
    (s, dir)
});

pub(crate) fn reference() -> &'static Path {
    &REFERENCE.1
}

pub(crate) fn assert_same_as_reference(dir: &Path) {
    for file in COMPARED {
        let ours = fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            ours == fs::read(reference().join(file)).unwrap(),
            "{file} differs from the uninterrupted run's"
        );
    }
}

/// Re-invokes until the run exits 0 (at most 30 times); returns how many attempts were
/// killed by a signal.
fn run_until_done(s: &Scratch, env: &[(&str, &str)]) -> usize {
    let mut killed = 0;
    for _ in 0..30 {
        let r = run(s, &[], env);
        match r.code {
            0 => return killed,
            -1 => killed += 1,
            code => panic!("exit {code}: {}", r.stderr),
        }
    }
    panic!("the run did not finish in 30 attempts");
}

fn killed_at(point: &str) {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let killed = run_until_done(&s, &[("ECHO_RUNNER_CRASH_AT", point)]);
    assert!(killed >= 2, "{point}: only {killed} attempts were killed");
    assert_same_as_reference(&result_dir(&s));
}

#[test]
fn killed_mid_epoch_again_and_again_ends_identical() {
    killed_at("batch:4");
}

#[test]
fn killed_right_after_an_epoch_checkpoint_ends_identical() {
    killed_at("epoch:2");
}

#[test]
fn killed_inside_a_checkpoint_write_ends_identical() {
    killed_at("checkpoint:2");
}

pub(crate) fn log(dir: &Path) -> String {
    fs::read_to_string(dir.join("train.log")).unwrap_or_default()
}

/// Starts `runner` with `args` on VALID and waits until its log says `needle`, looking every
/// `poll`.
fn spawn_until(s: &Scratch, args: &[&str], needle: &str, poll: Duration) -> std::process::Child {
    s.write("e.toml", VALID);
    let child = s.spawn(args);
    let started = Instant::now();
    while !s
        .result_dirs()
        .first()
        .is_some_and(|d| log(&s.path().join("results").join(d)).contains(needle))
    {
        assert!(started.elapsed() < Duration::from_secs(120), "training never got to {needle:?}");
        std::thread::sleep(poll);
    }
    child
}

fn stops_at_a_batch_with_exit_75_and_the_rerun_resumes_identical(signal: &str) {
    let s = Scratch::new();
    let args = [&["run", "e.toml"][..], &SETS].concat();
    let child = spawn_until(&s, &args, "epoch 2/3 batch", Duration::from_millis(20));
    send_signal(child.id(), signal);
    let stopped = finish(child.wait_with_output().unwrap());
    assert_eq!(stopped.code, 75, "{}", stopped.stderr);
    assert!(stopped.stdout.contains(&format!("stopped early (SIG{signal})")), "{}", stopped.stdout);
    let dir = result_dir(&s);
    assert!(log(&dir).contains(&format!("stopped (SIG{signal}); checkpoint written")));
    assert!(!dir.join("summary.json").exists());

    let resumed = run(&s, &[], &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(log(&dir).contains("resuming at epoch"), "{}", log(&dir));
    assert_same_as_reference(&dir);
    let runs = fs::read_to_string(dir.join("runs.jsonl")).unwrap();
    assert!(runs.contains("\"exit_status\":75"), "{runs}");
}

#[test]
fn sigterm_stops_at_a_batch_with_exit_75_and_the_rerun_resumes_identical() {
    stops_at_a_batch_with_exit_75_and_the_rerun_resumes_identical("TERM");
}

#[test]
fn ctrl_c_stops_at_a_batch_with_exit_75_and_the_rerun_resumes_identical() {
    stops_at_a_batch_with_exit_75_and_the_rerun_resumes_identical("INT");
}

#[test]
fn a_second_ctrl_c_kills_at_once_and_the_rerun_resumes_from_the_last_checkpoint() {
    use std::os::unix::process::ExitStatusExt;
    let s = Scratch::new();
    // Batches of about a second, so that the second Ctrl-C lands well inside the one the
    // first asked to finish.
    let sets = ["--set", "cv.folds=2", "--set", "train.epochs=2", "--set", "train.batch_size=8"];
    let slow = ["--set", "data.clip.frames=16", "--set", "data.source.videos=40"];
    let args = [&["run", "e.toml"][..], &sets, &slow].concat();
    let child = spawn_until(&s, &args, "epoch 2/2 batch 1/", Duration::from_millis(5));
    // Two signals sent together would merge into one pending signal: let the first land.
    send_signal(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(150));
    send_signal(child.id(), "INT");
    let killed = child.wait_with_output().unwrap();
    assert_eq!(killed.status.signal(), Some(2), "killed by SIGINT: {:?}", killed.status);
    let dir = result_dir(&s);
    assert!(!log(&dir).contains("checkpoint written"), "{}", log(&dir));

    let resumed = s.runner(&args, &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(log(&dir).contains("resuming at epoch 2"), "{}", log(&dir));
    assert!(dir.join("summary.json").exists());
}

pub(crate) fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args(["-s", signal, &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn max_wall_stops_with_75_and_the_reruns_end_as_an_uninterrupted_run() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let mut stops = 0;
    loop {
        let r = run(&s, &["--max-wall", "2s"], &[]);
        match r.code {
            75 => {
                assert!(r.stdout.contains("wall-time budget 2s reached"), "{}", r.stdout);
                stops += 1;
            }
            0 => break,
            code => panic!("exit {code}: {}", r.stderr),
        }
        assert!(stops < 40, "no progress under --max-wall");
    }
    assert!(stops >= 1, "the budget never ran out");
    assert_same_as_reference(&result_dir(&s));
}

#[test]
fn a_corrupt_newest_checkpoint_is_reported_and_the_one_before_used() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    // Killed right after fold 0's second epoch checkpoint: two checkpoints on disk.
    assert_eq!(run(&s, &[], &[("ECHO_RUNNER_CRASH_AT", "epoch:2")]).code, -1);
    let dir = result_dir(&s);
    let newest = dir.join("fold-0/checkpoints/e00002-b0000000");
    let model = newest.join("model.mpk");
    let mut bytes = fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&model, bytes).unwrap();

    let r = run(&s, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = log(&dir);
    assert!(
        log.contains("e00002-b0000000 is unusable (its checksum does not match its contents)"),
        "{log}"
    );
    assert!(log.contains("resuming at epoch 2 batch 0"), "{log}");
    assert_same_as_reference(&dir);
}

#[test]
fn a_failed_fold_is_recorded_skipped_and_retried_on_request() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    // Fold 1 resumes from a checkpoint whose checksum holds but whose model record does not
    // fit the model: a failure of the experiment (an I/O error would be one of the machine).
    let first = run(&s, &["--fold", "0"], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let dir = result_dir(&s);
    let bad = dir.join("fold-1/checkpoints/e00001-b0000000");
    fs::create_dir_all(&bad).unwrap();
    let newest = fs::read_dir(dir.join("fold-0/checkpoints")).unwrap().map(|e| e.unwrap().path());
    let newest = newest.max().unwrap();
    let state = fs::read(newest.join("state.json")).unwrap();
    let (model, optimizer) = (b"not a model record".to_vec(), b"nor an optimizer's".to_vec());
    let mut sum = blake3::Hasher::new();
    for part in [&state, &model, &optimizer] {
        sum.update(&(part.len() as u64).to_le_bytes());
        sum.update(part);
    }
    for (name, bytes) in [
        ("state.json", state.clone()),
        ("model.mpk", model),
        ("optimizer.mpk", optimizer),
        ("checksum", sum.finalize().to_hex().as_bytes().to_vec()),
    ] {
        fs::write(bad.join(name), bytes).unwrap();
    }

    let failed = run(&s, &[], &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("fold 1 failed:") && failed.stderr.contains("e00001-b0000000"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("--retry-failed"), "{}", failed.stderr);
    assert!(fs::read_to_string(dir.join("fold-1/FAILED")).unwrap().contains("e00001-b0000000"));

    fs::remove_dir_all(dir.join("fold-1/checkpoints")).unwrap();
    let skipped = run(&s, &[], &[]);
    assert_eq!(skipped.code, 1, "a failed fold is not retried unasked");
    assert!(log(&dir).contains("fold-1: failed earlier, skipped"));

    let retried = run(&s, &["--retry-failed"], &[]);
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert!(!dir.join("fold-1/FAILED").exists());
    assert_same_as_reference(&dir);
}

#[test]
fn a_diverged_fold_is_marked_failed_and_the_other_folds_go_on() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    // SGD at lr 10 with heavy momentum in f16 overflows fold 0 into a NaN loss in epoch 3.
    let wild = [
        "--set",
        "train.precision=f16",
        "--set",
        "train.optimizer.kind=sgd",
        "--set",
        "train.optimizer.lr=10",
        "--set",
        "train.optimizer.momentum=0.99",
    ];
    let failed = run(&s, &wild, &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("fold 0 failed: the loss is NaN")
            && failed.stderr.contains("training diverged (lower the learning rate"),
        "{}",
        failed.stderr
    );
    let dir = result_dir(&s);
    assert!(fs::read_to_string(dir.join("fold-0/FAILED")).unwrap().contains("diverged"));
    assert!(dir.join("fold-1/DONE").exists(), "the other fold went on");
    assert!(!dir.join("summary.json").exists());
    let status = s.runner(&[&["status", "e.toml"][..], &SETS, &wild].concat(), &[]);
    assert!(status.stdout.contains("fold 0       FAILED: the loss is NaN"), "{}", status.stdout);
}

#[test]
fn folds_of_one_directory_run_in_parallel_and_the_last_run_summarises() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    // The data stage first, so the two fold runs do not both build the clip cache.
    assert_eq!(run(&s, &["--fold", "0"], &[("ECHO_RUNNER_CRASH_AT", "batch:1")]).code, -1);
    let spawn = |k: &str| {
        let mut args = vec!["run", "e.toml", "--fold", k, "--no-wait"];
        args.extend(SETS);
        s.runner(&args, &[])
    };
    let (a, b) = std::thread::scope(|t| {
        let a = t.spawn(|| spawn("0"));
        let b = t.spawn(|| spawn("1"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let dir = result_dir(&s);
    assert!(dir.join("summary.json").exists(), "the fold that finished last writes the summary");
    assert_same_as_reference(&dir);

    // A whole run needs the directory to itself: it is refused while a fold run holds it.
    let _fold_run = fs::File::open(dir.join("lock")).unwrap();
    _fold_run.lock_shared().unwrap();
    let busy = run(&s, &["--no-wait"], &[]);
    assert_eq!(busy.code, 3, "{}", busy.stderr);
}

/// `toml`, run whole and killed again and again mid-epoch, ends byte-identical; returns the
/// whole run's scratch folder and result directory.
fn killed_ends_as_whole(toml: &str) -> (Scratch, PathBuf) {
    let whole = Scratch::new();
    whole.write("e.toml", toml);
    let r = run(&whole, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let killed = Scratch::new();
    killed.write("e.toml", toml);
    assert!(run_until_done(&killed, &[("ECHO_RUNNER_CRASH_AT", "batch:4")]) >= 2);
    let (a, b) = (result_dir(&whole), result_dir(&killed));
    assert_eq!(a.file_name(), b.file_name());
    for file in COMPARED {
        assert!(
            fs::read(a.join(file)).unwrap() == fs::read(b.join(file)).unwrap(),
            "{file} differs from the uninterrupted run's"
        );
    }
    (whole, a)
}

#[test]
fn a_bf16_run_killed_mid_epoch_ends_identical_to_an_uninterrupted_bf16_run() {
    let (_whole, dir) =
        killed_ends_as_whole(&VALID.replacen("[train]\n", "[train]\nprecision = \"bf16\"\n", 1));
    assert_ne!(dir.file_name(), reference().file_name(), "the precision is part of the experiment");
    // Products in bf16 train other weights than fp32's.
    let best = "fold-0/best.safetensors";
    assert!(fs::read(dir.join(best)).unwrap() != fs::read(reference().join(best)).unwrap());
}

/// f16 with a loss scale at first too large for some steps' gradients, growing after every
/// two good steps: the scale is loop state of its own, checkpointed with the rest.
#[test]
fn an_f16_run_killed_mid_epoch_resumes_its_loss_scale_and_ends_identical() {
    let f16 =
        "[train]\nprecision = \"f16\"\nloss_scale = { init = 131072.0, growth_interval = 2 }\n";
    let (_whole, dir) = killed_ends_as_whole(&VALID.replacen("[train]\n", f16, 1));
    assert_ne!(dir.file_name(), reference().file_name(), "the precision is part of the experiment");
    let (mut skipped, mut grew) = (0, false);
    for fold in ["fold-0", "fold-1"] {
        let history: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(fold).join("history.json")).unwrap())
                .unwrap();
        let mut scale = 131072.0;
        for epoch in history.as_array().unwrap() {
            let next = epoch["loss_scale"]["scale"].as_f64().unwrap();
            skipped += epoch["loss_scale"]["skipped_steps"].as_u64().unwrap();
            grew |= next > scale;
            scale = next;
        }
    }
    // The run took the scale both ways, so the resumed runs had state to carry.
    assert!(skipped > 0 && grew, "skipped {skipped}, grew {grew}");
}

/// Two shards of every batch on two threads, each drawing its dropout and drop-path masks at
/// the same time as the other: the masks must not depend on which thread draws first.
#[test]
fn a_run_on_two_cpu_threads_killed_mid_epoch_ends_identical_to_an_uninterrupted_one() {
    let (_whole, dir) =
        killed_ends_as_whole(&VALID.replacen("[runtime]\n", "[runtime]\ndevices = [0, 1]\n", 1));
    assert_eq!(
        dir.file_name(),
        reference().file_name(),
        "the devices are not part of the experiment"
    );
    // Per-shard BatchNorm statistics and masks: other weights than one thread's.
    let best = "fold-0/best.safetensors";
    assert!(fs::read(dir.join(best)).unwrap() != fs::read(reference().join(best)).unwrap());
}
