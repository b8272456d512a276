//! Training progress on the terminal and in `train.log`.
//!
//! On a terminal: indicatif bars for folds, epochs and batches (loss, accuracy, throughput,
//! ETA). Elsewhere (SLURM output files, pipes): plain timestamped lines, batch lines throttled
//! to every tenth of an epoch or every [`LINE_INTERVAL`], whichever comes first. Every line,
//! whatever the display mode, is also appended to `train.log` with an RFC 3339 timestamp, so
//! the log of a run reads the same however it was watched, and a resumed run appends to it.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::runtime::Progress as Mode;
use crate::{atomic, io_retry};

/// Longest gap between two batch lines (besides the tenth-of-an-epoch lines).
pub const LINE_INTERVAL: Duration = Duration::from_secs(60);

/// Progress reporting for the training loop. Folds and epochs are passed 0-based and shown
/// 1-based (`fold 1/5`).
pub struct Progress {
    log: File,
    log_path: PathBuf,
    display: Display,
    folds: usize,
    epochs: usize,
    fold: usize,
    epoch: usize,
    batches: u64,
    done: u64,
    epoch_start: Instant,
    last_line: Instant,
    /// Tenths of the epoch done when the last batch line was written.
    last_tenth: u64,
    line_interval: Duration,
}

enum Display {
    Bars(Bars),
    /// Lines on this writer (stderr; a sink when progress is off).
    Lines(Box<dyn Write + Send>),
}

struct Bars {
    multi: MultiProgress,
    fold: ProgressBar,
    epoch: ProgressBar,
    batch: ProgressBar,
    /// Where lines go when the bars are hidden: indicatif draws nothing (and so prints no
    /// lines) when stderr is not a terminal, even when bars were asked for.
    fallback: Box<dyn Write + Send>,
}

impl Bars {
    fn new(target: ProgressDrawTarget, fallback: Box<dyn Write + Send>) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let bar = |prefix: &str, template: &str| {
            let style = ProgressStyle::with_template(template)
                .expect("static progress template")
                .progress_chars("=> ");
            multi.add(ProgressBar::new(0).with_style(style).with_prefix(prefix.to_owned()))
        };
        let outer = "{prefix:>7} [{bar:30}] {pos}/{len} elapsed {elapsed} eta {eta}";
        Self {
            fold: bar("folds", outer),
            epoch: bar("epochs", outer),
            batch: bar("batches", "{prefix:>7} [{bar:30}] {pos}/{len} eta {eta} {msg}"),
            multi,
            fallback,
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        // The lines printed above the bars stay; the bars themselves are stale now.
        let _ = self.multi.clear();
    }
}

/// `Auto` means bars when stderr is a terminal and lines otherwise.
fn display(mode: Mode, terminal: bool, out: Box<dyn Write + Send>) -> Display {
    match mode {
        Mode::Bars | Mode::Auto if terminal => {
            Display::Bars(Bars::new(ProgressDrawTarget::stderr(), out))
        }
        Mode::Bars => Display::Bars(Bars::new(ProgressDrawTarget::hidden(), out)),
        Mode::Auto | Mode::Lines => Display::Lines(out),
        Mode::Off => Display::Lines(Box::new(io::sink())),
    }
}

impl Progress {
    /// Progress shown as `mode` says on stderr, every line also appended to `log_path`
    /// (created if missing; its directory must exist).
    pub fn new(mode: Mode, log_path: &Path) -> io::Result<Self> {
        let stderr = io::stderr();
        let terminal = stderr.is_terminal();
        Self::open(display(mode, terminal, Box::new(stderr)), log_path)
    }

    fn open(display: Display, log_path: &Path) -> io::Result<Self> {
        let log = io_retry::retry(log_path, || {
            OpenOptions::new().create(true).append(true).open(log_path)
        })?;
        let now = Instant::now();
        Ok(Self {
            log,
            log_path: log_path.to_path_buf(),
            display,
            folds: 0,
            epochs: 0,
            fold: 0,
            epoch: 0,
            batches: 0,
            done: 0,
            epoch_start: now,
            last_line: now,
            last_tenth: 0,
            line_interval: LINE_INTERVAL,
        })
    }

    /// Fold `fold` (0-based) of `folds` begins.
    pub fn fold_started(&mut self, fold: usize, folds: usize) -> io::Result<()> {
        self.fold = fold;
        self.folds = folds;
        if let Display::Bars(bars) = &self.display {
            bars.fold.set_length(folds as u64);
            bars.fold.set_position(fold as u64);
            bars.epoch.reset();
            bars.batch.reset();
        }
        self.line(&format!("fold {}/{folds} started", fold + 1), true)
    }

