//! `runner run SWEEP` and the other commands on sweep files: members identical to the same
//! experiments run alone, finished members skipped, killed sweeps resumed to the same bytes,
//! a failed member passed over, a stop (exit 75), two sweeps at once, the table at the end,
//! and bad sweep files refused before anything is written.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Run, Scratch, VALID, digest};

/// The small experiment, one epoch per fold.
fn experiment(name: &str) -> String {
    VALID.replace("name = \"t\"", &format!("name = \"{name}\"")).replace("epochs = 2", "epochs = 1")
}

/// A sweep of `a.toml` (and the files in `extra_experiments`) over two seeds.
fn sweep_file(extra_experiments: &str) -> String {
    format!(
        "#:schema ../schemas/sweep.schema.json\n[sweep]\nname = \"s\"\n\
         experiments = [\"../a.toml\"{extra_experiments}]\nbaseline = \"../a.toml\"\n\
         [[sweep.grid]]\nkey = \"experiment.seed\"\nvalues = [1, 2]\n"
    )
}

fn scratch() -> Scratch {
    let s = Scratch::new();
    s.write("a.toml", &experiment("a"));
    s.write("tables/s.toml", &sweep_file(""));
    s
}

/// `runner validate SWEEP --print-hash`: each member's result directory, in order.
fn member_dirs(s: &Scratch, file: &str) -> Vec<PathBuf> {
    let run = s.runner(&["validate", file, "--print-hash"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.lines().map(|l| s.path().join(l.split_once(' ').unwrap().1)).collect()
}

/// The lines of the first Markdown table printed (the results; comparisons follow it).
fn table(run: &Run) -> Vec<String> {
    let lines = run.stdout.lines().skip_while(|l| !l.starts_with('|'));
    lines.take_while(|l| l.starts_with('|')).map(str::to_owned).collect()
}

const COMPARED: [&str; 7] = [
    "summary.json",
    "folds.json",
    "fold-0/metrics.json",
    "fold-0/best.safetensors",
    "fold-1/history.json",
    "fold-2/metrics.json",
    "fold-2/best.safetensors",
];

/// Each member's results are those of `runner run a.toml --set experiment.seed=N` alone.
fn assert_members_match_single_runs(dirs: &[PathBuf]) {
    let alone = Scratch::new();
    alone.write("a.toml", &experiment("a"));
    for (seed, dir) in ["1", "2"].iter().zip(dirs) {
        let set = format!("experiment.seed={seed}");
        let run = alone.runner(&["run", "a.toml", "--set", &set], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let hash =
            digest(&alone.runner(&["validate", "a.toml", "--set", &set, "--print-hash"], &[]));
        let single = alone.path().join("results").join(format!("a-{}", &hash[..12]));
        assert_eq!(dir.file_name().unwrap(), single.file_name().unwrap(), "same hash, same name");
        for file in COMPARED {
            assert!(
                fs::read(dir.join(file)).unwrap() == fs::read(single.join(file)).unwrap(),
                "{}: {file} differs from the experiment run alone",
                dir.display()
            );
        }
    }
}

#[test]
fn a_sweep_runs_its_members_as_single_runs_then_skips_them_and_prints_the_same_table() {
    let s = scratch();
    let first = s.runner(&["run", "tables/s.toml"], &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("member 0 (1 of 2): a [experiment.seed=1]: running"));
    assert!(first.stdout.contains("member 1 (2 of 2): a [experiment.seed=2]: done"));
    // The members differ only in the seed: one row, the mean over the two seeds.
    let rows = table(&first);
    assert_eq!(rows.len(), 3, "header, rule and the seed group:\n{}", first.stdout);
    assert!(rows[0].contains("| experiment.seed |"), "{}", rows[0]);
    assert!(rows[2].starts_with("| a × 2 seeds |"), "{}", rows[2]);

    let dirs = member_dirs(&s, "tables/s.toml");
    assert_members_match_single_runs(&dirs);

    // The sweep's record: members, hashes, states; the table beside it.
    let sweeps: Vec<_> = fs::read_dir(s.path().join("results/sweeps")).unwrap().collect();
    assert_eq!(sweeps.len(), 1);
    let record_dir = sweeps.into_iter().next().unwrap().unwrap().path();
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(record_dir.join("sweep.json")).unwrap()).unwrap();
    let members = record["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    for (m, dir) in members.iter().zip(&dirs) {
        assert_eq!(m["state"], "done");
        assert!(dir.ends_with(m["dir"].as_str().unwrap()), "{m}");
        let digest = m["digest"].as_str().unwrap();
        assert!(dir.to_str().unwrap().ends_with(&digest[..12]), "{m}");
    }
    let md = fs::read_to_string(record_dir.join("report.md")).unwrap();
    let md_rows: Vec<&str> = md.lines().take_while(|l| l.starts_with('|')).collect();
    assert_eq!(md_rows, rows);
    assert!(md.contains("Differences from the baseline, a × 2 seeds"), "{md}");
    assert!(record_dir.join("report.html").is_file());

    // Again: nothing is trained, the same table is printed.
    let stamp = fs::read(dirs[0].join("runs.jsonl")).unwrap();
    let again = s.runner(&["run", "tables/s.toml"], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout.matches(": done already").count(), 2, "{}", again.stdout);
    assert_eq!(table(&again), rows);
    assert_eq!(
        fs::read(dirs[0].join("runs.jsonl")).unwrap(),
        stamp,
        "a done member is not touched"
    );

    let status = s.runner(&["status", "tables/s.toml"], &[]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("2 of 2 members done"), "{}", status.stdout);
    assert_eq!(status.stdout.matches("done, 3/3 folds").count(), 2, "{}", status.stdout);

    let report = s.runner(&["report", "tables/s.toml"], &[]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert_eq!(table(&report), rows);
}

#[test]
fn a_grid_on_the_command_line_makes_the_members_a_sweep_file_makes() {
    let s = scratch();
    let from_file = member_dirs(&s, "tables/s.toml");
    let grid = s.runner(&["run", "a.toml", "--grid", "experiment.seed=1,2", "--no-wait"], &[]);
    assert_eq!(grid.code, 0, "{}", grid.stderr);
    for dir in &from_file {
        assert!(
            grid.stdout.contains(dir.file_name().unwrap().to_str().unwrap()),
            "{}",
            grid.stdout
        );
        assert!(dir.join("summary.json").is_file());
    }
    let bad = s.runner(&["run", "a.toml", "--grid", "experiment.seed=1,x"], &[]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--grid experiment.seed=1,x"), "{}", bad.stderr);
}

#[test]
fn a_sweep_killed_again_and_again_ends_with_members_identical_to_single_runs() {
    let s = scratch();
    let mut killed = 0;
    for _ in 0..30 {
        let r = s.runner(&["run", "tables/s.toml"], &[("ECHO_RUNNER_CRASH_AT", "batch:3")]);
        match r.code {
            0 => break,
            -1 => killed += 1,
            code => panic!("exit {code}: {}", r.stderr),
        }
    }
    assert!(killed >= 2, "only {killed} attempts were killed");
    assert_members_match_single_runs(&member_dirs(&s, "tables/s.toml"));
}

#[test]
fn a_failed_member_does_not_stop_the_others_unless_fail_fast() {
    let s = scratch();
    // A member whose dataset lists a video it lacks: it passes the preflight (the folder and
    // FileList.csv are there) and fails when it runs.
    let bad = experiment("bad").replace(
        "kind = \"synthetic\"\nvideos = 12\nframe_size = 32\nmin_frames = 16\nmax_frames = 40",
        "kind = \"echonet\"\nroot = \"broken-dataset\"",
    );
    assert!(bad.contains("broken-dataset"));
    s.write("bad.toml", &bad);
    write_broken_dataset(&s);
    s.write(
        "tables/s.toml",
        &sweep_file(", \"../bad.toml\"")
            .replace("\"../a.toml\", \"../bad", "\"../bad.toml\", \"../a"),
    );
    let r = s.runner(&["run", "tables/s.toml"], &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("member 0 (1 of 4): bad [experiment.seed=1]: failed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2 member(s) failed"), "{}", r.stdout);
    let dirs = member_dirs(&s, "tables/s.toml");
    assert!(dirs[2].join("summary.json").is_file() && dirs[3].join("summary.json").is_file());
    // Every member that has a result directory is in the table (seeds grouped); the failed
    // ones are incomplete.
    let rows = table(&r);
    assert_eq!(rows.len(), 4, "{}", r.stdout);
    assert!(rows[2].starts_with("| bad × 2 seeds |") && rows[2].contains("0/3 (incomplete)"));
    assert!(rows[3].starts_with("| a × 2 seeds |") && rows[3].contains("3/3"), "{}", r.stdout);

    let t = Scratch::new();
    t.write("a.toml", &experiment("a"));
    t.write("bad.toml", &bad);
    write_broken_dataset(&t);
    t.write("tables/s.toml", &fs::read_to_string(s.path().join("tables/s.toml")).unwrap());
    let fast = t.runner(&["run", "tables/s.toml", "--fail-fast"], &[]);
    assert_eq!(fast.code, 1, "{}", fast.stderr);
    assert!(fast.stdout.contains("--fail-fast: not running the members after it"));
    assert!(!t.path().join(dirs[2].strip_prefix(s.path()).unwrap()).exists());
}

/// An EchoNet-Dynamic folder that lists three normal and three abnormal videos (enough for
/// three folds) and has none of them in Videos/.
fn write_broken_dataset(s: &Scratch) {
    let rows: String = (0..6)
        .map(|i| format!("0X{i},{},30,75,112,112,50,40,TRAIN\n", if i < 3 { 60 } else { 30 }))
        .collect();
    s.write(
        "broken-dataset/FileList.csv",
        &format!("FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n{rows}"),
    );
    fs::create_dir_all(s.path().join("broken-dataset/Videos")).unwrap();
}

#[test]
fn a_sweep_out_of_wall_time_stops_with_75_and_the_rerun_finishes_it() {
    let s = scratch();
    let mut stops = 0;
    loop {
        let r = s.runner(&["run", "tables/s.toml", "--max-wall", "2s"], &[]);
        match r.code {
            75 => {
                assert!(r.stdout.contains("rerun the same command to resume"), "{}", r.stdout);
                stops += 1;
            }
            0 => break,
            code => panic!("exit {code}: {}", r.stderr),
        }
        assert!(stops < 40, "no progress under --max-wall");
    }
    assert!(stops >= 1, "the budget never ran out");
    assert_members_match_single_runs(&member_dirs(&s, "tables/s.toml"));
}

#[test]
fn two_sweeps_at_once_share_the_members_and_train_each_once() {
    let s = scratch();
    let (a, b) = std::thread::scope(|t| {
        let a = t.spawn(|| s.runner(&["run", "tables/s.toml"], &[]));
        let b = t.spawn(|| s.runner(&["run", "tables/s.toml"], &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}\n{}\n{}", a.stdout, a.stderr, b.stdout, b.stderr);
    assert_eq!(table(&a), table(&b));
    for dir in member_dirs(&s, "tables/s.toml") {
        let runs = fs::read_to_string(dir.join("runs.jsonl")).unwrap();
        assert_eq!(runs.matches("\"event\":\"start\"").count(), 1, "trained once: {runs}");
    }
}

#[test]
fn a_bad_sweep_file_is_refused_naming_file_line_and_key_and_nothing_is_written() {
    let s = scratch();
    let text = "[sweep]\nname = \"s\"\nexperiments = [\"../a.toml\", \"../gone.toml\"]\n\
                [[sweep.grid]]\nkey = \"train.epoks\"\nvalues = [1]\n\
                [[sweep.grid]]\nkey = \"train.batch_size\"\nvalues = [2, \"four\"]\n";
    s.write("tables/bad.toml", text);
    let file = Path::new("tables/bad.toml");
    for command in ["validate", "run", "status", "slurm", "report"] {
        let r = s.runner(&[command, "tables/bad.toml"], &[]);
        assert_eq!(r.code, 2, "{command}: {}", r.stderr);
        for (line, says) in [(3, "gone.toml"), (5, "epoks"), (9, "four")] {
            let at = format!("{}:{line}:", file.display());
            assert!(
                r.stderr.lines().any(|l| l.contains(&at) && l.contains(says)),
                "{command}: no {at} … {says} in\n{}",
                r.stderr
            );
        }
    }
    assert!(s.result_dirs().is_empty(), "nothing is written: {:?}", s.result_dirs());
    let member = s.runner(&["validate", "tables/s.toml", "--member", "2"], &[]);
    assert_eq!(member.code, 2);
    assert!(member.stderr.contains("has 2 member(s)"), "{}", member.stderr);
}

#[test]
fn one_member_of_a_sweep_is_the_experiment_alone() {
    let s = scratch();
    let member = s.runner(&["validate", "tables/s.toml", "--member", "1", "--print-hash"], &[]);
    let alone =
        s.runner(&["validate", "a.toml", "--set", "experiment.seed=2", "--print-hash"], &[]);
    assert_eq!(digest(&member), digest(&alone));
    let resolved = |args: &[&str]| {
        s.runner(&[&["validate"], args, &["--print-resolved"]].concat(), &[]).stdout
    };
    assert_eq!(
        resolved(&["tables/s.toml", "--member", "1"]),
        resolved(&["a.toml", "--set", "experiment.seed=2"])
    );
    let whole = s.runner(&["data-check", "tables/s.toml"], &[]);
    assert_eq!(whole.code, 2);
    assert!(whole.stderr.contains("is a sweep file: name one of its members with --member"));
}

#[test]
fn committed_tables_validate_and_their_members_are_the_committed_experiments() {
    let s = Scratch::new();
    let repo = crate::support::repo();
    for (table, members) in [
        ("experiments/tables/seed.toml", 3),
        ("experiments/tables/ablations.toml", 10),
        ("experiments/demo/tables/seed.toml", 3),
        ("experiments/demo/tables/ablations.toml", 5),
    ] {
        let path = repo.join(table);
        let text = fs::read_to_string(&path).unwrap();
        let schema = text.lines().next().and_then(|l| l.strip_prefix("#:schema ")).unwrap();
        assert!(path.parent().unwrap().join(schema).is_file(), "{table}: {schema}");
        let run = s.runner(&["validate", path.to_str().unwrap(), "--print-hash"], &[]);
        assert_eq!(run.code, 0, "{table}: {}", run.stderr);
        assert_eq!(run.stdout.lines().count(), members, "{table}");
    }
    let printed = s.runner(&["schema", "--sweep"], &[]);
    assert!(printed.stdout == fs::read_to_string(repo.join("schemas/sweep.schema.json")).unwrap());
}
