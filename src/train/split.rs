//! Train/val/test assignment and cross-validation folds.
//!
//! Everything here is a pure function of its inputs and the config: the same videos (in the
//! same order) and the same seeds always give the same split and the same folds, so a resumed
//! run recomputes them instead of loading them. Indices always refer to positions in the
//! caller's video list.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::{CvConfig, CvMode};
use crate::data::SplitConfig;
use crate::data::echonet::Split;
use crate::data::labels::Class;

/// Why a split or a fold assignment cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    #[error(
        "split fractions must be in [0, 1] and sum to 1, got train {train}, val {val}, test {test}"
    )]
    Fractions { train: f64, val: f64, test: f64 },
    #[error("the {0} set would be empty")]
    EmptySet(&'static str),
    #[error("{classes} classes but {splits} split assignments")]
    LengthMismatch { classes: usize, splits: usize },
    #[error("k-fold needs at least 2 folds, got {0}")]
    TooFewFolds(usize),
    #[error("class {class:?} has {count} videos in the pool, fewer than the {folds} folds")]
    ClassTooSmall { class: Class, count: usize, folds: usize },
}

const CLASSES: [Class; 2] = [Class::Normal, Class::Abnormal];

/// The split of every video: `videos[i]` is (class, official `Split` column) of video `i`.
///
/// `Official` returns the column. `Stratified` splits each class on its own (sklearn's
/// `train_test_split(stratify=…)` in spirit): the class's members, in input order, are
/// shuffled by one `ChaCha8Rng` seeded with `seed` (normal first, then abnormal, from the
/// same stream); the first `round(n·test)` become test, the next `min(round(n·val), n − test)`
/// val, the rest train. `round` is `f64::round` (halves away from zero), applied to each class
/// count `n` separately. Errors when the fractions are invalid or any of the three sets is
/// empty.
pub fn assign_splits(
    videos: &[(Class, Split)],
    cfg: &SplitConfig,
) -> Result<Vec<Split>, SplitError> {
    let splits = match *cfg {
        SplitConfig::Official => videos.iter().map(|&(_, split)| split).collect(),
        SplitConfig::Stratified { train, val, test, seed } => {
            check_fractions(train, val, test)?;
            stratified(videos, val, test, seed)
        }
    };
    for split in [Split::Train, Split::Val, Split::Test] {
        if !splits.contains(&split) {
            return Err(SplitError::EmptySet(split.as_str()));
        }
    }
    Ok(splits)
}

fn check_fractions(train: f64, val: f64, test: f64) -> Result<(), SplitError> {
    let in_range = [train, val, test].iter().all(|f| (0.0..=1.0).contains(f));
    if in_range && (train + val + test - 1.0).abs() <= 1e-6 {
        Ok(())
    } else {
        Err(SplitError::Fractions { train, val, test })
    }
}

fn stratified(videos: &[(Class, Split)], val: f64, test: f64, seed: u64) -> Vec<Split> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![Split::Train; videos.len()];
    for class in CLASSES {
        let mut members = members_of(videos.iter().map(|&(c, _)| c), class);
        members.shuffle(&mut rng);
        let n = members.len();
        let n_test = ((n as f64 * test).round() as usize).min(n);
        let n_val = ((n as f64 * val).round() as usize).min(n - n_test);
        for &i in &members[..n_test] {
            out[i] = Split::Test;
        }
        for &i in &members[n_test..n_test + n_val] {
            out[i] = Split::Val;
        }
    }
    out
}

/// Positions (ascending) of the members of `class`.
fn members_of(classes: impl Iterator<Item = Class>, class: Class) -> Vec<usize> {
    classes.enumerate().filter(|&(_, c)| c == class).map(|(i, _)| i).collect()
}