    /// Epoch `epoch` (0-based) of `epochs` begins, with `batches` training batches.
    pub fn epoch_started(
        &mut self,
        fold: usize,
        epoch: usize,
        epochs: usize,
        batches: u64,
    ) -> io::Result<()> {
        self.fold = fold;
        self.epoch = epoch;
        self.epochs = epochs;
        self.batches = batches;
        self.done = 0;
        self.last_tenth = 0;
        self.epoch_start = Instant::now();
        self.last_line = self.epoch_start;
        if let Display::Bars(bars) = &self.display {
            bars.epoch.set_length(epochs as u64);
            bars.epoch.set_position(epoch as u64);
            bars.batch.set_length(batches);
            bars.batch.reset();
            bars.batch.set_message("");
        }
        let line = format!("{} started: {batches} batches", self.epoch_label(fold, epoch));
        self.line(&line, true)
    }

    /// One training batch done: its loss, accuracy and throughput. Moves the batch bar; writes
    /// a line (to `train.log`, and to the terminal in line mode) only at each tenth of the
    /// epoch or after [`LINE_INTERVAL`] without one.
    pub fn batch(&mut self, loss: f64, acc: f64, clips_per_s: f64) -> io::Result<()> {
        self.done += 1;
        let stats = format!("loss {loss:.4} acc {acc:.3} {clips_per_s:.1} clips/s");
        if let Display::Bars(bars) = &self.display {
            bars.batch.inc(1);
            bars.batch.set_message(stats.clone());
        }
        let tenth = (self.done * 10).checked_div(self.batches).unwrap_or(0);
        let now = Instant::now();
        if tenth <= self.last_tenth && now.duration_since(self.last_line) < self.line_interval {
            return Ok(());
        }
        self.last_tenth = tenth;
        self.last_line = now;
        let percent = (self.done * 100).checked_div(self.batches).unwrap_or(0);
        let remaining = self.batches.saturating_sub(self.done);
        // Whole seconds: humantime would print nanoseconds otherwise.
        let eta = Duration::from_secs(
            now.duration_since(self.epoch_start)
                .mul_f64(remaining as f64 / self.done as f64)
                .as_secs(),
        );
        let line = format!(
            "{} batch {}/{} ({percent}%) {stats} eta {}",
            self.epoch_label(self.fold, self.epoch),
            self.done,
            self.batches,
            humantime::format_duration(eta),
        );
        // The batch bar already shows this on a terminal.
        let to_terminal = !matches!(self.display, Display::Bars(_));
        self.line(&line, to_terminal)
    }

    /// Epoch `epoch` of fold `fold` is done; `summary` is e.g. its train and validation metrics.
    pub fn epoch_finished(&mut self, fold: usize, epoch: usize, summary: &str) -> io::Result<()> {
        if let Display::Bars(bars) = &self.display {
            bars.epoch.set_position(epoch as u64 + 1);
        }
        let line = format!("{}: {summary}", self.epoch_label(fold, epoch));
        self.line(&line, true)
    }

    /// Fold `fold` is done; `summary` is e.g. its best epoch and metric.
    pub fn fold_finished(&mut self, fold: usize, summary: &str) -> io::Result<()> {
        if let Display::Bars(bars) = &self.display {
            bars.fold.set_position(fold as u64 + 1);
        }
        self.line(&format!("fold {}/{}: {summary}", fold + 1, self.folds), true)
    }

    /// Any other line (checkpoint written, stop requested, …).
    pub fn note(&mut self, line: &str) -> io::Result<()> {
        self.line(line, true)
    }

    fn epoch_label(&self, fold: usize, epoch: usize) -> String {
        format!("fold {}/{} epoch {}/{}", fold + 1, self.folds, epoch + 1, self.epochs)
    }

