//! EchoNet-Dynamic folder reader: typed `FileList.csv` and `VolumeTracings.csv`, the videos
//! under `Videos/`, and a cross-check of the three (rows without a video, videos without a
//! row, frame counts, sizes and rates that disagree with the real AVI headers) summarised in
//! a [`DataReport`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use super::avi::AviFile;
use super::error::DataError;

pub const FILE_LIST_HEADER: [&str; 9] =
    ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"];
pub const VOLUME_TRACINGS_HEADER: [&str; 6] = ["FileName", "X1", "Y1", "X2", "Y2", "Frame"];

/// How many names of each problem kind the report keeps.
const EXAMPLES: usize = 10;

/// What to do with a video that cannot be used (missing, unreadable, no EF).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBadVideo {
    /// Stop with an error naming the video.
    #[default]
    Error,
    /// Leave the video out, and count and list it in the data report.
    Skip,
}

/// The dataset's own split column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "TRAIN",
            Split::Val => "VAL",
            Split::Test => "TEST",
        }
    }
}

/// One row of `FileList.csv`. EF/ESV/EDV are `None` when empty or NaN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileListRow {
    /// Video id without extension, e.g. `0X100009310A3BD7FC`.
    pub file_name: String,
    pub ef: Option<f64>,
    pub esv: Option<f64>,
    pub edv: Option<f64>,
    pub frame_height: u32,
    pub frame_width: u32,
    pub fps: u32,
    pub number_of_frames: u32,
    pub split: Split,
    /// 1-based line in the CSV file (the header is line 1).
    pub line: u64,
}

/// One row of `VolumeTracings.csv`: a line segment on a traced frame (112-pixel space).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TracingRow {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub frame: u32,
}

/// A listed video whose AVI opened: its row and the facts read from the file itself.
#[derive(Debug, Clone)]
pub struct VideoRecord {
    pub row: FileListRow,
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub fps: f64,
}

/// How a scan treats bad videos and how deep it looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanOptions {
    pub on_bad_video: OnBadVideo,
    /// Also decode every frame of every video (slow; headers and index are always read).
    pub decode_all_frames: bool,
}

/// A scanned EchoNet-Dynamic folder.
#[derive(Debug, Clone)]
pub struct EchoNetDataset {
    pub root: PathBuf,
    /// Usable videos, in `FileList.csv` order.
    pub videos: Vec<VideoRecord>,
    /// Tracings by file name (without `.avi`), when `VolumeTracings.csv` exists.
    pub tracings: Option<BTreeMap<String, Vec<TracingRow>>>,
    pub report: DataReport,
}

/// Count and first names of one kind of problem.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Problem {
    pub count: usize,
    pub examples: Vec<String>,
}

impl Problem {
    fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn add(&mut self, example: String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example);
        }
    }
}

/// A video left out of the dataset, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub file_name: String,
    pub reason: String,
}

/// What a scan found. Problems that skip a video (missing, unreadable) are also listed in
/// full in `skipped`; the others are warnings (the header of the real file wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataReport {
    pub root: PathBuf,
    pub file_list_rows: usize,
    pub video_files: usize,
    pub usable_videos: usize,
    pub usable_by_split: BTreeMap<Split, usize>,
    pub total_frames: usize,
    pub has_volume_tracings: bool,
    /// CSV records that cannot be read: only an [`inspect_echonet`] reads past them (a scan
    /// stops at the first), so a scan's report never holds one.
    #[serde(skip_serializing_if = "Problem::is_empty")]
    pub unreadable_record: Problem,
    /// Rows whose `Videos/<FileName>.avi` does not exist (skipped).
    pub missing_video: Problem,
    /// Videos whose AVI cannot be opened or decoded (skipped).
    pub unreadable_video: Problem,
    /// Rows whose EF is empty or NaN (labelling skips or rejects them).
    pub missing_ef: Problem,
    /// Repeated `FileName` rows (the first is kept).
    pub duplicate_row: Problem,
    /// `.avi` files under `Videos/` that no row lists (ignored).
    pub unlisted_video: Problem,
    /// `NumberOfFrames` differs from the frames in the file (the file's count is used).
    pub frame_count_mismatch: Problem,
    /// `FrameWidth`/`FrameHeight` differ from the file's frame size (the file's is used).
    pub size_mismatch: Problem,
    /// `FPS` differs from the file's frame rate (the file's is used).
    pub fps_mismatch: Problem,
    /// Usable videos without tracings (only when `VolumeTracings.csv` exists).
    pub without_tracings: Problem,
    pub skipped: Vec<Skipped>,
}

