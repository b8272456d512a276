//! Layers (file, base files, environment, `--set`) and the experiment hash: the same
//! experiment written differently has one hash; a different experiment another.

use std::collections::BTreeSet;

use crate::support::{Scratch, VALID, digest, repo};

fn resolved_epochs(run: &crate::support::Run) -> i64 {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: toml::Table = toml::from_str(&run.stdout).expect("resolved TOML");
    doc["train"]["epochs"].as_integer().expect("epochs")
}

#[test]
fn flags_beat_variables_beat_the_file() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let file = s.runner(&["validate", "e.toml", "--print-resolved"], &[]);
    assert_eq!(resolved_epochs(&file), 2);
    let env = [("ECHO_RUNNER__TRAIN__EPOCHS", "5")];
    assert_eq!(resolved_epochs(&s.runner(&["validate", "e.toml", "--print-resolved"], &env)), 5);
    let both =
        s.runner(&["validate", "e.toml", "--print-resolved", "--set", "train.epochs=7"], &env);
    assert_eq!(resolved_epochs(&both), 7);
    let last_flag_wins = s.runner(
        &[
            "validate",
            "e.toml",
            "--print-resolved",
            "--set",
            "train.epochs=7",
            "--set",
            "train.epochs=9",
        ],
        &[],
    );
    assert_eq!(resolved_epochs(&last_flag_wins), 9);
}

#[test]
fn exponent_numbers_in_flags_and_variables_are_numbers() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let lr = |run: crate::support::Run| {
        assert_eq!(run.code, 0, "{}", run.stderr);
        let doc: toml::Table = toml::from_str(&run.stdout).expect("resolved TOML");
        doc["train"]["optimizer"]["lr"].as_float().expect("lr")
    };
    assert_eq!(
        lr(s.runner(
            &["validate", "e.toml", "--print-resolved", "--set", "train.optimizer.lr=3e-4"],
            &[]
        )),
        3e-4
    );
    let env = [("ECHO_RUNNER__TRAIN__OPTIMIZER__LR", "2.5E-3")];
    assert_eq!(lr(s.runner(&["validate", "e.toml", "--print-resolved"], &env)), 2.5e-3);
    // A string key still takes a string that merely starts with a digit.
    let run = s.runner(
        &["validate", "e.toml", "--print-resolved", "--set", "experiment.name=3d-echo"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("name = \"3d-echo\""), "{}", run.stdout);
}