    /// Appends `text` to the log (a failure there is an error) and, if asked, shows it on the
    /// terminal (a failure there is ignored: a closed stderr must not stop training).
    fn line(&mut self, text: &str, to_terminal: bool) -> io::Result<()> {
        let stamped = format!("{} {text}\n", humantime::format_rfc3339_seconds(SystemTime::now()));
        // One write per line, so a crash leaves whole lines and concurrent appends interleave
        // by line; File is unbuffered, so flush is only for form.
        atomic::append_all(&mut self.log, &self.log_path, stamped.as_bytes())?;
        self.log.flush()?;
        if to_terminal {
            let _ = match &mut self.display {
                Display::Bars(bars) if bars.multi.is_hidden() => {
                    bars.fallback.write_all(stamped.as_bytes())
                }
                Display::Bars(bars) => bars.multi.println(text),
                Display::Lines(out) => out.write_all(stamped.as_bytes()),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A terminal stand-in that the test can read back.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("capture lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("capture lock").clone()).expect("utf-8")
        }
    }

    /// The log's lines without their timestamps, checking each timestamp on the way.
    fn log_lines(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).expect("read train.log");
        text.lines()
            .map(|line| {
                let (stamp, rest) = line.split_once(' ').expect("timestamp and text");
                humantime::parse_rfc3339(stamp).expect("RFC 3339 seconds timestamp");
                assert_eq!(stamp.len(), "2025-01-01T00:00:00Z".len(), "{stamp}");
                rest.to_owned()
            })
            .collect()
    }

    fn short_run(progress: &mut Progress) {
        progress.fold_started(0, 2).unwrap();
        progress.epoch_started(0, 0, 3, 4).unwrap();
        for _ in 0..4 {
            progress.batch(0.6925, 0.5, 12.5).unwrap();
        }
        progress.epoch_finished(0, 0, "val auroc 0.710").unwrap();
        progress.fold_finished(0, "best epoch 1").unwrap();
        progress.note("checkpoint written").unwrap();
    }

    fn expected_lines() -> Vec<String> {
        let batch = |n: u32, pct: u32| {
            format!(
                "fold 1/2 epoch 1/3 batch {n}/4 ({pct}%) loss 0.6925 acc 0.500 12.5 clips/s eta 0s"
            )
        };
        let mut lines =
            vec!["fold 1/2 started".to_owned(), "fold 1/2 epoch 1/3 started: 4 batches".to_owned()];
        lines.extend([batch(1, 25), batch(2, 50), batch(3, 75), batch(4, 100)]);
        lines.extend([
            "fold 1/2 epoch 1/3: val auroc 0.710".to_owned(),
            "fold 1/2: best epoch 1".to_owned(),
            "checkpoint written".to_owned(),
        ]);
        lines
    }

    #[test]
    fn lines_mode_prints_and_logs_the_same_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        let terminal = Capture::default();
        let mut progress =
            Progress::open(display(Mode::Lines, true, Box::new(terminal.clone())), &log).unwrap();
        short_run(&mut progress);
        let lines = log_lines(&log);
        // The eta of the first batches depends on timing; compare it only on the last one.
        let strip_eta = |l: &String| l.split(" eta ").next().unwrap_or(l).to_owned();
        assert_eq!(
            lines.iter().map(strip_eta).collect::<Vec<_>>(),
            expected_lines().iter().map(strip_eta).collect::<Vec<_>>()
        );
        assert_eq!(lines[5], expected_lines()[5], "last batch: eta 0s");
        assert_eq!(terminal.text(), std::fs::read_to_string(&log).unwrap());
    }

    #[test]
    fn auto_off_a_terminal_is_lines_and_off_prints_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for (mode, printed) in [(Mode::Auto, true), (Mode::Off, false)] {
            let log = dir.path().join(format!("{mode:?}.log"));
            let terminal = Capture::default();
            let mut progress =
                Progress::open(display(mode, false, Box::new(terminal.clone())), &log).unwrap();
            short_run(&mut progress);
            assert_eq!(log_lines(&log).len(), expected_lines().len(), "{mode:?} still logs");
            assert_eq!(!terminal.text().is_empty(), printed, "{mode:?}");
        }
    }

    #[test]
    fn hidden_bars_print_lines_but_not_batches() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        let terminal = Capture::default();
        let mut progress =
            Progress::open(display(Mode::Bars, false, Box::new(terminal.clone())), &log).unwrap();
        short_run(&mut progress);
        // The log is the same in every mode; the terminal gets no batch lines (the bar has them).
        assert_eq!(log_lines(&log).len(), expected_lines().len());
        let printed = terminal.text();
        assert_eq!(printed.lines().count(), expected_lines().len() - 4, "{printed}");
        assert!(!printed.contains(" batch "), "{printed}");
    }

    #[test]
    fn log_is_appended_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        let mut first = Progress::new(Mode::Off, &log).unwrap();
        first.note("first run").unwrap();
        drop(first);
        let mut resumed = Progress::new(Mode::Off, &log).unwrap();
        resumed.note("resumed").unwrap();
        assert_eq!(log_lines(&log), ["first run", "resumed"]);
    }

    #[test]
    fn batch_lines_are_throttled() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        let mut progress = Progress::new(Mode::Off, &log).unwrap();
        progress.fold_started(0, 1).unwrap();
        progress.epoch_started(0, 0, 1, 100_000).unwrap();
        for _ in 0..100_000 {
            progress.batch(0.1, 0.9, 100.0).unwrap();
        }
        let batch_lines: Vec<_> =
            log_lines(&log).into_iter().filter(|l| l.contains(" batch ")).collect();
        // One per tenth; the 60 s interval does not fire in a test this fast.
        assert_eq!(batch_lines.len(), 10, "{batch_lines:#?}");
        assert!(batch_lines[9].contains("batch 100000/100000 (100%)"), "{}", batch_lines[9]);

        // With no interval every batch gets a line.
        progress.line_interval = Duration::ZERO;
        progress.epoch_started(0, 0, 1, 1000).unwrap();
        for _ in 0..5 {
            progress.batch(0.1, 0.9, 100.0).unwrap();
        }
        let all = log_lines(&log);
        assert_eq!(all.iter().filter(|l| l.contains("batch ") && l.contains("/1000 ")).count(), 5);
    }
}
