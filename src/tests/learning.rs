//! Training learns, and learns from the labels: a small CNN + LSTM on an easy synthetic
//! task ranks its test videos far above chance, and the same run on the same videos with
//! their EFs shuffled among them (so that the classes no longer follow the videos) lands at
//! chance. A pipeline that lost the pairing of clips and labels anywhere (sampling, batching,
//! evaluation, the test set's probabilities) fails the first half; one that leaked the
//! labels some other way than through the frames fails the second.

use std::fs;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::support::Scratch;
use crate::trained::read_json;

/// Phase 1 at its CPU demo's settings, one split instead of folds, few epochs.
const EASY: &str = r#"[experiment]
name = "learns"
seed = 42

[data]
resize = 32

[data.source]
kind = "synthetic"
videos = 960
seed = 7
frame_size = 64
min_frames = 64
max_frames = 96
ef_margin = 8.0

[data.split]
mode = "stratified"
train = 0.70
val = 0.10
test = 0.20
seed = 42

[data.clip]
frames = 8
period = 8
train_sampling = "random_window"
eval_sampling = "center_window"

[data.augment]
hflip = 0.0
rotation = 0.0
brightness = 0.0
contrast = 0.0

[model]
kind = "cnn_lstm"
freeze = "none"

[model.backbone]
depth = "18"
width = 16

[model.lstm]
hidden = 64

[model.head]
hidden = 64
dropout = 0.0

[sampler]
kind = "none"

[cv]
mode = "single"

[train]
epochs = 6
batch_size = 8

[train.optimizer]
kind = "adamw"
lr = 1e-3

[runtime]
devices = [0, 1]
"#;

/// The test AUROC of the run of `file` (with `sets`), after checking it finished.
fn test_auroc(s: &Scratch, file: &str, sets: &[&str]) -> f64 {
    let flags: Vec<&str> = sets.iter().flat_map(|set| ["--set", set]).collect();
    let run = s.runner(&[&["run", file][..], &flags].concat(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hash = s.runner(&[&["validate", file, "--print-hash"][..], &flags].concat(), &[]);
    let dir = s.path().join(hash.stdout.split_whitespace().nth(1).expect("a directory"));
    read_json(&dir.join("fold-0/metrics.json"))["test"]["auroc"].as_f64().expect("an AUROC")
}

/// `from`'s dataset with the EF column of FileList.csv shuffled among the rows (videos,
/// tracings and every other column as they were).
fn shuffle_efs(from: &Path, to: &Path) {
    fs::create_dir_all(to.join("Videos")).unwrap();
    for entry in fs::read_dir(from.join("Videos")).unwrap() {
        let entry = entry.unwrap();
        fs::hard_link(entry.path(), to.join("Videos").join(entry.file_name())).unwrap();
    }
    for other in ["VolumeTracings.csv"] {
        if from.join(other).is_file() {
            fs::copy(from.join(other), to.join(other)).unwrap();
        }
    }
    let text = fs::read_to_string(from.join("FileList.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let ef = header.split(',').position(|c| c == "EF").expect("an EF column");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut efs: Vec<&str> = rows.iter().map(|r| r[ef]).collect();
    efs.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
    let mut out = format!("{header}\n");
    for (mut row, new) in rows.into_iter().zip(efs) {
        row[ef] = new;
        out += &(row.join(",") + "\n");
    }
    fs::write(to.join("FileList.csv"), out).unwrap();
}

#[test]
fn a_small_model_learns_an_easy_task_and_nothing_once_labels_are_shuffled() {
    let s = Scratch::new();
    s.write("easy.toml", EASY);
    let learned = test_auroc(&s, "easy.toml", &[]);

    // The same videos (the synthetic source's folder), their EFs shuffled.
    let report = fs::read_dir(s.path().join("results"))
        .unwrap()
        .map(|e| e.unwrap().path().join("data-report.json"))
        .find(|p| p.is_file())
        .expect("the run's data report");
    let root = s.path().join(read_json(&report)["data"]["root"].as_str().expect("a data root"));
    shuffle_efs(&root, &s.path().join("shuffled"));
    let shuffled_toml = EASY
        .replace("kind = \"synthetic\"\n", "kind = \"echonet\"\nroot = \"shuffled\"\n")
        .replace("videos = 960\nseed = 7\nframe_size = 64\nmin_frames = 64\nmax_frames = 96\nef_margin = 8.0\n", "");
    s.write("shuffled.toml", &shuffled_toml);
    // The data's place is no part of an experiment's hash: keep this run's results apart.
    let shuffled = test_auroc(
        &s,
        "shuffled.toml",
        &["runtime.output_root=results-shuffled", "runtime.cache_dir=cache-shuffled"],
    );

    assert!(learned >= 0.85, "test AUROC {learned} on the easy task");
    assert!((0.35..=0.65).contains(&shuffled), "test AUROC {shuffled} with shuffled labels");
}
