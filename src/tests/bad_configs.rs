//! Malformed experiments: each must exit 2 with a message naming the file (or the variable
//! or flag), the line and the key, and must leave no result directory behind.

use crate::support::{Scratch, VALID, line_of};

/// Where the first error must point.
enum At {
    /// The line holding this text in the (edited) file.
    Line(&'static str),
    /// Line 1 of the file: the whole document.
    Top,
    /// Not in a file: this variable or flag, as printed.
    Origin(&'static str),
}

struct Case {
    name: &'static str,
    /// Edits of `VALID`, in order; each `from` must occur.
    edits: &'static [(&'static str, &'static str)],
    /// A whole file instead of `VALID`.
    raw: Option<&'static [u8]>,
    /// Other files next to it.
    others: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    at: At,
    pointer: &'static str,
    message: &'static str,
}

const fn edit(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    at: At,
    pointer: &'static str,
    message: &'static str,
) -> Case {
    Case { name, edits, raw: None, others: &[], args: &[], env: &[], at, pointer, message }
}

const CASES: &[Case] = &[
    // TOML syntax
    edit(
        "unclosed array",
        &[("frames = 8", "frames = [8")],
        At::Line("[model]"),
        "",
        "TOML syntax error",
    ),
    edit("missing equals", &[("seed = 1", "seed 1")], At::Line("seed 1"), "", "TOML syntax error"),
    edit(
        "duplicate key",
        &[("seed = 1", "seed = 1\nseed = 2")],
        At::Line("seed = 2"),
        "",
        "duplicate key",
    ),
    edit(
        "unterminated string",
        &[("name = \"t\"", "name = \"t")],
        At::Line("name = \"t"),
        "",
        "TOML syntax error",
    ),
    // unknown keys, at every level; in a tagged table, judged by the variant it names
    edit(
        "unknown section",
        &[("[runtime]", "[extras]\nx = 1\n\n[runtime]")],
        At::Line("[extras]"),
        "/extras",
        "unknown key `extras`",
    ),
    edit(
        "unknown in experiment",
        &[("seed = 1", "seed = 1\nauthor = \"me\"")],
        At::Line("author"),
        "/experiment/author",
        "unknown key `author`",
    ),
    edit(
        "unknown in data",
        &[("resize = 64", "resize = 64\nfps = 50")],
        At::Line("fps = 50"),
        "/data/fps",
        "unknown key `fps`",
    ),
    edit(
        "unknown in synthetic source",
        &[("videos = 12", "videos = 12\nroot = \"x\"")],
        At::Line("root = "),
        "/data/source/root",
        "unknown key `root`",
    ),
    edit(
        "unknown in clip",
        &[("frames = 8", "frames = 8\nstride = 2")],
        At::Line("stride"),
        "/data/clip/stride",
        "unknown key `stride`",
    ),
    edit(
        "key of another model kind",
        &[("freeze = \"none\"", "freeze = \"none\"\nlstm = { hidden = 3 }")],
        At::Line("lstm ="),
        "/model/lstm",
        "unknown key `lstm`",
    ),
    edit(
        "unknown in backbone",
        &[("preset = \"micro\"", "preset = \"micro\"\ndepth = 18")],
        At::Line("depth = 18"),
        "/model/backbone/depth",
        "unknown key `depth`",
    ),
    edit(
        "unknown in temporal",
        &[("dwconv_kernel = 3", "dwconv_kernel = 3\nkernel = 5")],
        At::Line("kernel = 5"),
        "/model/temporal/kernel",
        "unknown key `kernel`",
    ),
    edit(
        "unknown in sampler weights",
        &[("factor = 3.0 }", "factor = 3.0, power = 2 }")],
        At::Line("power = 2"),
        "/sampler/weights/power",
        "unknown key `power`",
    ),
    edit(
        "key of another optimizer",
        &[("lr = 1e-3", "lr = 1e-3\nmomentum = 0.9")],
        At::Line("momentum"),
        "/train/optimizer/momentum",
        "unknown key `momentum`",
    ),
    edit(
        "unknown in runtime",
        &[("workers = 1", "workers = 1\ngpus = 2")],
        At::Line("gpus"),
        "/runtime/gpus",
        "unknown key `gpus`",
    ),
    edit(
        "unknown in cv",
        &[("folds = 3", "folds = 3\nrepeats = 2")],
        At::Line("repeats"),
        "/cv/repeats",
        "unknown key `repeats`",
    ),
    // wrong types
    edit(
        "string for integer",
        &[("epochs = 2", "epochs = \"two\"")],
        At::Line("epochs = \"two\""),
        "/train/epochs",
        "\"two\" is not of type \"integer\"",
    ),
    edit(
        "boolean for number",
        &[("lr = 1e-3", "lr = true")],
        At::Line("lr = true"),
        "/train/optimizer/lr",
        "true is not of type \"number\"",
    ),
    edit(
        "number for section",
        &[("[cv]\nfolds = 3\n", ""), ("[experiment]", "cv = 3\n\n[experiment]")],
        At::Line("cv = 3"),
        "/cv",
        "3 is not of type \"object\"",
    ),
    edit(
        "fraction for count",
        &[("frames = 8", "frames = 8.5")],
        At::Line("frames = 8.5"),
        "/data/clip/frames",
        "8.5 is not of type \"integer\"",
    ),
    edit(
        "unknown enum value",
        &[("freeze = \"none\"", "freeze = \"some\"")],
        At::Line("freeze = \"some\""),
        "/model/freeze",
        "\"some\" is not one of",
    ),
    edit(
        "bad name",
        &[("name = \"t\"", "name = \"a/b\"")],
        At::Line("name = \"a/b\""),
        "/experiment/name",
        "does not match",
    ),
    // out of range
    edit(
        "negative batch",
        &[("batch_size = 4", "batch_size = -4")],
        At::Line("batch_size = -4"),
        "/train/batch_size",
        "less than the minimum of 1",
    ),
    edit(
        "zero frames",
        &[("frames = 8", "frames = 0")],
        At::Line("frames = 0"),
        "/data/clip/frames",
        "less than the minimum of 1",
    ),
    edit(
        "zero epochs",
        &[("epochs = 2", "epochs = 0")],
        At::Line("epochs = 0"),
        "/train/epochs",
        "less than the minimum of 1",
    ),
    edit(
        "one fold",
        &[("folds = 3", "folds = 1")],
        At::Line("folds = 1"),
        "/cv/folds",
        "less than the minimum of 2",
    ),
    edit(
        "nan",
        &[("lr = 1e-3", "lr = nan")],
        At::Line("lr = nan"),
        "/train/optimizer/lr",
        "NaN is not a finite number",
    ),
    edit(
        "loss scale backoff above 1",
        &[(
            "batch_size = 4",
            "batch_size = 4\nprecision = \"f16\"\nloss_scale = { backoff_factor = 1.5 }",
        )],
        At::Line("loss_scale ="),
        "/train/loss_scale/backoff_factor",
        "greater than or equal to the maximum of 1",
    ),
    edit(
        "infinity",
        &[("factor = 3.0", "factor = inf")],
        At::Line("factor = inf"),
        "/sampler/weights/factor",
        "inf is not a finite number",
    ),
    // missing parts
    Case {
        raw: Some(b""),
        ..edit("empty file", &[], At::Top, "", "missing required key `experiment`")
    },
    Case {
        raw: Some(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00garbage\x9c"),
        ..edit("binary garbage", &[], At::Top, "", "not UTF-8 text")
    },
    edit(
        "missing model section",
        &[(
            "[model]\nkind = \"swin_hybrid\"\nfreeze = \"none\"\n\n[model.backbone]\npreset = \"micro\"\n\n[model.temporal]\nheads = 4\ndwconv_kernel = 3\n",
            "",
        )],
        At::Top,
        "",
        "missing required key `model`",
    ),
    edit(
        "missing name",
        &[("name = \"t\"\n", "")],
        At::Line("[experiment]"),
        "/experiment",
        "missing required key `name`",
    ),
    edit(
        "kind that does not exist",
        &[("kind = \"swin_hybrid\"", "kind = \"vit_lstm\"")],
        At::Line("vit_lstm"),
        "/model/kind",
        "unknown kind \"vit_lstm\"",
    ),
    edit(
        "source kind that does not exist",
        &[("kind = \"synthetic\"", "kind = \"dicom\"")],
        At::Line("dicom"),
        "/data/source/kind",
        "unknown kind \"dicom\"",
    ),
    edit(
        "tagged table without its tag",
        &[("kind = \"swin_hybrid\"\n", "")],
        At::Line("[model]"),
        "/model",
        "missing required key `kind`",
    ),
    // base files
    Case {
        raw: Some(b"base = \"nowhere.toml\"\n"),
        ..edit("base that does not exist", &[], At::Line("base"), "/base", "cannot read base file")
    },
    Case {
        raw: Some(b"base = \"loop.toml\"\n"),
        others: &[("loop.toml", "base = \"bad.toml\"\n")],
        ..edit(
            "base that loops",
            &[],
            At::Origin("loop.toml:1:8"),
            "/base",
            "base files form a cycle",
        )
    },
    Case {
        raw: Some(b"base = 3\n"),
        ..edit("base not a path", &[], At::Line("base"), "/base", "expected a string")
    },
    // overrides
    Case {
        args: &["--set", "train"],
        ..edit("flag naming no key", &[], At::Origin("--set train"), "", "names no key")
    },
    Case {
        args: &["--set", "train..epochs=3"],
        ..edit("flag with empty key", &[], At::Origin("--set train..epochs=3"), "", "names no key")
    },
    Case {
        args: &["--set", "train.epochz=3"],
        ..edit(
            "flag naming unknown key",
            &[],
            At::Origin("--set train.epochz=3"),
            "/train/epochz",
            "unknown key `epochz`",
        )
    },
    Case {
        args: &["--set", "cv.folds=many"],
        ..edit(
            "flag with bad value",
            &[],
            At::Origin("--set cv.folds=many"),
            "/cv/folds",
            "\"many\" is not of type \"integer\"",
        )
    },
    Case {
        env: &[("ECHO_RUNNER__TRAIN__EPOCHZ", "3")],
        ..edit(
            "variable naming unknown key",
            &[],
            At::Origin("environment variable ECHO_RUNNER__TRAIN__EPOCHZ"),
            "/train/epochz",
            "unknown key `epochz`",
        )
    },
    Case {
        env: &[("ECHO_RUNNER__TRAIN__EPOCHS", "-1")],
        ..edit(
            "variable with bad value",
            &[],
            At::Origin("environment variable ECHO_RUNNER__TRAIN__EPOCHS"),
            "/train/epochs",
            "less than the minimum",
        )
    },
    Case {
        env: &[("ECHO_RUNNER__TRAIN____X", "1")],
        ..edit(
            "variable naming no key",
            &[],
            At::Origin("environment variable ECHO_RUNNER__TRAIN____X"),
            "",
            "names no key",
        )
    },
    Case {
        env: &[("ECHO_RUNNER__BASE", "other.toml")],
        ..edit(
            "base from a variable",
            &[],
            At::Origin("environment variable ECHO_RUNNER__BASE"),
            "/base",
            "can only be given in an experiment file",
        )
    },
    // rules across keys
    edit(
        "fractions that do not sum to 1",
        &[(
            "[runtime]",
            "[data.split]\nmode = \"stratified\"\ntrain = 0.7\nval = 0.2\ntest = 0.2\n\n[runtime]",
        )],
        At::Line("[data.split]"),
        "/data/split",
        "expected fractions that sum to 1",
    ),
    edit(
        "heads that do not divide",
        &[("heads = 4", "heads = 5")],
        At::Line("heads = 5"),
        "/model/temporal/heads",
        "5 heads do not divide the feature width 256",
    ),
    edit(
        "clip norm without clipping",
        &[("batch_size = 4", "batch_size = 4\ngrad_clip_norm = \"global\"")],
        At::Line("grad_clip_norm ="),
        "/train/grad_clip_norm",
        "train.grad_clip is not set",
    ),
    edit(
        "loss scaling without f16",
        &[(
            "batch_size = 4",
            "batch_size = 4\nprecision = \"bf16\"\nloss_scale = { init = 1024.0 }",
        )],
        At::Line("loss_scale ="),
        "/train/loss_scale",
        "loss scaling is for train.precision = \"f16\", not \"bf16\"",
    ),
    edit(
        "even conv kernel",
        &[("dwconv_kernel = 3", "dwconv_kernel = 4")],
        At::Line("dwconv_kernel = 4"),
        "/model/temporal/dwconv_kernel",
        "must be odd",
    ),
    edit(
        "too few temporal positions",
        &[("dwconv_kernel = 3", "dwconv_kernel = 3\npositions = 4")],
        At::Line("positions = 4"),
        "/model/temporal/positions",
        "4 temporal positions cannot cover clips of 8 frames",
    ),
    edit(
        "class weights with a regression head",
        &[
            ("dwconv_kernel = 3", "dwconv_kernel = 3\n\n[model.head]\ntask = \"regress_ef\""),
            (
                "[sampler]",
                "[loss]\nclass_weights = { scheme = \"inverse_frequency\" }\n\n[sampler]",
            ),
        ],
        At::Line("class_weights ="),
        "/loss/class_weights",
        "trains on the EF's squared error",
    ),
    edit(
        "label smoothing with a regression head",
        &[
            ("dwconv_kernel = 3", "dwconv_kernel = 3\n\n[model.head]\ntask = \"regress_ef\""),
            ("[sampler]", "[loss]\nlabel_smoothing = 0.1\n\n[sampler]"),
        ],
        At::Line("label_smoothing ="),
        "/loss/label_smoothing",
        "model.head.task = \"regress_ef\" has none",
    ),
    edit(
        "all clips for training",
        &[("frames = 8", "frames = 8\ntrain_sampling = \"all_clips\"")],
        At::Line("train_sampling ="),
        "/data/clip/train_sampling",
        "\"all_clips\" is for evaluation",
    ),
    edit(
        "a zero evaluation stride",
        &[("frames = 8", "frames = 8\neval_stride = 0")],
        At::Line("eval_stride = 0"),
        "/data/clip/eval_stride",
        "less than the minimum of 1",
    ),
    // what a run needs of this machine, checked before anything is written
    Case {
        args: &["--set", "runtime.backend=cuda"],
        ..edit(
            "backend this build cannot run",
            &[],
            At::Origin("--set runtime.backend=cuda"),
            "/runtime/backend",
            "built without CUDA",
        )
    },
    Case {
        args: &["--set", "model.pretrained=nowhere.safetensors"],
        ..edit(
            "missing pretrained file",
            &[],
            At::Origin("--set model.pretrained=nowhere.safetensors"),
            "/model/pretrained",
            "nowhere.safetensors: cannot read",
        )
    },
    Case {
        others: &[("weights.safetensors", "these are not weights")],
        ..edit(
            "pretrained file that is not safetensors",
            &[("freeze = \"none\"", "freeze = \"none\"\npretrained = \"weights.safetensors\"")],
            At::Line("pretrained ="),
            "/model/pretrained",
            "weights.safetensors",
        )
    },
];

fn text_of(case: &Case) -> Vec<u8> {
    if let Some(raw) = case.raw {
        return raw.to_vec();
    }
    let mut text = VALID.to_owned();
    for (from, to) in case.edits {
        assert!(text.contains(from), "{}: {from:?} is not in the valid config", case.name);
        text = text.replacen(from, to, 1);
    }
    text.into_bytes()
}

#[test]
fn every_malformed_config_is_refused_with_a_located_message() {
    assert!(CASES.len() >= 30);
    let mut failures = Vec::new();
    for case in CASES {
        let scratch = Scratch::new();
        let bytes = text_of(case);
        std::fs::write(scratch.path().join("bad.toml"), &bytes).unwrap();
        for (name, text) in case.others {
            scratch.write(name, text);
        }
        let mut args = vec!["run", "bad.toml"];
        args.extend(case.args);
        let run = scratch.runner(&args, case.env);
        let first = run.stderr.lines().next().unwrap_or_default().to_owned();
        let location = match &case.at {
            At::Line(marker) => {
                format!("bad.toml:{}:", line_of(&String::from_utf8_lossy(&bytes), marker))
            }
            At::Top => "bad.toml:1:".to_owned(),
            At::Origin(origin) => format!("{origin}:"),
        };
        let pointer =
            if case.pointer.is_empty() { String::new() } else { format!(": {}: ", case.pointer) };
        let problems: Vec<&str> = [
            (run.code != 2).then_some("exit code is not 2"),
            (!first.starts_with(&format!("error: {location}"))).then_some("wrong location"),
            (matches!(case.at, At::Line(_) | At::Top)
                && first.split(':').nth(3).is_none_or(|c| c.parse::<usize>().is_err()))
            .then_some("no column"),
            (!first.contains(&pointer)).then_some("wrong key path"),
            (!first.contains(case.message)).then_some("wrong message"),
            scratch.path().join("results").exists().then_some("something was written"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} (want `{location}` `{pointer}` `{}`; exit {}; stderr:\n{})",
                case.name,
                problems.join(", "),
                case.message,
                run.code,
                run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_error_is_reported_at_once() {
    let scratch = Scratch::new();
    let text = VALID
        .replace("epochs = 2", "epochs = 0")
        .replace("seed = 1", "seed = 1\ncolour = \"red\"")
        .replace("lr = 1e-3", "lr = \"fast\"")
        .replace("factor = 3.0", "factor = nan");
    scratch.write("bad.toml", &text);
    let run = scratch.runner(&["validate", "bad.toml"], &[]);
    assert_eq!(run.code, 2);
    for (marker, pointer) in [
        ("epochs = 0", "/train/epochs"),
        ("colour", "/experiment/colour"),
        ("lr = \"fast\"", "/train/optimizer/lr"),
        ("factor = nan", "/sampler/weights/factor"),
    ] {
        let want = format!("bad.toml:{}:", line_of(&text, marker));
        assert!(
            run.stderr.lines().any(|l| l.contains(&want) && l.contains(pointer)),
            "no error at {want} for {pointer}:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("4 error(s)"), "{}", run.stderr);
}

#[test]
fn validate_checks_every_file_and_writes_nothing() {
    let scratch = Scratch::new();
    scratch.write("good.toml", VALID);
    scratch.write("bad.toml", &VALID.replace("epochs = 2", "epochs = 0"));
    let run = scratch.runner(&["validate", "good.toml", "bad.toml"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("good.toml: ok"), "{}", run.stdout);
    assert!(run.stderr.contains("bad.toml:"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 2);
}