/// Stratified K-fold assignment of a pool: `folds` lists of positions into `pool`, ascending.
///
/// sklearn's `StratifiedKFold` semantics: each class's members (in pool order, or shuffled
/// by a `ChaCha8Rng` seeded with `seed`, normal first) are dealt round-robin into the folds,
/// and the dealing continues across classes (the abnormal class starts where the normal one
/// stopped). So each class's count per fold differs by at most one between folds, and so
/// does each fold's size. Errors when `folds < 2` or a class has fewer members than folds.
pub fn kfold(
    pool: &[Class],
    folds: usize,
    shuffle: bool,
    seed: u64,
) -> Result<Vec<Vec<usize>>, SplitError> {
    if folds < 2 {
        return Err(SplitError::TooFewFolds(folds));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![Vec::new(); folds];
    let mut next = 0;
    for class in CLASSES {
        let mut members = members_of(pool.iter().copied(), class);
        if members.len() < folds {
            return Err(SplitError::ClassTooSmall { class, count: members.len(), folds });
        }
        if shuffle {
            members.shuffle(&mut rng);
        }
        for i in members {
            out[next].push(i);
            next = (next + 1) % folds;
        }
    }
    for fold in &mut out {
        fold.sort_unstable();
    }
    Ok(out)
}

/// One fold's training and validation videos (positions in the video list, ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldIndices {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// What to train and evaluate: the folds and the held-out test set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvPlan {
    pub mode: CvMode,
    pub folds: Vec<FoldIndices>,
    pub test: Vec<usize>,
}

/// The folds of a run. `classes[i]` and `splits[i]` describe video `i` (splits from
/// [`assign_splits`]).
///
/// `Kfold`: [`kfold`] over the pool of train+val videos; fold k validates on the k-th part and
/// trains on the others. `Single`: one fold, training on train and validating on val (the
/// seed's quick run). The test set is held out in both.
pub fn plan_cv(classes: &[Class], splits: &[Split], cv: &CvConfig) -> Result<CvPlan, SplitError> {
    if classes.len() != splits.len() {
        return Err(SplitError::LengthMismatch { classes: classes.len(), splits: splits.len() });
    }
    let of = |want: Split| -> Vec<usize> {
        splits.iter().enumerate().filter(|&(_, &s)| s == want).map(|(i, _)| i).collect()
    };
    let (train, val, test) = (of(Split::Train), of(Split::Val), of(Split::Test));
    if test.is_empty() {
        return Err(SplitError::EmptySet(Split::Test.as_str()));
    }
    let folds = match cv.mode {
        CvMode::Single => {
            if train.is_empty() || val.is_empty() {
                let empty = if train.is_empty() { Split::Train } else { Split::Val };
                return Err(SplitError::EmptySet(empty.as_str()));
            }
            vec![FoldIndices { train, val }]
        }
        CvMode::Kfold => {
            let mut pool: Vec<usize> = train.into_iter().chain(val).collect();
            pool.sort_unstable();
            let pool_classes: Vec<Class> = pool.iter().map(|&i| classes[i]).collect();
            let parts = kfold(&pool_classes, cv.folds as usize, cv.shuffle, cv.seed)?;
            folds_from_parts(&pool, &parts)
        }
    };
    Ok(CvPlan { mode: cv.mode, folds, test })
}

/// Fold k: validation = part k, training = every other part (mapped from pool positions to
/// video positions).
fn folds_from_parts(pool: &[usize], parts: &[Vec<usize>]) -> Vec<FoldIndices> {
    (0..parts.len())
        .map(|k| {
            let val: Vec<usize> = parts[k].iter().map(|&p| pool[p]).collect();
            let mut train: Vec<usize> = parts
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .flat_map(|(_, part)| part.iter().map(|&p| pool[p]))
                .collect();
            train.sort_unstable();
            FoldIndices { train, val }
        })
        .collect()
}

/// Videos per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub normal: usize,
    pub abnormal: usize,
}

impl ClassCounts {
    /// Count the classes of the videos at `indices`.
    pub fn of(classes: &[Class], indices: &[usize]) -> Self {
        let mut counts = Self::default();
        for &i in indices {
            match classes[i] {
                Class::Normal => counts.normal += 1,
                Class::Abnormal => counts.abnormal += 1,
            }
        }
        counts
    }

