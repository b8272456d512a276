//! The generated scripts: their `#SBATCH` lines from the options, and their bash run for real
//! against a stand-in runner and a stand-in `scontrol`, so that the requeue logic is tested
//! without SLURM. (`src/tests/slurm.rs` signals a task of the real runner; `.ci/slurm-test`
//! runs the jobs on a real SLURM.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Job, ScriptError, SlurmOptions, scripts};

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn job(root: &Path) -> Job {
    Job {
        name: "demo".into(),
        folds: 7,
        digest: DIGEST.into(),
        max_requeues: 2,
        result_dir: root.join("results/demo-0123456789ab"),
        workdir: root.to_path_buf(),
        config: root.join("exp's config.toml"),
        sets: vec!["train.epochs=3".into(), "experiment.description=a b".into()],
        env: vec![
            ("ECHO_RUNNER__RUNTIME__WORKERS".into(), "2".into()),
            ("ECHO_RUNNER__not-a-name".into(), "x".into()),
        ],
    }
}

/// Twelve-hour tasks, USR1 five minutes before the limit, nothing else asked for.
pub(super) fn options(runner: &Path) -> SlurmOptions {
    SlurmOptions {
        time: Duration::from_secs(12 * 3600),
        signal_lead: Duration::from_secs(300),
        partition: None,
        account: None,
        gpus: None,
        cpus: None,
        mem: None,
        extra: vec![],
        runner: runner.to_path_buf(),
    }
}

fn sbatch_lines(script: &str) -> Vec<&str> {
    script.lines().filter(|l| l.starts_with("#SBATCH")).collect()
}

