//! `runner slurm`: the jobs it writes into the result directory, what it refuses, how
//! `--submit` queues them, and the SLURM fields of the run records. (A real SLURM runs them
//! in `.ci/slurm-test`.)

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{Scratch, VALID};

fn slurm_dir(s: &Scratch) -> std::path::PathBuf {
    let dirs = s.result_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    s.path().join("results").join(&dirs[0]).join("slurm")
}

#[test]
fn slurm_writes_the_jobs_into_the_result_directory_and_prints_them() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let run = s.runner(
        &["slurm", "e.toml", "--set", "train.epochs=1", "--time", "2h", "--gpus", "1"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = slurm_dir(&s);
    for name in ["folds.sbatch", "summary.sbatch", "submit.sh"] {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        assert!(run.stdout.contains(&text), "{name} was not printed");
        let syntax = Command::new("bash").arg("-n").arg(dir.join(name)).output().unwrap();
        assert!(syntax.status.success(), "{name}: {}", String::from_utf8_lossy(&syntax.stderr));
    }
    let folds = fs::read_to_string(dir.join("folds.sbatch")).unwrap();
    assert!(folds.contains("#SBATCH --array=0-2\n"), "{folds}");
    assert!(
        folds.contains("#SBATCH --time=02:00:00\n") && folds.contains("#SBATCH --gres=gpu:1\n")
    );
    assert!(folds.contains(&format!("RUNNER={}\n", env!("CARGO_BIN_EXE_runner"))));
    assert!(folds.contains("SETS=(--set train.epochs=1)\n"));
    assert!(
        run.stdout.contains(&format!("# submit with: bash {}", dir.join("submit.sh").display()))
    );
}

/// `bash slurm/summary.sbatch` as SLURM starts it once the array has ended.
fn summary_job(s: &Scratch) -> (i32, String) {
    let out = Command::new("bash")
        .arg(slurm_dir(s).join("summary.sbatch"))
        .current_dir(s.path())
        .env("SLURM_JOB_ID", "52")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_summary_job_fails_naming_the_folds_left_then_summarises_when_all_are_done() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let sets = ["--set", "train.epochs=1"];
    let wrote = s.runner(&[&["slurm", "e.toml"][..], &sets].concat(), &[]);
    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let fold = |k: &str| {
        let run = s.runner(&[&["run", "e.toml", "--fold", k][..], &sets].concat(), &[]);
        assert_eq!(run.code, 0, "fold {k}: {}", run.stderr);
    };
    fold("1");
    let (code, log) = summary_job(&s);
    assert_eq!(code, 1, "folds are left: {log}");
    assert!(log.contains("not every fold is done (left: 0,2;"), "{log}");
    assert!(log.contains("submit.sh --retry-failed --array=0,2"), "{log}");
    let result = slurm_dir(&s).parent().unwrap().to_path_buf();
    assert!(!result.join("summary.json").exists());

    fold("0");
    fold("2");
    let (code, log) = summary_job(&s);
    assert_eq!(code, 0, "{log}");
    assert!(result.join("summary.json").exists() && result.join("report.md").exists(), "{log}");
}

#[test]
fn usr1_to_a_fold_task_checkpoints_the_runner_and_the_requeued_task_ends_identical() {
    use crate::resume::{SETS, log, reference};
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let wrote = s.runner(&[&["slurm", "e.toml"][..], &SETS].concat(), &[]);
    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let bin = s.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let calls = s.path().join("scontrol-calls");
    let scontrol = bin.join("scontrol");
    fs::write(&scontrol, format!("#!/bin/bash\necho \"$*\" >>{}\n", calls.display())).unwrap();
    fs::set_permissions(&scontrol, fs::Permissions::from_mode(0o755)).unwrap();
    let slurm = slurm_dir(&s);
    let result = slurm.parent().unwrap().to_path_buf();
    // Array task 1 of job 40, as SLURM starts it after `restarts` requeues.
    let task = |restarts: &str| {
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new("bash");
        cmd.arg(slurm.join("folds.sbatch"))
            .current_dir(s.path())
            .env("PATH", path)
            .env("SLURM_JOB_ID", "41")
            .env("SLURM_ARRAY_JOB_ID", "40")
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env("SLURM_RESTART_COUNT", restarts)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let shell = task("0").spawn().unwrap();
    let started = std::time::Instant::now();
    while !log(&result).contains("epoch 2/3 batch") {
        assert!(started.elapsed().as_secs() < 120, "fold 1 never reached epoch 2");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What `--signal=B:USR1@…` does near the time limit: USR1 to the batch shell.
    crate::resume::send_signal(shell.id(), "USR1");
    let out = shell.wait_with_output().unwrap();
    let task_log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(75), "{task_log}");
    assert!(log(&result).contains("stopped (SIGUSR1); checkpoint written"), "{}", log(&result));
    assert_eq!(fs::read_to_string(&calls).unwrap(), "requeue 40_1\n", "{task_log}");

    let out = task("1").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(log(&result).contains("resuming at epoch"), "{}", log(&result));
    for file in ["fold-1/metrics.json", "fold-1/history.json", "fold-1/best.safetensors"] {
        let ours = fs::read(result.join(file)).unwrap();
        assert!(ours == fs::read(reference().join(file)).unwrap(), "{file} differs");
    }
    assert_eq!(fs::read_to_string(&calls).unwrap(), "requeue 40_1\n", "requeued once only");
}

#[test]
fn bad_slurm_options_are_refused_naming_the_flag_and_write_nothing() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    for (args, says) in [
        (&["--time", "90"][..], "--time"),
        (&["--time", "30s"], "under a minute"),
        (&["--mem", "64GB"], "--mem"),
        (&["--partition", "a b"], "--partition"),
        (&["--extra", "#SBATCH --array=1"], "--array is written by runner slurm"),
        (&["--extra", "--qos=long"], "not an #SBATCH line"),
        (
            &["--time", "2m", "--signal-lead", "120"],
            "--signal-lead 120 s is not shorter than --time 00:02:00",
        ),
        (&["--runner", "no/such/runner"], "--runner"),
    ] {
        let mut all = vec!["slurm", "e.toml"];
        all.extend_from_slice(args);
        let run = s.runner(&all, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(s.result_dirs(), Vec::<String>::new(), "{args:?} wrote a result directory");
    }
}

#[test]
fn submit_queues_the_fold_array_then_the_summary_after_it() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let calls = s.path().join("sbatch-calls");
    let sbatch = s.write(
        "bin/sbatch",
        &format!("#!/bin/bash\nn=$((100 + $(cat {0} 2>/dev/null | wc -l)))\necho \"$*\" >>{0}\necho \"$n;cluster\"\n", calls.display()),
    );
    fs::set_permissions(&sbatch, fs::Permissions::from_mode(0o755)).unwrap();
    let path =
        format!("{}:{}", s.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let run = s.runner(&["slurm", "e.toml", "--submit"], &[("PATH", &path)]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("submitted fold array job 100 and summary job 101"),
        "{}",
        run.stdout
    );
    let dir = slurm_dir(&s);
    let (folds, summary) = (dir.join("folds.sbatch"), dir.join("summary.sbatch"));
    let expected = format!(
        "--parsable {}\n--parsable --dependency=afterany:100 {}\n",
        folds.display(),
        summary.display()
    );
    assert_eq!(fs::read_to_string(&calls).unwrap(), expected);
    assert!(
        fs::read_to_string(dir.join("submitted.log")).unwrap().contains("folds 100 summary 101")
    );

    // Rerunning failed folds: the sbatch options go to the array, --retry-failed to its tasks.
    fs::remove_file(&calls).unwrap();
    let again = Command::new("bash")
        .arg(dir.join("submit.sh"))
        .args(["--retry-failed", "--array=2"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let expected = format!(
        "--parsable --array=2 {} --retry-failed\n--parsable --dependency=afterany:100 {}\n",
        folds.display(),
        summary.display()
    );
    assert_eq!(fs::read_to_string(&calls).unwrap(), expected);
}

#[test]
fn submit_without_sbatch_says_so() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let bin = s.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let bash = Command::new("bash").args(["-c", "command -v bash"]).output().unwrap();
    std::os::unix::fs::symlink(String::from_utf8_lossy(&bash.stdout).trim(), bin.join("bash"))
        .unwrap();
    let run = s.runner(&["slurm", "e.toml", "--submit"], &[("PATH", bin.to_str().unwrap())]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("sbatch not found"), "{}", run.stderr);
}

#[test]
fn run_records_name_the_slurm_attempt_only_under_slurm() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let slurm = [
        ("SLURM_JOB_ID", "41"),
        ("SLURM_ARRAY_JOB_ID", "40"),
        ("SLURM_ARRAY_TASK_ID", "0"),
        ("SLURMD_NODENAME", "gpu07"),
        ("SLURM_RESTART_COUNT", "2"),
    ];
    let args = ["run", "e.toml", "--set", "train.epochs=1", "--fold", "0"];
    let under_slurm = s.runner(&args, &slurm);
    assert_eq!(under_slurm.code, 0, "{}", under_slurm.stderr);
    assert_eq!(s.runner(&args, &[]).code, 0);
    let dirs = s.result_dirs();
    let text =
        fs::read_to_string(s.path().join("results").join(&dirs[0]).join("runs.jsonl")).unwrap();
    let records: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4, "{text}");
    for r in &records[..2] {
        assert_eq!(
            r["slurm"],
            serde_json::json!({"job_id": "41", "array_job_id": "40", "array_task_id": 0, "node": "gpu07", "restart_count": 2}),
            "{text}"
        );
    }
    assert_eq!(records[1]["event"], "end");
    assert!(records[2..].iter().all(|r| r.get("slurm").is_none()), "{text}");
}
