//! The data stage from the CLI: `synth`, `data-check`, `prepare`, and `run` writing its data
//! report; the fold count checked against the data when the data is known.

use std::fs;

use serde_json::Value;

use crate::support::{Scratch, VALID, line_of, python_json, require_python_module};

/// VALID reading an EchoNet-layout folder `data/` instead of generating one.
fn echonet_config() -> String {
    let synthetic =
        "kind = \"synthetic\"\nvideos = 12\nframe_size = 32\nmin_frames = 16\nmax_frames = 40\n";
    assert!(VALID.contains(synthetic));
    VALID.replace(synthetic, "kind = \"echonet\"\nroot = \"data\"\n")
}

fn synth(s: &Scratch, videos: &str) {
    let run = s.runner(&["synth", "--out", "data", "--videos", videos, "--seed", "5"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("{videos} videos")), "{}", run.stdout);
}

#[test]
fn run_generates_checks_and_caches_the_data_and_reports_it() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let run = s.runner(&["run", "e.toml"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dirs = s.result_dirs();
    let dir = s.path().join("results").join(dirs.iter().find(|d| !d.starts_with('.')).unwrap());
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("data-report.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["usable_videos"], 12);
    let normal = report["labels"]["normal"].as_u64().unwrap();
    let abnormal = report["labels"]["abnormal"].as_u64().unwrap();
    assert_eq!(normal + abnormal, 12);
    assert!(
        run.stdout.contains(&format!("{normal} normal, {abnormal} abnormal")),
        "{}",
        run.stdout
    );
    let cache = s.path().join(report["cache"]["path"].as_str().unwrap());
    let built = fs::metadata(&cache).unwrap().modified().unwrap();
    assert_eq!(report["cache"]["reused"], false);

    // Again: the same synthetic folder and cache are reused, not rebuilt.
    let again = s.runner(&["run", "e.toml"], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(fs::metadata(&cache).unwrap().modified().unwrap(), built);
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("data-report.json")).unwrap()).unwrap();
    assert_eq!(report["cache"]["reused"], true);
}

#[test]
fn data_check_reports_the_folder_and_its_problems() {
    let s = Scratch::new();
    synth(&s, "8");
    // Single split: 8 videos may hold fewer abnormal ones than 3 folds need.
    s.write("e.toml", &echonet_config().replace("folds = 3", "mode = \"single\""));
    let ok = s.runner(&["data-check", "e.toml"], &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("usable videos:     8"), "{}", ok.stdout);
    assert!(ok.stdout.contains("no problems found"), "{}", ok.stdout);

    // A video goes missing: an error naming it by default; a counted skip when asked.
    let videos = s.path().join("data/Videos");
    let victim = fs::read_dir(&videos).unwrap().next().unwrap().unwrap().path();
    let name = victim.file_stem().unwrap().to_string_lossy().into_owned();
    fs::remove_file(&victim).unwrap();
    let err = s.runner(&["run", "e.toml"], &[]);
    assert_eq!(err.code, 1, "{}", err.stderr);
    assert!(err.stderr.contains(&name), "{}", err.stderr);
    let skip = s.runner(&["data-check", "e.toml", "--set", "data.on_bad_video=skip"], &[]);
    assert_eq!(skip.code, 0, "{}", skip.stderr);
    assert!(skip.stdout.contains("usable videos:     7"), "{}", skip.stdout);
    assert!(skip.stdout.contains(&name), "{}", skip.stdout);
}

#[test]
fn more_folds_than_the_smallest_class_is_an_error_when_the_data_is_known() {
    let s = Scratch::new();
    synth(&s, "12");
    let text = echonet_config();
    s.write("e.toml", &text);
    let run = s.runner(&["validate", "e.toml", "--set", "cv.folds=12"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("e.toml:{}:", line_of(&text, "folds = 3")))
            || run.stderr.contains("--set cv.folds=12")
    );
    assert!(
        run.stderr.contains("/cv/folds: 12 folds, but the smallest class has"),
        "{}",
        run.stderr
    );
    assert_eq!(s.runner(&["validate", "e.toml"], &[]).code, 0);
    // Unknown data: nothing to check against.
    let unknown = Scratch::new();
    unknown.write("e.toml", &text);
    assert_eq!(unknown.runner(&["validate", "e.toml", "--set", "cv.folds=12"], &[]).code, 0);
}

#[test]
fn prepare_builds_the_cache_once() {
    let s = Scratch::new();
    synth(&s, "6");
    s.write("e.toml", &echonet_config().replace("folds = 3", "mode = \"single\""));
    let first = s.runner(&["prepare", "e.toml"], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("clip cache written"), "{}", first.stdout);
    let second = s.runner(&["prepare", "e.toml"], &[]);
    assert!(second.stdout.contains("clip cache up to date"), "{}", second.stdout);
    // A changed source invalidates it.
    let videos = s.path().join("data/Videos");
    let video = fs::read_dir(&videos).unwrap().next().unwrap().unwrap().path();
    let f = fs::File::options().write(true).open(&video).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    let third = s.runner(&["prepare", "e.toml"], &[]);
    assert!(third.stdout.contains("clip cache written"), "{}", third.stdout);
}

/// `runner prepare` with `sets`: whether it wrote the cache, and the cache as h5py reads it.
fn prepare_and_read(s: &Scratch, sets: &[&str]) -> (bool, Value) {
    let mut args = vec!["prepare", "e.toml"];
    args.extend(sets);
    let run = s.runner(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stdout.lines().find(|l| l.starts_with("clip cache ")).unwrap_or_default();
    let path = line.split_once(": ").and_then(|(_, rest)| rest.split(" (").next()).unwrap();
    let path = s.path().join(path);
    (
        line.starts_with("clip cache written"),
        python_json("cache/read_with_h5py.py", &[path.to_str().unwrap()]),
    )
}

#[test]
fn the_cache_is_what_h5py_users_read_and_follows_resize_and_the_label_rule() {
    require_python_module(
        "h5py",
        "run scripts/test-setup.sh (python3 -m pip install h5py==3.16.0)",
    );
    let s = Scratch::new();
    synth(&s, "6");
    s.write("e.toml", &echonet_config().replace("folds = 3", "mode = \"single\""));
    let list = fs::read_to_string(s.path().join("data/FileList.csv")).unwrap();
    let header: Vec<&str> = list.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> =
        list.lines().skip(1).map(|l| l.split(',').map(str::to_owned).collect()).collect();

    let check = |cache: &Value, size: u64, abnormal: &dyn Fn(f64) -> bool| {
        assert_eq!(cache["attrs"]["size"], size.to_string(), "{cache}");
        let videos = cache["videos"].as_object().unwrap();
        assert_eq!(videos.len(), rows.len());
        for row in &rows {
            let v = &videos[&row[col("FileName")]];
            let ef: f64 = row[col("EF")].parse().unwrap();
            let frames: u64 = row[col("NumberOfFrames")].parse().unwrap();
            assert_eq!(v["dtype"], "uint8");
            assert_eq!(v["shape"], serde_json::json!([frames, size, size]), "{v}");
            assert!((v["attrs"]["ef"].as_f64().unwrap() - ef).abs() < 1e-4, "{v}");
            assert_eq!(v["attrs"]["label"], u64::from(abnormal(ef)), "{} at EF {ef}", row[0]);
            assert_eq!(v["attrs"]["split"].as_str().unwrap(), row[col("Split")].to_uppercase());
            assert!(v["max"].as_u64().unwrap() > v["min"].as_u64().unwrap() + 50, "{v}");
            assert_eq!(v["frames_differ"], true, "the heart moves: {v}");
        }
    };
    let band = |ef: f64| !(50.0..=70.0).contains(&ef);
    let (written, cache) = prepare_and_read(&s, &[]);
    assert!(written);
    check(&cache, 64, &band);
    assert!(cache["attrs"]["label_rule"].as_str().unwrap().contains("band"), "{cache}");

    let (written, cache) = prepare_and_read(&s, &["--set", "data.resize=40"]);
    assert!(written, "another size is another cache");
    check(&cache, 40, &band);

    let below = ["--set", "data.labels.rule=below", "--set", "data.labels.threshold=45"];
    let (written, cache) = prepare_and_read(&s, &below);
    assert!(written, "another label rule rebuilds the cache");
    check(&cache, 64, &|ef| ef < 45.0);
    let (written, _) = prepare_and_read(&s, &below);
    assert!(!written);
}

#[test]
fn data_check_names_every_problem_in_one_pass() {
    let s = Scratch::new();
    synth(&s, "8");
    s.write("e.toml", &echonet_config().replace("folds = 3", "mode = \"single\""));
    let list = s.path().join("data/FileList.csv");
    let mut lines: Vec<String> =
        fs::read_to_string(&list).unwrap().lines().map(Into::into).collect();
    let name =
        |line: usize| lines[line].split(',').next().unwrap().trim_end_matches(".avi").to_owned();
    let (missing, truncated, bad_ef) = (name(1), name(2), name(3));
    let video = |name: &str| s.path().join("data/Videos").join(format!("{name}.avi"));
    fs::remove_file(video(&missing)).unwrap();
    let bytes = fs::read(video(&truncated)).unwrap();
    fs::write(video(&truncated), &bytes[..bytes.len() / 2]).unwrap();
    let mut fields: Vec<&str> = lines[3].split(',').collect();
    fields[1] = "NaN";
    lines[3] = fields.join(",");
    fs::write(&list, lines.join("\n") + "\n").unwrap();

    // Each names its file and its FileList.csv record; the default policy fails.
    let wants = [
        (&missing, "line 2 but the file does not exist"),
        (&truncated, "truncated AVI"),
        (&bad_ef, "(FileList.csv line 4): EF is missing or NaN"),
    ];
    let strict = s.runner(&["data-check", "e.toml"], &[]);
    assert_eq!(strict.code, 1, "{}", strict.stderr);
    for (name, what) in wants {
        assert!(
            strict
                .stderr
                .lines()
                .any(|l| l.starts_with("error: ") && l.contains(name) && l.contains(what)),
            "{name} ({what}) missing:\n{}",
            strict.stderr
        );
    }
    assert!(strict.stderr.contains("3 problem(s) would stop a run"), "{}", strict.stderr);
    assert!(strict.stdout.contains("usable videos:     6"), "{}", strict.stdout);
    assert!(strict.stdout.contains("missing video (stops a run): 1"), "{}", strict.stdout);

    // Skipping them leaves a usable dataset: the same three, listed as skipped.
    let skip = s.runner(&["data-check", "e.toml", "--set", "data.on_bad_video=skip"], &[]);
    assert_eq!(skip.code, 0, "{}", skip.stderr);
    for (name, what) in wants {
        assert!(
            skip.stdout
                .lines()
                .any(|l| l.starts_with("skipped: ") && l.contains(name) && l.contains(what)),
            "{name} ({what}) missing:\n{}",
            skip.stdout
        );
    }
    assert!(skip.stdout.contains("missing video (skipped): 1"), "{}", skip.stdout);
    assert!(skip.stderr.is_empty(), "{}", skip.stderr);

    // A record that cannot be read stops a run under either policy: named with the rest.
    let mut fields: Vec<&str> = lines[5].split(',').collect();
    fields[6] = "fifty";
    lines[5] = fields.join(",");
    fs::write(&list, lines.join("\n") + "\n").unwrap();
    for policy in ["error", "skip"] {
        let set = format!("data.on_bad_video={policy}");
        let run = s.runner(&["data-check", "e.toml", "--set", &set], &[]);
        assert_eq!(run.code, 1, "{policy}: {}", run.stderr);
        assert!(run.stderr.contains("FileList.csv: line 6, column FPS"), "{}", run.stderr);
        assert!(run.stdout.contains("FileList.csv rows: 8"), "{}", run.stdout);
        assert!(run.stdout.contains(&bad_ef), "{policy}: {}", run.stdout);
    }
}