impl DataReport {
    /// The report as text, saying what `policy` does with the videos it cannot use.
    pub fn with_policy(&self, policy: OnBadVideo) -> impl fmt::Display + '_ {
        ReportText { report: self, policy }
    }
}

/// The report as a scan under [`OnBadVideo::Skip`] made it.
impl fmt::Display for DataReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_policy(OnBadVideo::Skip).fmt(f)
    }
}

struct ReportText<'a> {
    report: &'a DataReport,
    policy: OnBadVideo,
}

impl fmt::Display for ReportText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        let bad_video = match self.policy {
            OnBadVideo::Skip => "skipped",
            OnBadVideo::Error => "stops a run",
        };
        writeln!(f, "EchoNet-Dynamic folder {}", r.root.display())?;
        writeln!(f, "  FileList.csv rows: {}", r.file_list_rows)?;
        writeln!(f, "  video files:       {}", r.video_files)?;
        let splits: Vec<String> =
            r.usable_by_split.iter().map(|(s, n)| format!("{} {n}", s.as_str())).collect();
        writeln!(f, "  usable videos:     {} ({})", r.usable_videos, splits.join(", "))?;
        writeln!(f, "  frames in usable videos: {}", r.total_frames)?;
        writeln!(
            f,
            "  VolumeTracings.csv: {}",
            if r.has_volume_tracings { "present" } else { "absent" }
        )?;
        let kinds = [
            ("unreadable CSV record (stops a run)".to_owned(), &r.unreadable_record),
            (format!("missing video ({bad_video})"), &r.missing_video),
            (format!("unreadable video ({bad_video})"), &r.unreadable_video),
            ("missing or NaN EF".to_owned(), &r.missing_ef),
            ("duplicate FileList row".to_owned(), &r.duplicate_row),
            ("video without a FileList row (ignored)".to_owned(), &r.unlisted_video),
            ("NumberOfFrames differs from the file".to_owned(), &r.frame_count_mismatch),
            ("frame size differs from the file".to_owned(), &r.size_mismatch),
            ("FPS differs from the file".to_owned(), &r.fps_mismatch),
            ("video without tracings".to_owned(), &r.without_tracings),
        ];
        let mut clean = true;
        for (what, p) in kinds {
            if p.count > 0 {
                clean = false;
                let more = if p.count > p.examples.len() { ", …" } else { "" };
                writeln!(f, "  {what}: {} ({}{more})", p.count, p.examples.join(", "))?;
            }
        }
        if clean {
            writeln!(f, "  no problems found")?;
        }
        Ok(())
    }
}

/// Scan an EchoNet-Dynamic folder: parse the CSVs, find the videos, open every listed video's
/// header (in parallel) and cross-check. Stops at the first record that cannot be read, and
/// under [`OnBadVideo::Error`] at the first listed video that cannot be used.
pub fn scan_echonet(root: &Path, options: ScanOptions) -> Result<EchoNetDataset, DataError> {
    let rows = read_file_list(&root.join("FileList.csv"))?;
    let tracings_path = root.join("VolumeTracings.csv");
    let tracings =
        if tracings_path.is_file() { Some(read_volume_tracings(&tracings_path)?) } else { None };
    let (dataset, bad_videos) = cross_check(root, rows, tracings, options.decode_all_frames)?;
    match bad_videos.into_iter().next() {
        Some(first) if options.on_bad_video == OnBadVideo::Error => Err(first),
        _ => Ok(dataset),
    }
}