#[test]
fn other_variables_never_break_parsing() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let env = [
        ("ECHO_RUNNER_TRAIN__EPOCHS", "x"),
        ("ECHO_RUNNERS__A", "{"),
        ("TRAIN__EPOCHS", "-1"),
        ("echo_runner__x", "1"),
    ];
    let run = s.runner(&["validate", "e.toml"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn one_experiment_written_differently_has_one_hash() {
    let s = Scratch::new();
    s.write("a.toml", VALID);
    // Keys reordered, comments, integers for floats, tables written inline or as sections,
    // a dotted key, a default written out.
    s.write(
        "b.toml",
        r#"# the same experiment
[train.optimizer]
lr = 0.001   # 1e-3
kind = "adamw"

[train]
batch_size = 4
epochs = 2

[runtime]
workers = 1

[sampler]
kind = "weighted"
[sampler.weights]
factor = 3
scheme = "minority_times"

[model]
temporal = { dwconv_kernel = 3, heads = 4 }
backbone.preset = "micro"
freeze = "none"
kind = "swin_hybrid"

[cv]
folds = 3
mode = "kfold"

[data]
source = { kind = "synthetic", videos = 12, max_frames = 40, min_frames = 16, frame_size = 32 }
clip = { frames = 8 }
resize = 64

[experiment]
seed = 1
name = "t"
"#,
    );
    // Part of it from a base file, part from flags.
    s.write(
        "base.toml",
        &VALID.replace("epochs = 2", "epochs = 11").replace("seed = 1", "seed = 99"),
    );
    s.write("c.toml", "base = \"base.toml\"\n[train]\nepochs = 2\n");
    let a = digest(&s.runner(&["validate", "a.toml", "--print-hash"], &[]));
    let b = digest(&s.runner(&["validate", "b.toml", "--print-hash"], &[]));
    let c = digest(
        &s.runner(&["validate", "c.toml", "--print-hash", "--set", "experiment.seed=1"], &[]),
    );
    let d = digest(
        &s.runner(&["validate", "a.toml", "--print-hash"], &[("ECHO_RUNNER__TRAIN__EPOCHS", "2")]),
    );
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
}

#[test]
fn every_result_affecting_change_changes_the_hash_and_runtime_does_not() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let hash = |sets: &[&str]| {
        let mut args = vec!["validate", "e.toml", "--print-hash"];
        for set in sets {
            args.extend(["--set", set]);
        }
        digest(&s.runner(&args, &[]))
    };
    let base = hash(&[]);
    let changes: &[&[&str]] = &[
        &["experiment.seed=2"],
        &["experiment.name=u"],
        &["data.resize=96"],
        &["data.clip.frames=12"],
        &["data.clip.train_sampling=uniform"],
        &["data.source.videos=13"],
        &["data.labels.rule=below", "data.labels.threshold=50.0"],
        &["data.split.mode=official"],
        &["data.augment.hflip=0.0"],
        &["data.normalize.mean=[0.5, 0.5, 0.5]"],
        &["model.temporal.dwconv_kernel=5"],
        &["model.temporal.paths=attention_only"],
        &["model.backbone.window=4"],
        &["model.head.dropout=0.3"],
        &["sampler.weights.factor=4.0"],
        &["sampler.kind=none"],
        &["loss.label_smoothing=0.1"],
        &["cv.folds=4"],
        &["cv.select_by=auroc"],
        &["train.optimizer.lr=0.002"],
        &["train.optimizer.weight_decay=0.05"],
        &["train.schedule.eta_min=0.0"],
        &["train.batch_size=8"],
        &["train.grad_clip=1.0"],
    ];
    let mut seen = BTreeSet::from([base.clone()]);
    for change in changes {
        assert!(seen.insert(hash(change)), "{change:?} did not change the hash");
    }
    for same in [
        &["runtime.workers=8"][..],
        &["runtime.output_root=elsewhere", "runtime.progress=off"],
        &["experiment.description=\"other words\""],
        &["data.source.videos=12"],
    ] {
        assert_eq!(hash(same), base, "{same:?} changed the hash");
    }
}

#[test]
fn a_file_with_a_base_resolves_exactly_as_written_in_full() {
    let s = Scratch::new();
    let dir = repo().join("experiments/ablations");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.to_str().unwrap();
        let via_base = s.runner(&["validate", file, "--print-resolved"], &[]);
        assert_eq!(via_base.code, 0, "{file}: {}", via_base.stderr);
        s.write("full.toml", &via_base.stdout);
        let full = s.runner(&["validate", "full.toml", "--print-resolved"], &[]);
        assert_eq!(full.stdout, via_base.stdout, "{file}");
        assert_eq!(
            digest(&s.runner(&["validate", "full.toml", "--print-hash"], &[])),
            digest(&s.runner(&["validate", file, "--print-hash"], &[])),
            "{file}"
        );
        count += 1;
    }
    assert!(count >= 9, "only {count} ablations");
}

