//! Grid expansion: members in order, hashes equal to the single experiments', every problem
//! located in the sweep file.

use std::path::Path;

use super::expand::Sweep;
use crate::config::{self, Overrides};

const EXPERIMENT: &str = r#"[experiment]
name = "t"
seed = 1

[data.source]
kind = "synthetic"
videos = 12

[model]
kind = "cnn_lstm"

[runtime]
output_root = "results"
"#;

fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn no_env() -> Overrides {
    Overrides::default()
}

fn load(dir: &Path) -> Result<Sweep, config::Diagnostics> {
    Sweep::load(&dir.join("tables/s.toml"), &no_env(), &|_| Vec::new())
}

#[test]
fn members_are_experiments_times_grid_points_with_their_single_hashes() {
    let sweep = r#"[sweep]
name = "s"
experiments = ["../a.toml", "../b.toml"]
baseline = "../b.toml"
[[sweep.grid]]
key = "experiment.seed"
values = [1, 2]
[[sweep.grid]]
key = "train.optimizer.lr"
values = [0.001, 0.0003]
"#;
    let b = EXPERIMENT.replace("cnn_lstm", "swin_global").replace("\"t\"", "\"u\"");
    let dir = scratch(&[("a.toml", EXPERIMENT), ("b.toml", &b), ("tables/s.toml", sweep)]);
    let s = load(dir.path()).unwrap();
    assert_eq!(s.members.len(), 8);
    let labels: Vec<String> = s.members.iter().map(|m| m.label()).collect();
    assert_eq!(labels[0], "t [experiment.seed=1, train.optimizer.lr=0.001]");
    assert_eq!(labels[1], "t [experiment.seed=1, train.optimizer.lr=0.0003]");
    assert_eq!(labels[2], "t [experiment.seed=2, train.optimizer.lr=0.001]");
    assert_eq!(labels[4], "u [experiment.seed=1, train.optimizer.lr=0.001]");
    assert_eq!(s.baseline, Some(4));
    for m in &s.members {
        let sets: Vec<String> = m.grid.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let alone = config::load(&m.file, &Overrides { sets, ..no_env() }).unwrap();
        assert_eq!(alone.hash, m.loaded.hash, "{}", m.label());
        assert_eq!(m.dir(), crate::results::dir_path(&alone));
    }
    let dir_name = s.dir().file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(dir_name, format!("s-{}", &s.digest[..12]));
    assert!(s.dir().starts_with("results/sweeps"), "{}", s.dir().display());
}

#[test]
fn a_cli_grid_makes_the_same_members_as_a_sweep_file() {
    let sweep = "[sweep]\nname = \"s\"\nexperiments = [\"../a.toml\"]\n[[sweep.grid]]\nkey = \"experiment.seed\"\nvalues = [3, 4]\n";
    let dir = scratch(&[("a.toml", EXPERIMENT), ("tables/s.toml", sweep)]);
    let from_file = load(dir.path()).unwrap();
    let grid = ["experiment.seed=3,4".to_owned()];
    let from_cli =
        Sweep::from_grid(&dir.path().join("a.toml"), &grid, &no_env(), &|_| Vec::new()).unwrap();
    let hashes =
        |s: &Sweep| s.members.iter().map(|m| m.loaded.hash.digest.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&from_file), hashes(&from_cli));
    assert_eq!(from_cli.name, "t-grid");
}

#[test]
fn every_problem_of_every_member_is_located_in_the_sweep_file() {
    let sweep = r#"[sweep]
name = "s"
experiments = ["../a.toml", "../missing.toml", "../a.toml"]
baseline = "../other.toml"
[[sweep.grid]]
key = "experiment.sedd"
values = [1]
[[sweep.grid]]
key = "train.epochs"
values = [2, "three"]
"#;
    let dir = scratch(&[("a.toml", EXPERIMENT), ("tables/s.toml", sweep)]);
    let errors = load(dir.path()).unwrap_err();
    let text = errors.to_string();
    let file = dir.path().join("tables/s.toml");
    let at = |line: usize| format!("{}:{line}:", file.display());
    // The unknown grid key, at its key; the value of the wrong type, at the value.
    assert!(text.lines().any(|l| l.contains(&at(6)) && l.contains("sedd")), "{text}");
    assert!(text.lines().any(|l| l.contains(&at(10)) && l.contains("three")), "{text}");
    assert!(text.lines().any(|l| l.contains(&at(3)) && l.contains("missing.toml")), "{text}");
    assert!(text.lines().any(|l| l.contains(&at(4)) && l.contains("not one of")), "{text}");
    // A problem shared by every member is said once.
    assert_eq!(text.lines().filter(|l| l.contains("sedd")).count(), 1, "{text}");
}

#[test]
fn two_members_with_one_hash_are_refused() {
    // A seed grid over an experiment whose other row already sets that seed.
    let two = EXPERIMENT.replace("seed = 1", "seed = 2");
    let sweep = "[sweep]\nname = \"s\"\nexperiments = [\"../a.toml\", \"../b.toml\"]\n[[sweep.grid]]\nkey = \"experiment.seed\"\nvalues = [1, 2]\n";
    let dir = scratch(&[("a.toml", EXPERIMENT), ("b.toml", &two), ("tables/s.toml", sweep)]);
    let text = load(dir.path()).unwrap_err().to_string();
    assert_eq!(text.matches("is the same experiment as member").count(), 2, "{text}");
    assert!(text.contains("member 2 is the same experiment as member 0"), "{text}");
}

#[test]
fn schema_violations_of_the_sweep_file_name_line_and_key() {
    let sweep = "[sweep]\nname = \"s\"\nexperiments = []\ncolour = \"red\"\n";
    let dir = scratch(&[("tables/s.toml", sweep)]);
    let text = load(dir.path()).unwrap_err().to_string();
    let file = dir.path().join("tables/s.toml");
    assert!(text.contains(&format!("{}:3:", file.display())), "{text}");
    assert!(text.contains(&format!("{}:4:", file.display())) && text.contains("colour"), "{text}");
}

#[test]
fn the_committed_sweep_schema_is_current() {
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/sweep.schema.json"),
    )
    .unwrap();
    assert!(
        committed == super::schema_text(),
        "schemas/sweep.schema.json is stale: run `runner schema --sweep > schemas/sweep.schema.json`"
    );
}