/// Everything wrong with an EchoNet-Dynamic folder, found in one pass whatever the policy.
#[derive(Debug)]
pub struct Inspection {
    /// The folder as a scan under [`OnBadVideo::Skip`] reads it, from the records that
    /// could be read.
    pub dataset: EchoNetDataset,
    /// Records of FileList.csv, then VolumeTracings.csv, that cannot be read: a scan stops
    /// at the first under either policy.
    pub bad_records: Vec<DataError>,
    /// Listed videos that are missing or cannot be opened, in FileList.csv order (also in
    /// the report's `skipped`).
    pub bad_videos: Vec<DataError>,
}

/// Inspect an EchoNet-Dynamic folder as [`scan_echonet`] scans it (every listed video's
/// header and index), reading past every record and video it cannot use; stops only where
/// nothing further can be read (a missing or unreadable CSV, a wrong header, no Videos
/// folder).
pub fn inspect_echonet(root: &Path) -> Result<Inspection, DataError> {
    let file_list = file_list_records(&root.join("FileList.csv"))?;
    let tracings_path = root.join("VolumeTracings.csv");
    let tracings =
        if tracings_path.is_file() { Some(tracing_records(&tracings_path)?) } else { None };
    // A record of FileList.csv that cannot be read is still one of its rows.
    let unread_rows = file_list.bad.len();
    let mut bad_records = file_list.bad;
    let tracings = tracings.map(|t| {
        bad_records.extend(t.bad);
        by_video(t.rows)
    });
    let (mut dataset, bad_videos) = cross_check(root, file_list.rows, tracings, false)?;
    let report = &mut dataset.report;
    report.file_list_rows += unread_rows;
    for e in &bad_records {
        report.unreadable_record.add(match e {
            DataError::Csv { path, line, .. } => format!("{} line {line}", file_name(path)),
            other => other.to_string(),
        });
    }
    Ok(Inspection { dataset, bad_records, bad_videos })
}

/// A path's last component, for short examples.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into())
}