#[test]
fn a_base_switching_a_variant_drops_the_old_variants_keys() {
    let s = Scratch::new();
    let phase3 = repo().join("experiments/phase3_hybrid.toml");
    let file = repo().join("experiments/ablations/labels_ef_below50.toml");
    let run = s.runner(&["validate", file.to_str().unwrap(), "--print-resolved"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: toml::Table = toml::from_str(&run.stdout).unwrap();
    let labels = doc["data"]["labels"].as_table().unwrap();
    assert_eq!(labels.keys().collect::<Vec<_>>(), ["rule", "threshold"]);
    // The same switch from a flag.
    let run = s.runner(
        &["validate", phase3.to_str().unwrap(), "--set", "sampler.kind=none", "--print-resolved"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: toml::Table = toml::from_str(&run.stdout).unwrap();
    assert_eq!(doc["sampler"].as_table().unwrap().len(), 1);
}

/// `runner schema` prints the schema of experiment files as written, `--resolved` that of
/// resolved experiments; the committed files are what it prints.
#[test]
fn schema_file_is_the_generated_schema() {
    let s = Scratch::new();
    for (file, flags, text) in [
        ("schemas/experiment.schema.json", &[][..], echo_runner::config::file_schema_text()),
        (
            "schemas/experiment.resolved.schema.json",
            &["--resolved"][..],
            echo_runner::config::resolved_schema_text(),
        ),
    ] {
        let committed = std::fs::read_to_string(repo().join(file)).unwrap();
        let command = [&["schema"][..], flags].concat().join(" ");
        assert!(committed == text, "{file} is stale: run `runner {command} > {file}`");
        let printed = s.runner(&[&["schema"][..], flags].concat(), &[]);
        assert_eq!(printed.code, 0);
        assert!(printed.stdout == committed, "`runner {command}` differs from {file}");
    }
}

/// Every committed experiment file: starts with a `#:schema` line naming the schema,
/// validates, and keeps the hash it had when committed (a changed type or default that
/// alters an existing hash fails here: see `config::hash::ADDED_LATER`).
#[test]
fn experiment_files_validate_and_keep_their_hashes() {
    let golden = std::fs::read_to_string(repo().join("src/tests/golden_hashes.txt")).unwrap();
    let s = Scratch::new();
    let mut checked = 0;
    for line in golden.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (file, want) = line.split_once(' ').expect("`file digest` lines");
        let path = repo().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let schema_ref =
            text.lines().next().and_then(|l| l.strip_prefix("#:schema ")).expect("#:schema first");
        assert!(
            path.parent().unwrap().join(schema_ref).is_file(),
            "{file}: {schema_ref} does not exist"
        );
        let got = digest(&s.runner(&["validate", path.to_str().unwrap(), "--print-hash"], &[]));
        assert_eq!(got, want.trim(), "{file}: hash changed");
        checked += 1;
    }
    let all = walk_toml(&repo().join("experiments"));
    assert_eq!(checked, all.len(), "golden_hashes.txt must list every experiment file");
}

/// `train.grad_clip` bounds the global norm since `grad_clip_norm` came; before, each
/// parameter's. A config that says `per_parameter` is the experiment it was, same hash; one
/// that says nothing is the new meaning, a new experiment.
#[test]
fn clipping_each_parameter_keeps_the_hash_grad_clip_had_before_global_clipping() {
    let s = Scratch::new();
    let hash = |file: &std::path::Path, set: &[&str]| {
        digest(
            &s.runner(&[&["validate", file.to_str().unwrap(), "--print-hash"], set].concat(), &[]),
        )
    };
    // The demo's hash at commit 95438ae, when its `grad_clip = 1.0` clipped each parameter;
    // the file now says so.
    let demo = repo().join("experiments/demo/phase3_hybrid.toml");
    assert_eq!(
        hash(&demo, &[]),
        "897cc1febe7530963c479269b1a9e8e1c80cb42591a4d2f83dd5a9e7081b4db1"
    );
    assert_ne!(hash(&demo, &["--set", "train.grad_clip_norm=global"]), hash(&demo, &[]));
    s.write("e.toml", VALID);
    let file = s.path().join("e.toml");
    let clipped = hash(&file, &["--set", "train.grad_clip=1.0"]);
    assert_eq!(
        hash(&file, &["--set", "train.grad_clip=1.0", "--set", "train.grad_clip_norm=global"]),
        clipped
    );
    assert_ne!(
        hash(
            &file,
            &["--set", "train.grad_clip=1.0", "--set", "train.grad_clip_norm=per_parameter"]
        ),
        clipped
    );
}

/// The experiment files under `dir` (its sweep files, which hold a `[sweep]` table, left out).
fn walk_toml(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk_toml(&p));
        } else if p.extension().is_some_and(|e| e == "toml") && !is_sweep(&p) {
            out.push(p);
        }
    }
    out
}

fn is_sweep(path: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap();
    toml::from_str::<toml::Table>(&text).unwrap().contains_key("sweep")
}

#[test]
fn print_model_counts_parameters_as_pytorch_does() {
    let s = Scratch::new();
    let show = |file: &str| {
        let run =
            s.runner(&["validate", repo().join(file).to_str().unwrap(), "--print-model"], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    // ResNet-18 (11,176,512) + LSTM 512 (2,101,248 with both biases) + head (263,682).
    assert!(
        show("experiments/phase1_cnn_lstm.toml")
            .contains("13541442 parameters, 13541442 trainable")
    );
    // Swin-B frozen but for its last stage: fewer trainable than total.
    let phase3 = show("experiments/phase3_hybrid.toml");
    let numbers: Vec<u64> = phase3
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches([',', ';']).parse().ok())
        .collect();
    assert!(numbers[1] < numbers[0] && numbers[0] > 86_743_224, "{phase3}");
    // echonet/dynamic's regressor: torchvision's r2plus1d_18(num_classes=1), 31,505,325 with
    // its 400-class fc less 400·513 plus 513.
    let echonet = show("experiments/echonet_r2plus1d.toml");
    assert!(echonet.contains("31300638 parameters, 31300638 trainable"), "{echonet}");
    // The regression twin of phase 1: the head's last layer has one output, not two.
    assert!(
        show("experiments/phase1_cnn_lstm_regress.toml")
            .contains("13540929 parameters, 13540929 trainable")
    );
}