#[test]
fn one_array_task_per_fold_with_signal_requeue_and_appended_logs() {
    let root = Path::new("/scratch/u");
    let s = scripts(&job(root), &options(Path::new("/opt/runner"))).unwrap();
    let lines = sbatch_lines(&s.folds);
    for expected in [
        "#SBATCH --job-name=demo",
        "#SBATCH --array=0-6",
        "#SBATCH --time=12:00:00",
        "#SBATCH --signal=B:USR1@300",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        "#SBATCH --output=/scratch/u/results/demo-0123456789ab/slurm/fold-%a.log",
        "#SBATCH --chdir=/scratch/u",
    ] {
        assert!(lines.contains(&expected), "{expected} missing from\n{}", s.folds);
    }
    assert!(
        !s.folds.contains("--gres") && !s.folds.contains("--partition"),
        "options not given made lines"
    );
    let single =
        scripts(&Job { folds: 1, ..job(root) }, &options(Path::new("/opt/runner"))).unwrap();
    assert!(sbatch_lines(&single.folds).contains(&"#SBATCH --array=0-0"));
    // The fold task runs its fold, and its requeue logic counts SLURM's restarts against the cap.
    assert!(
        s.folds
            .contains(r#""$RUNNER" run "$CONFIG" "${SETS[@]}" --fold "$fold" "${run_flags[@]}" &"#)
    );
    assert!(s.folds.contains("requeues=${SLURM_RESTART_COUNT:-0}"));
    assert!(s.folds.contains("MAX_REQUEUES=2 "));
    assert!(s.folds.contains("EXIT_RESUMABLE=75 "));
    assert!(s.folds.contains("EXIT_ENVIRONMENT=74 "));
    assert!(s.folds.contains(r#"scontrol requeue "$task""#));
}

#[test]
fn options_become_sbatch_lines_and_gpus_go_to_the_fold_tasks_only() {
    let o = SlurmOptions {
        time: Duration::from_secs(36 * 3600 + 90),
        partition: Some("gpu".into()),
        account: Some("lab42".into()),
        gpus: Some(2),
        cpus: Some(8),
        mem: Some("64G".into()),
        extra: vec!["#SBATCH --qos=long".into(), "#SBATCH --constraint=a100".into()],
        ..options(Path::new("/opt/runner"))
    };
    let s = scripts(&job(Path::new("/w")), &o).unwrap();
    let shared = [
        "#SBATCH --time=1-12:01:30",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=lab42",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64G",
        "#SBATCH --qos=long",
        "#SBATCH --constraint=a100",
    ];
    for script in [&s.folds, &s.summary] {
        let lines = sbatch_lines(script);
        for expected in shared {
            assert!(lines.contains(&expected), "{expected} missing from\n{script}");
        }
    }
    assert!(sbatch_lines(&s.folds).contains(&"#SBATCH --gres=gpu:2"));
    assert!(!s.summary.contains("--gres"), "the summary asked for GPUs");
    let summary = sbatch_lines(&s.summary);
    assert!(
        !summary
            .iter()
            .any(|l| l.starts_with("#SBATCH --array") || l.starts_with("#SBATCH --signal")),
        "{summary:?}"
    );
    assert!(sbatch_lines(&s.summary).contains(&"#SBATCH --job-name=demo-summary"));
}

#[test]
fn sbatch_reads_every_directive_before_the_first_command() {
    let s = scripts(&job(Path::new("/w")), &options(Path::new("/opt/runner"))).unwrap();
    for script in [&s.folds, &s.summary] {
        let first_command =
            script.lines().position(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap();
        let last_directive = script
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("#SBATCH"))
            .map(|(i, _)| i)
            .last()
            .unwrap();
        assert!(last_directive < first_command, "an #SBATCH line after a command:\n{script}");
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(!script.contains("@@"), "a placeholder was left:\n{script}");
    }
}

#[test]
fn the_summary_waits_for_the_whole_array() {
    let s = scripts(&job(Path::new("/w")), &options(Path::new("/opt/runner"))).unwrap();
    assert!(s.submit.contains(r#"sbatch --parsable "$@" "$SLURM_DIR/folds.sbatch" "${retry[@]}""#));
    assert!(s.submit.contains(r#"--dependency=afterany:"$folds" "$SLURM_DIR/summary.sbatch""#));
    assert!(s.submit.contains("SLURM_DIR=/w/results/demo-0123456789ab/slurm\n"));
    assert!(s.summary.contains("FOLDS=7\n"));
    assert!(s.summary.contains(r#""$RUNNER" run "$CONFIG" "${SETS[@]}" || exit"#));
}

#[test]
fn values_are_quoted_for_bash_and_paths_sbatch_cannot_carry_are_refused() {
    let s = scripts(&job(Path::new("/w")), &options(Path::new("/opt/runner"))).unwrap();
    assert!(s.folds.contains(r"CONFIG='/w/exp'\''s config.toml'"), "{}", s.folds);
    assert!(s.folds.contains("SETS=(--set train.epochs=3 --set 'experiment.description=a b')"));
    assert!(s.folds.contains("export ECHO_RUNNER__RUNTIME__WORKERS=2\n"));
    assert!(!s.folds.contains("not-a-name"), "a variable bash cannot set was exported");
    for bad in ["/my results", "/100%"] {
        let err = scripts(&job(Path::new(bad)), &options(Path::new("/opt/runner"))).unwrap_err();
        assert!(matches!(err, ScriptError::NotForSbatch { .. }), "{bad}: {err}");
    }
}

/// A folder with `folds.sbatch` for a 3-fold job, a stand-in runner whose `run` does what
/// `run_body` says, and a stand-in `scontrol` that records its arguments.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(run_body: &str, max_requeues: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let bin = root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let runner = root.join("runner");
        let fake_runner = format!(
            "#!/bin/bash\ncase $1 in\n  validate) echo \"{DIGEST} dir\" ;;\n  prepare) ;;\n  run) echo \"$*\" >>{calls}; env | grep ^ECHO_RUNNER__ >>{calls}\n{run_body}\n  ;;\nesac\n",
            calls = root.join("runner-calls").display()
        );
        executable(&runner, &fake_runner);
        executable(
            &bin.join("scontrol"),
            &format!("#!/bin/bash\necho \"$*\" >>{}\n", root.join("scontrol-calls").display()),
        );
        let job = Job { folds: 3, max_requeues, result_dir: root.join("result"), ..job(root) };
        fs::create_dir_all(job.slurm_dir()).unwrap();
        fs::write(root.join("folds.sbatch"), scripts(&job, &options(&runner)).unwrap().folds)
            .unwrap();
        Sandbox { dir }
    }

    /// `bash folds.sbatch` as SLURM would start array task 1 of job 40 after `restarts` requeues.
    fn command(&self, restarts: u32) -> Command {
        let root = self.dir.path();
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("folds.sbatch"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    root.join("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("SLURM_JOB_ID", "41")
            .env("SLURM_ARRAY_JOB_ID", "40")
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env("SLURM_RESTART_COUNT", restarts.to_string())
            .env("ECHO_RUNNER__STRAY", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn task(&self, restarts: u32) -> (i32, String) {
        let out = self.command(restarts).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn executable(path: &PathBuf, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_checkpointed_task_requeues_itself_until_the_cap() {
    let sandbox = Sandbox::new("exit 75", 2);
    let (code, log) = sandbox.task(0);
    assert_eq!(code, 75, "{log}");
    let calls = sandbox.read("runner-calls");
    assert!(calls.contains("--fold 1"), "{log}");
    assert!(
        calls.contains("ECHO_RUNNER__RUNTIME__WORKERS=2") && !calls.contains("STRAY"),
        "{calls}"
    );
    // Task 1 of array 40 by its own name: job 41 could be the whole array.
    assert_eq!(sandbox.read("scontrol-calls"), "requeue 40_1\n", "{log}");
    assert!(log.contains("requeueing (requeue 1 of at most 2)"), "{log}");

    let (code, log) = sandbox.task(2);
    assert_eq!(code, 75, "{log}");
    assert_eq!(sandbox.read("scontrol-calls"), "requeue 40_1\n", "requeued past the cap:\n{log}");
    assert!(
        log.contains("runtime.max_requeues = 2") && log.contains("submit.sh --array=1"),
        "{log}"
    );
}

#[test]
fn a_fault_of_the_machine_requeues_after_a_delay_until_the_cap() {
    let sandbox = Sandbox::new("exit 74", 2);
    let started = std::time::Instant::now();
    let out = sandbox.command(0).env("ECHO_RUNNER_REQUEUE_DELAY", "1").output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(74), "{log}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "no delay:\n{log}");
    assert_eq!(sandbox.read("scontrol-calls"), "requeue 40_1\n", "{log}");
    assert!(
        log.contains("fault of the machine")
            && log.contains("requeueing in 1 s (requeue 1 of at most 2)"),
        "{log}"
    );

    let out = sandbox.command(2).env("ECHO_RUNNER_REQUEUE_DELAY", "1").output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(74), "{log}");
    assert_eq!(sandbox.read("scontrol-calls"), "requeue 40_1\n", "requeued past the cap:\n{log}");
    assert!(
        log.contains("runtime.max_requeues = 2") && log.contains("submit.sh --array=1"),
        "{log}"
    );
}

#[test]
fn a_finished_or_failed_task_is_not_requeued() {
    for (body, expected) in [("exit 0", 0), ("exit 1", 1)] {
        let sandbox = Sandbox::new(body, 10);
        let (code, log) = sandbox.task(0);
        assert_eq!(code, expected, "{log}");
        assert_eq!(sandbox.read("scontrol-calls"), "", "{body}: requeued\n{log}");
    }
}

#[test]
fn retry_failed_given_to_the_script_reaches_the_runner() {
    let sandbox = Sandbox::new("exit 0", 10);
    let out = sandbox.command(0).arg("--retry-failed").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        sandbox.read("runner-calls").contains("--fold 1 --retry-failed"),
        "{}",
        sandbox.read("runner-calls")
    );
}

#[test]
fn only_the_experiment_the_script_was_written_for_runs() {
    let sandbox = Sandbox::new("exit 0", 10);
    let script = sandbox.dir.path().join("folds.sbatch");
    let text = fs::read_to_string(&script)
        .unwrap()
        .replace(&format!("EXPECTED_HASH={DIGEST}"), "EXPECTED_HASH=feed");
    fs::write(&script, text).unwrap();
    let (code, log) = sandbox.task(0);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("changed"), "{log}");
    assert_eq!(sandbox.read("runner-calls"), "", "ran another experiment");
}

/// Runs the task with a stand-in runner that records a USR1 and exits 75 on it, or by itself
/// 75 after two seconds; sends `signal` to the task's shell once the runner has started.
fn signalled_task(signal: &str) -> (Sandbox, i32, String) {
    let body = "trap 'echo USR1 >>\"$(dirname \"$0\")/signals\"; exit 75' USR1\n\
                touch \"$(dirname \"$0\")/started\"\n\
                for i in $(seq 20); do sleep 0.1; done\nexit 75";
    let sandbox = Sandbox::new(body, 10);
    let child = sandbox.command(0).spawn().unwrap();
    let start = Instant::now();
    while !sandbox.dir.path().join("started").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "the stand-in runner never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    (sandbox, out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn usr1_to_the_shell_reaches_the_runner_and_its_exit_75_requeues() {
    let (sandbox, code, log) = signalled_task("USR1");
    assert_eq!(code, 75, "{log}");
    assert_eq!(sandbox.read("signals"), "USR1\n", "{log}");
    assert_eq!(sandbox.read("scontrol-calls"), "requeue 40_1\n", "{log}");
}

#[test]
fn after_term_the_task_waits_for_the_checkpoint_and_is_not_requeued() {
    // scancel, the time limit and preemption send TERM: a cancelled task must stay cancelled.
    let (sandbox, code, log) = signalled_task("TERM");
    assert_eq!(code, 75, "the shell did not wait for the runner:\n{log}");
    assert_eq!(sandbox.read("signals"), "", "TERM was passed on as USR1");
    assert_eq!(sandbox.read("scontrol-calls"), "", "requeued after TERM:\n{log}");
    assert!(
        log.contains("checkpointed after TERM") && log.contains("submit.sh --array=1"),
        "{log}"
    );
}