/// The scan of the videos `rows` list, with every unusable one left out, counted in the
/// report and returned as an error naming it, in the rows' order.
fn cross_check(
    root: &Path,
    rows: Vec<FileListRow>,
    tracings: Option<BTreeMap<String, Vec<TracingRow>>>,
    decode_all_frames: bool,
) -> Result<(EchoNetDataset, Vec<DataError>), DataError> {
    let videos_dir = root.join("Videos");
    if !videos_dir.is_dir() {
        return Err(DataError::Dataset { path: videos_dir, detail: "no Videos folder".into() });
    }

    let mut report = DataReport {
        root: root.to_path_buf(),
        file_list_rows: rows.len(),
        has_volume_tracings: tracings.is_some(),
        ..DataReport::default()
    };

    let mut files: HashMap<String, PathBuf> = HashMap::new();
    for entry in WalkDir::new(&videos_dir).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e.path().map_or_else(|| videos_dir.clone(), Path::to_path_buf);
            DataError::io(path, e.into())
        })?;
        let path = entry.path();
        let is_avi = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("avi"));
        if entry.file_type().is_file()
            && is_avi
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            report.video_files += 1;
            files.entry(stem.to_owned()).or_insert_with(|| path.to_path_buf());
        }
    }

    let mut seen: HashSet<&str> = HashSet::new();
    let mut listed = Vec::with_capacity(rows.len());
    for row in &rows {
        if !seen.insert(&row.file_name) {
            report.duplicate_row.add(format!("{} (line {})", row.file_name, row.line));
            continue;
        }
        if row.ef.is_none() {
            report.missing_ef.add(row.file_name.clone());
        }
        listed.push(row);
    }
    let mut unlisted: Vec<&String> = files.keys().filter(|k| !seen.contains(k.as_str())).collect();
    unlisted.sort();
    for name in unlisted {
        report.unlisted_video.add(format!("{name}.avi"));
    }

    let opened: Vec<Result<VideoRecord, (BadVideo, DataError)>> = listed
        .par_iter()
        .map(|row| {
            let Some(path) = files.get(&row.file_name) else {
                let path = videos_dir.join(format!("{}.avi", row.file_name));
                let detail =
                    format!("listed in FileList.csv line {} but the file does not exist", row.line);
                return Err((BadVideo::Missing, DataError::Dataset { path, detail }));
            };
            let avi = AviFile::open(path).map_err(|e| (BadVideo::Unreadable, e))?;
            if decode_all_frames {
                avi.read_all_frames().map_err(|e| (BadVideo::Unreadable, e))?;
            }
            Ok(VideoRecord {
                row: (*row).clone(),
                path: path.clone(),
                width: avi.width(),
                height: avi.height(),
                frames: avi.frame_count(),
                fps: avi.fps(),
            })
        })
        .collect();

    let mut videos = Vec::with_capacity(opened.len());
    let mut bad_videos = Vec::new();
    for (row, result) in listed.iter().zip(opened) {
        match result {
            Ok(video) => videos.push(video),
            Err((kind, error)) => {
                let problem = match kind {
                    BadVideo::Missing => &mut report.missing_video,
                    BadVideo::Unreadable => &mut report.unreadable_video,
                };
                problem.add(row.file_name.clone());
                report
                    .skipped
                    .push(Skipped { file_name: row.file_name.clone(), reason: error.to_string() });
                bad_videos.push(error);
            }
        }
    }

    for v in &videos {
        let name = &v.row.file_name;
        if v.frames != v.row.number_of_frames as usize {
            report
                .frame_count_mismatch
                .add(format!("{name} (row {}, file {})", v.row.number_of_frames, v.frames));
        }
        if (v.width, v.height) != (v.row.frame_width, v.row.frame_height) {
            report.size_mismatch.add(format!(
                "{name} (row {}×{}, file {}×{})",
                v.row.frame_width, v.row.frame_height, v.width, v.height
            ));
        }
        if (v.fps - f64::from(v.row.fps)).abs() > 0.5 {
            report.fps_mismatch.add(format!("{name} (row {}, file {:.2})", v.row.fps, v.fps));
        }
        if let Some(t) = &tracings
            && !t.contains_key(name)
        {
            report.without_tracings.add(name.clone());
        }
        *report.usable_by_split.entry(v.row.split).or_default() += 1;
        report.total_frames += v.frames;
    }
    report.usable_videos = videos.len();
    Ok((EchoNetDataset { root: root.to_path_buf(), videos, tracings, report }, bad_videos))
}

enum BadVideo {
    Missing,
    Unreadable,
}

/// A CSV reader over `path` whose first record must be exactly `header`.
fn open_csv(path: &Path, header: &[&str]) -> Result<csv::Reader<std::fs::File>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(crate::io_retry::open(path).map_err(|e| DataError::io(path, e))?);
    let mut first = csv::StringRecord::new();
    let found = reader.read_record(&mut first).map_err(|e| csv_error(path, e))?;
    let got: Vec<&str> = first.iter().map(str::trim).collect();
    if !found || got != header {
        return Err(DataError::Csv {
            path: path.to_path_buf(),
            line: 1,
            column: "header".into(),
            detail: format!("expected `{}`, found `{}`", header.join(","), got.join(",")),
        });
    }
    Ok(reader)
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let line = e.position().map_or(0, csv::Position::line);
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DataError::io(path, io),
        kind => DataError::Csv {
            path: path.to_path_buf(),
            line,
            column: "-".into(),
            detail: format!("{kind:?}"),
        },
    }
}

/// The fields of one record, with errors that name file, line and column.
struct Fields<'a> {
    path: &'a Path,
    line: u64,
    record: &'a csv::StringRecord,
    header: &'a [&'a str],
}