    /// `[normal, abnormal]`, indexed by [`Class::index`].
    pub fn as_array(self) -> [usize; 2] {
        [self.normal, self.abnormal]
    }
}

/// A set of videos by file name, with its class counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoSet {
    pub counts: ClassCounts,
    pub videos: Vec<String>,
}

/// One fold of `folds.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldDescription {
    pub fold: usize,
    pub train: VideoSet,
    pub val: VideoSet,
}

/// The content of `folds.json`: every fold's train/val videos and the held-out test set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folds {
    pub mode: CvMode,
    pub folds: Vec<FoldDescription>,
    pub test: VideoSet,
}

impl CvPlan {
    /// Describe the plan by file name; `names[i]` and `classes[i]` belong to video `i` (the
    /// same video list as given to [`plan_cv`], so every index of the plan is in range).
    pub fn describe<S: AsRef<str>>(&self, names: &[S], classes: &[Class]) -> Folds {
        let set = |indices: &[usize]| VideoSet {
            counts: ClassCounts::of(classes, indices),
            videos: indices.iter().map(|&i| names[i].as_ref().to_owned()).collect(),
        };
        Folds {
            mode: self.mode,
            folds: self
                .folds
                .iter()
                .enumerate()
                .map(|(fold, f)| FoldDescription { fold, train: set(&f.train), val: set(&f.val) })
                .collect(),
            test: set(&self.test),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `normal` normals then `abnormal` abnormals.
    fn classes(normal: usize, abnormal: usize) -> Vec<Class> {
        let mut v = vec![Class::Normal; normal];
        v.extend(vec![Class::Abnormal; abnormal]);
        v
    }

    fn seed_split(seed: u64) -> SplitConfig {
        SplitConfig::Stratified { train: 0.70, val: 0.15, test: 0.15, seed }
    }

    fn count(splits: &[Split], classes: &[Class], split: Split, class: Class) -> usize {
        splits.iter().zip(classes).filter(|&(&s, &c)| s == split && c == class).count()
    }

    #[test]
    fn stratified_split_is_stratified_and_pure() {
        let cls = classes(745, 255);
        let videos: Vec<(Class, Split)> = cls.iter().map(|&c| (c, Split::Train)).collect();
        let a = assign_splits(&videos, &seed_split(42)).expect("split");
        // Per class: test = round(n·0.15), val = round(n·0.15), train = the rest.
        // 745·0.15 = 111.75 → 112; 255·0.15 = 38.25 → 38.
        for (class, n_split, n_train) in [(Class::Normal, 112, 521), (Class::Abnormal, 38, 179)] {
            assert_eq!(count(&a, &cls, Split::Test, class), n_split);
            assert_eq!(count(&a, &cls, Split::Val, class), n_split);
            assert_eq!(count(&a, &cls, Split::Train, class), n_train);
        }
        assert_eq!(a, assign_splits(&videos, &seed_split(42)).expect("split"));
        assert_ne!(a, assign_splits(&videos, &seed_split(43)).expect("split"));
    }

    #[test]
    fn official_split_uses_the_column_and_errors() {
        let videos = [
            (Class::Normal, Split::Train),
            (Class::Abnormal, Split::Val),
            (Class::Normal, Split::Test),
        ];
        let got = assign_splits(&videos, &SplitConfig::Official).expect("official");
        assert_eq!(got, vec![Split::Train, Split::Val, Split::Test]);
        assert_eq!(
            assign_splits(&videos[..2], &SplitConfig::Official),
            Err(SplitError::EmptySet("TEST"))
        );
        let bad = SplitConfig::Stratified { train: 0.7, val: 0.2, test: 0.2, seed: 1 };
        assert!(matches!(assign_splits(&videos, &bad), Err(SplitError::Fractions { .. })));
        // Too few videos for a val set: every class rounds its val share to 0.
        let tiny: Vec<(Class, Split)> = classes(2, 2).iter().map(|&c| (c, Split::Train)).collect();
        assert_eq!(assign_splits(&tiny, &seed_split(0)), Err(SplitError::EmptySet("VAL")));
    }

    #[test]
    fn folds_are_stratified_disjoint_and_cover_the_pool() {
        // Interleave the classes so positions and classes are not trivially aligned.
        let pool: Vec<Class> =
            (0..103).map(|i| if i % 4 == 0 { Class::Abnormal } else { Class::Normal }).collect();
        for shuffle in [false, true] {
            let parts = kfold(&pool, 7, shuffle, 42).expect("kfold");
            assert_eq!(parts.len(), 7);
            let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..pool.len()).collect::<Vec<_>>(), "disjoint and covering");
            for class in CLASSES {
                let per_fold: Vec<usize> =
                    parts.iter().map(|p| p.iter().filter(|&&i| pool[i] == class).count()).collect();
                let (lo, hi) = (per_fold.iter().min(), per_fold.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{class:?}: {per_fold:?}");
            }
            let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
            assert!(sizes.iter().max().zip(sizes.iter().min()).is_some_and(|(h, l)| h - l <= 1));
        }
        assert_eq!(kfold(&pool, 7, true, 42), kfold(&pool, 7, true, 42));
        assert_ne!(kfold(&pool, 7, true, 42), kfold(&pool, 7, true, 7));
        assert_ne!(kfold(&pool, 7, true, 42), kfold(&pool, 7, false, 42));
    }

    #[test]
    fn kfold_errors_instead_of_panicking() {
        let pool = classes(10, 3);
        assert_eq!(
            kfold(&pool, 4, true, 0),
            Err(SplitError::ClassTooSmall { class: Class::Abnormal, count: 3, folds: 4 })
        );
        assert_eq!(kfold(&pool, 1, true, 0), Err(SplitError::TooFewFolds(1)));
        assert!(kfold(&classes(5, 0), 2, false, 0).is_err());
    }

    #[test]
    fn plans_hold_out_test_and_describe_by_name() {
        let cls = classes(30, 12);
        let splits: Vec<Split> = (0..cls.len())
            .map(|i| match i % 6 {
                0 => Split::Test,
                1 => Split::Val,
                _ => Split::Train,
            })
            .collect();
        let names: Vec<String> = (0..cls.len()).map(|i| format!("v{i:02}")).collect();
        let cv = CvConfig { folds: 3, ..CvConfig::default() };
        let plan = plan_cv(&cls, &splits, &cv).expect("kfold plan");
        assert_eq!(plan.folds.len(), 3);
        for fold in &plan.folds {
            let mut both: Vec<usize> = fold.train.iter().chain(&fold.val).copied().collect();
            both.sort_unstable();
            let pool: Vec<usize> = (0..cls.len()).filter(|&i| splits[i] != Split::Test).collect();
            assert_eq!(both, pool, "train and val partition the pool");
        }
        let folds = plan.describe(&names, &cls);
        assert_eq!(folds.test.videos, ["v00", "v06", "v12", "v18", "v24", "v30", "v36"]);
        assert_eq!(folds.test.counts, ClassCounts { normal: 5, abnormal: 2 });
        let val_total: usize = folds.folds.iter().map(|f| f.val.videos.len()).sum();
        assert_eq!(val_total, 35);
        let json = serde_json::to_value(&folds).expect("json");
        assert_eq!(json["mode"], "kfold");
        assert_eq!(json["folds"][0]["fold"], 0);

        let single = CvConfig { mode: CvMode::Single, ..CvConfig::default() };
        let plan = plan_cv(&cls, &splits, &single).expect("single plan");
        assert_eq!(plan.folds.len(), 1);
        assert_eq!(plan.folds[0].val, vec![1, 7, 13, 19, 25, 31, 37]);
        assert!(plan.folds[0].train.iter().all(|&i| splits[i] == Split::Train));
        let no_val: Vec<Split> =
            splits.iter().map(|&s| if s == Split::Val { Split::Train } else { s }).collect();
        assert_eq!(plan_cv(&cls, &no_val, &single), Err(SplitError::EmptySet("VAL")));
    }
}