impl Fields<'_> {
    fn error(&self, column: usize, detail: String) -> DataError {
        DataError::Csv {
            path: self.path.to_path_buf(),
            line: self.line,
            column: self.header.get(column).copied().unwrap_or("-").to_owned(),
            detail,
        }
    }

    fn text(&self, column: usize) -> &str {
        self.record.get(column).unwrap_or("").trim()
    }

    fn parse<T: std::str::FromStr>(&self, column: usize, what: &str) -> Result<T, DataError> {
        let text = self.text(column);
        text.parse().map_err(|_| self.error(column, format!("`{text}` is not {what}")))
    }

    /// A finite float, or `None` for an empty or NaN field.
    fn optional_f64(&self, column: usize) -> Result<Option<f64>, DataError> {
        let text = self.text(column);
        if text.is_empty() {
            return Ok(None);
        }
        let v: f64 = self.parse(column, "a number")?;
        if v.is_nan() {
            Ok(None)
        } else if v.is_finite() {
            Ok(Some(v))
        } else {
            Err(self.error(column, format!("`{text}` is not a finite number")))
        }
    }

    fn f64(&self, column: usize) -> Result<f64, DataError> {
        self.optional_f64(column)?.ok_or_else(|| self.error(column, "missing number".into()))
    }

    fn file_name(&self, column: usize) -> Result<String, DataError> {
        let text = self.text(column);
        let name = match text.len().checked_sub(4) {
            Some(cut) if text.is_char_boundary(cut) && text[cut..].eq_ignore_ascii_case(".avi") => {
                &text[..cut]
            }
            _ => text,
        };
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(self.error(column, format!("`{text}` is not a video file name")));
        }
        Ok(name.to_owned())
    }
}

/// The records of a CSV file that could be read, and an error for each one that could not.
struct Records<T> {
    rows: Vec<T>,
    bad: Vec<DataError>,
}

impl<T> Records<T> {
    /// The rows, or the first bad record's error.
    fn all(self) -> Result<Vec<T>, DataError> {
        match self.bad.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(self.rows),
        }
    }
}

/// Records after the header, each checked to have `header.len()` fields and parsed by
/// `parse`. A record the CSV reader cannot read ends the reading, as the last bad one.
fn read_records<T>(
    path: &Path,
    header: &[&str],
    mut parse: impl FnMut(&Fields<'_>) -> Result<T, DataError>,
) -> Result<Records<T>, DataError> {
    let mut reader = open_csv(path, header)?;
    let mut out = Records { rows: Vec::new(), bad: Vec::new() };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                out.bad.push(csv_error(path, e));
                break;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() == 1 && record.get(0).is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        let fields = Fields { path, line, record: &record, header };
        let parsed = if record.len() == header.len() {
            parse(&fields)
        } else {
            Err(fields.error(
                record.len().min(header.len()),
                format!("expected {} fields, found {}", header.len(), record.len()),
            ))
        };
        match parsed {
            Ok(row) => out.rows.push(row),
            Err(e) => out.bad.push(e),
        }
    }
    Ok(out)
}

/// Parse `FileList.csv` (header checked exactly, every column typed).
pub fn read_file_list(path: &Path) -> Result<Vec<FileListRow>, DataError> {
    file_list_records(path)?.all()
}

fn file_list_records(path: &Path) -> Result<Records<FileListRow>, DataError> {
    read_records(path, &FILE_LIST_HEADER, |r| {
        let split = match r.text(8).to_ascii_uppercase().as_str() {
            "TRAIN" => Split::Train,
            "VAL" => Split::Val,
            "TEST" => Split::Test,
            other => return Err(r.error(8, format!("`{other}` is not TRAIN, VAL or TEST"))),
        };
        Ok(FileListRow {
            file_name: r.file_name(0)?,
            ef: r.optional_f64(1)?,
            esv: r.optional_f64(2)?,
            edv: r.optional_f64(3)?,
            frame_height: r.parse(4, "a whole number")?,
            frame_width: r.parse(5, "a whole number")?,
            fps: r.parse(6, "a whole number")?,
            number_of_frames: r.parse(7, "a whole number")?,
            split,
            line: r.line,
        })
    })
}

/// Parse `VolumeTracings.csv` into the rows of each video (keyed without `.avi`).
pub fn read_volume_tracings(path: &Path) -> Result<BTreeMap<String, Vec<TracingRow>>, DataError> {
    Ok(by_video(tracing_records(path)?.all()?))
}

fn tracing_records(path: &Path) -> Result<Records<(String, TracingRow)>, DataError> {
    read_records(path, &VOLUME_TRACINGS_HEADER, |r| {
        let row = TracingRow {
            x1: r.f64(1)?,
            y1: r.f64(2)?,
            x2: r.f64(3)?,
            y2: r.f64(4)?,
            frame: r.parse(5, "a whole frame number")?,
        };
        Ok((r.file_name(0)?, row))
    })
}

fn by_video(rows: Vec<(String, TracingRow)>) -> BTreeMap<String, Vec<TracingRow>> {
    let mut out: BTreeMap<String, Vec<TracingRow>> = BTreeMap::new();
    for (name, row) in rows {
        out.entry(name).or_default().push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::data::labels::{LabelRule, label_videos};
    use crate::data::synth::{SynthConfig, generate};

    fn dataset(videos: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = SynthConfig {
            videos,
            seed: 8,
            frame_size: 32,
            min_frames: 16,
            max_frames: 24,
            ..SynthConfig::default()
        };
        generate(&cfg, dir.path()).expect("generate");
        dir
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).expect("write");
    }

    const HEADER: &str = "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n";

    #[test]
    fn file_list_parses_typed_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("FileList.csv");
        write(
            &path,
            &format!(
                "{HEADER}0X100009310A3BD7FC,78.49840597,14.88136797,69.21053366,112,112,50,174,VAL\n\
                 0X1002E8FBACD08477.avi,,,,112,112,50,215,train\n\
                 0X1005D03EED19C65B,NaN,1,2,768,1024,18,28,TEST\n"
            ),
        );
        let rows = read_file_list(&path).expect("parse");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].file_name, "0X100009310A3BD7FC");
        assert_eq!(rows[0].ef, Some(78.49840597));
        assert_eq!(
            (rows[0].fps, rows[0].number_of_frames, rows[0].split, rows[0].line),
            (50, 174, Split::Val, 2)
        );
        assert_eq!(
            (rows[1].file_name.as_str(), rows[1].ef, rows[1].split),
            ("0X1002E8FBACD08477", None, Split::Train)
        );
        assert_eq!((rows[2].ef, rows[2].frame_width, rows[2].frame_height), (None, 1024, 768));
    }

    #[test]
    fn csv_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("FileList.csv");
        let cases = [
            (
                "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,Frames,Split\n",
                "line 1, column header",
            ),
            (
                &format!(
                    "{HEADER}0XAA,50,1,2,112,112,50,100,TRAIN\n0XAB,50,1,2,112,112,fifty,100,TRAIN\n"
                ),
                "line 3, column FPS",
            ),
            (
                &format!(
                    "{HEADER}0XAA,50,1,2,112,112,50,100,TRAIN\n0XAB,50,1,2,112,112,50,100,HOLDOUT\n"
                ),
                "line 3, column Split",
            ),
            (&format!("{HEADER}0XAA,inf,1,2,112,112,50,100,TRAIN\n"), "line 2, column EF"),
            (&format!("{HEADER}0XAA,50,1,2,112,-1,50,100,TRAIN\n"), "line 2, column FrameWidth"),
            (&format!("{HEADER}0XAA,50,1,2,112,112,50\n"), "line 2"),
        ];
        for (text, want) in cases {
            write(&path, text);
            let e = read_file_list(&path).expect_err(want).to_string();
            assert!(e.contains(want) && e.contains("FileList.csv"), "{e} (want {want})");
        }
        let tracings = dir.path().join("VolumeTracings.csv");
        write(&tracings, "FileName,X1,Y1,X2,Y2,Frame\n0XAA.avi,1,2,3,4,46\n0XAA.avi,1,x,3,4,46\n");
        let e = read_volume_tracings(&tracings).expect_err("bad Y1").to_string();
        assert!(e.contains("line 3, column Y1") && e.contains("VolumeTracings.csv"), "{e}");
    }

    #[test]
    fn cross_check_reports_and_skips_bad_videos() {
        let dir = dataset(6);
        let root = dir.path();
        let rows = read_file_list(&root.join("FileList.csv")).expect("rows");
        let video = |i: usize| root.join("Videos").join(format!("{}.avi", rows[i].file_name));
        fs::remove_file(video(0)).expect("remove");
        fs::write(video(1), b"RIFF garbage").expect("corrupt");
        fs::copy(video(2), root.join("Videos/0XDEADBEEFDEADBEEF.avi")).expect("copy");
        let mut text = fs::read_to_string(root.join("FileList.csv")).expect("read");
        let wrong = format!(",{},{}", rows[3].number_of_frames, rows[3].split.as_str());
        let line =
            text.lines().find(|l| l.starts_with(&rows[3].file_name)).expect("row").to_owned();
        text =
            text.replace(&line, &line.replace(&wrong, &format!(",999,{}", rows[3].split.as_str())));
        let dup = text.lines().nth(5).expect("row 5").to_owned();
        text.push_str(&format!("{dup}\n"));
        fs::write(root.join("FileList.csv"), text).expect("write");

        let skip = ScanOptions { on_bad_video: OnBadVideo::Skip, ..ScanOptions::default() };
        let data = scan_echonet(root, skip).expect("skip policy");
        let r = &data.report;
        assert_eq!((r.file_list_rows, r.video_files, r.usable_videos), (7, 6, 4), "{r}");
        assert_eq!(r.missing_video.examples, vec![rows[0].file_name.clone()]);
        assert_eq!(r.unreadable_video.examples, vec![rows[1].file_name.clone()]);
        assert_eq!(r.unlisted_video.examples, vec!["0XDEADBEEFDEADBEEF.avi".to_owned()]);
        assert_eq!(r.frame_count_mismatch.count, 1);
        assert_eq!(r.duplicate_row.count, 1);
        assert_eq!(r.skipped.len(), 2);
        assert!(r.skipped[1].reason.contains(&rows[1].file_name), "{:?}", r.skipped);
        let shown = r.to_string();
        assert!(
            shown.contains("missing video (skipped): 1") && shown.contains("0XDEADBEEFDEADBEEF"),
            "{shown}"
        );
        let json = serde_json::to_value(r).expect("json");
        assert_eq!(json["unreadable_video"]["count"], 1);
        assert_eq!(
            data.videos.iter().find(|v| v.row.file_name == rows[3].file_name).map(|v| v.frames),
            Some(rows[3].number_of_frames as usize)
        );

        let strict = ScanOptions { on_bad_video: OnBadVideo::Error, decode_all_frames: false };
        let e = scan_echonet(root, strict).expect_err("error policy").to_string();
        assert!(e.contains(&rows[0].file_name) && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn inspection_reads_past_what_a_scan_stops_at() {
        let dir = dataset(5);
        let root = dir.path();
        let rows = read_file_list(&root.join("FileList.csv")).expect("rows");
        fs::remove_file(root.join("Videos").join(format!("{}.avi", rows[4].file_name)))
            .expect("remove");
        let path = root.join("FileList.csv");
        let text = fs::read_to_string(&path).expect("read");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let fields: Vec<&str> = lines[2].split(',').collect();
        lines[2] = format!("{},HOLDOUT", fields[..8].join(","));
        lines[4] = lines[4].split(',').take(5).collect::<Vec<_>>().join(",");
        fs::write(&path, lines.join("\n") + "\n").expect("write");
        let tracings = root.join("VolumeTracings.csv");
        let text = fs::read_to_string(&tracings).expect("read") + "0XAA.avi,1,x,3,4,46\n";
        fs::write(&tracings, text).expect("write");

        for policy in [OnBadVideo::Error, OnBadVideo::Skip] {
            let options = ScanOptions { on_bad_video: policy, decode_all_frames: false };
            let e = scan_echonet(root, options).expect_err("bad records").to_string();
            assert!(e.contains("line 3, column Split"), "{e}");
        }
        let found = inspect_echonet(root).expect("inspect");
        let bad: Vec<String> = found.bad_records.iter().map(ToString::to_string).collect();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("FileList.csv: line 3, column Split"), "{bad:?}");
        assert!(bad[1].contains("FileList.csv: line 5") && bad[1].contains("found 5"), "{bad:?}");
        assert!(bad[2].contains("VolumeTracings.csv") && bad[2].contains("column Y1"), "{bad:?}");
        assert_eq!(found.bad_videos.len(), 1);
        assert!(found.bad_videos[0].to_string().contains(&rows[4].file_name));
        let r = &found.dataset.report;
        assert_eq!((r.file_list_rows, r.usable_videos, r.unreadable_record.count), (5, 2, 3));
        assert_eq!(r.unreadable_record.examples[0], "FileList.csv line 3");
        let shown = r.with_policy(OnBadVideo::Error).to_string();
        assert!(
            shown.contains("unreadable CSV record (stops a run): 3")
                && shown.contains("missing video (stops a run): 1"),
            "{shown}"
        );
        // A scan's report, as a run stores it, has no such key (a scan stops at the record).
        let json = |r: &DataReport| serde_json::to_value(r).expect("json");
        assert_eq!(json(r)["unreadable_record"]["count"], 3);
        assert!(json(&DataReport::default()).get("unreadable_record").is_none());
    }

    #[test]
    fn decode_check_catches_corrupt_frames() {
        let dir = dataset(3);
        let root = dir.path();
        let rows = read_file_list(&root.join("FileList.csv")).expect("rows");
        let path = root.join("Videos").join(format!("{}.avi", rows[2].file_name));
        let mut bytes = fs::read(&path).expect("read");
        // The first `00dc` is frame 0's chunk (the index entries come after the frames).
        let first = bytes.windows(4).position(|w| w == b"00dc").expect("frame chunk") + 8;
        bytes[first..first + 64].fill(0x33);
        fs::write(&path, bytes).expect("write");
        let headers_only = scan_echonet(root, ScanOptions::default()).expect("scan");
        assert_eq!(headers_only.report.usable_videos, 3);
        let deep = scan_echonet(
            root,
            ScanOptions { decode_all_frames: true, on_bad_video: OnBadVideo::Skip },
        )
        .expect("scan");
        assert_eq!(deep.report.usable_videos, 2);
        assert!(deep.report.skipped[0].reason.contains("frame"), "{:?}", deep.report.skipped);
    }

    #[test]
    fn missing_ef_is_an_error_or_a_counted_skip() {
        let dir = dataset(4);
        let root = dir.path();
        let path = root.join("FileList.csv");
        let text = fs::read_to_string(&path).expect("read");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut fields: Vec<String> = lines[2].split(',').map(str::to_owned).collect();
        fields[1] = "nan".into();
        let name = fields[0].clone();
        lines[2] = fields.join(",");
        fs::write(&path, lines.join("\n") + "\n").expect("write");

        let data = scan_echonet(root, ScanOptions::default()).expect("scan");
        assert_eq!(data.report.missing_ef.examples, vec![name.clone()]);
        let (labelled, report) =
            label_videos(data.videos.clone(), &LabelRule::default(), OnBadVideo::Skip)
                .expect("skip");
        assert_eq!((labelled.len(), report.skipped_missing_ef.clone()), (3, vec![name.clone()]));
        assert_eq!(report.normal + report.abnormal, 3);
        let e = label_videos(data.videos, &LabelRule::default(), OnBadVideo::Error)
            .expect_err("error")
            .to_string();
        assert!(e.contains(&name) && e.contains("line 3"), "{e}");
    }

    #[test]
    fn on_bad_video_serde() {
        assert_eq!(serde_json::to_string(&OnBadVideo::Skip).expect("json"), "\"skip\"");
        assert_eq!(
            serde_json::from_str::<OnBadVideo>("\"error\"").expect("json"),
            OnBadVideo::Error
        );
        assert!(serde_json::from_str::<OnBadVideo>("\"Skip\"").is_err());
    }
}
