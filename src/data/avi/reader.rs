//! RIFF/AVI reader: walks `RIFF AVI ` → `LIST hdrl` (`avih`, `strl`/`strh`/`strf`) →
//! `LIST movi` (`##dc`/`##db` chunks, also inside `LIST rec `) and `idx1`, builds the offset
//! of every frame of the first video stream, and decodes only the frames asked for.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::GreyFrame;
use super::jpeg::decode_grey;
use crate::data::error::DataError;
use crate::io_retry;

/// Larger frames are refused: no echocardiogram is this big, and a corrupt header must not
/// make the decoder allocate gigabytes.
const MAX_SIDE: u32 = 8192;
/// `LIST hdrl` is read whole; real ones are a few kilobytes.
const MAX_HEADER_LIST: u32 = 1 << 20;
const IDX1_ENTRY_SIZE: usize = 16;

/// An opened MJPEG AVI: its header facts and the location of each frame, with no frame
/// decoded yet.
#[derive(Debug, Clone)]
pub struct AviFile {
    path: PathBuf,
    source: Source,
    width: u32,
    height: u32,
    fps: f64,
    chunk_ids: [[u8; 4]; 2],
    frames: Vec<FrameLoc>,
}

#[derive(Debug, Clone)]
enum Source {
    File,
    Memory(Arc<[u8]>),
}

/// Where a frame's chunk header starts and how many data bytes follow it.
#[derive(Debug, Clone, Copy)]
struct FrameLoc {
    header: u64,
    size: u32,
}

impl AviFile {
    /// Open an AVI file and index its frames (reads headers and index, not the frames).
    pub fn open(path: impl AsRef<Path>) -> Result<AviFile, DataError> {
        let path = path.as_ref().to_path_buf();
        let mut file = io_retry::open(&path).map_err(|e| DataError::io(&path, e))?;
        let len = file.metadata().map_err(|e| DataError::io(&path, e))?.len();
        let mut input = Input { src: InputSrc::File(&mut file), len, path: &path };
        let parsed = parse(&mut input)?;
        Ok(parsed.into_avi(path, Source::File))
    }

    /// An AVI held in memory; `name` stands for the path in error messages.
    pub fn from_bytes(
        name: impl Into<PathBuf>,
        bytes: impl Into<Arc<[u8]>>,
    ) -> Result<AviFile, DataError> {
        let path = name.into();
        let bytes: Arc<[u8]> = bytes.into();
        let mut input =
            Input { src: InputSrc::Memory(&bytes), len: bytes.len() as u64, path: &path };
        let parsed = parse(&mut input)?;
        Ok(parsed.into_avi(path, Source::Memory(bytes)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frame width in pixels, from the stream format (`strf`).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels, from the stream format (`strf`).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Frames per second, `dwRate / dwScale` of the stream header (or `avih`'s frame period).
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Number of frames found in the file (index or `movi` walk), not the header's claim.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Decode the frames at `indices` (in that order; repeats are decoded once).
    pub fn read_frames(&self, indices: &[usize]) -> Result<Vec<GreyFrame>, DataError> {
        if let Some(&index) = indices.iter().find(|&&i| i >= self.frames.len()) {
            return Err(DataError::FrameOutOfRange {
                path: self.path.clone(),
                index,
                count: self.frames.len(),
            });
        }
        let mut file = match self.source {
            Source::File => {
                Some(io_retry::open(&self.path).map_err(|e| DataError::io(&self.path, e))?)
            }
            Source::Memory(_) => None,
        };
        let mut buf = Vec::new();
        let mut out: Vec<GreyFrame> = Vec::with_capacity(indices.len());
        let mut decoded: HashMap<usize, usize> = HashMap::new();
        for &index in indices {
            if let Some(&at) = decoded.get(&index) {
                let frame = out[at].clone();
                out.push(frame);
                continue;
            }
            let data = self.chunk_data(index, file.as_mut(), &mut buf)?;
            let pixels = decode_grey(data, self.width, self.height).map_err(|detail| {
                DataError::CorruptFrame { path: self.path.clone(), frame: index, detail }
            })?;
            decoded.insert(index, out.len());
            out.push(GreyFrame { width: self.width, height: self.height, pixels });
        }
        Ok(out)
    }

    /// Decode every frame.
    pub fn read_all_frames(&self) -> Result<Vec<GreyFrame>, DataError> {
        let all: Vec<usize> = (0..self.frames.len()).collect();
        self.read_frames(&all)
    }

    /// The bytes of frame `index`'s chunk, after checking its header against the index.
    fn chunk_data<'a>(
        &'a self,
        index: usize,
        file: Option<&mut File>,
        buf: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], DataError> {
        let loc = self.frames[index];
        let corrupt = |detail: String| DataError::CorruptFrame {
            path: self.path.clone(),
            frame: index,
            detail,
        };
        let total = 8 + loc.size as usize;
        let chunk: &[u8] = match (&self.source, file) {
            (Source::Memory(bytes), _) => {
                let start = loc.header as usize;
                bytes
                    .get(start..start + total)
                    .ok_or_else(|| corrupt("chunk runs past the end of the data".into()))?
            }
            (Source::File, Some(file)) => {
                buf.resize(total, 0);
                file.seek(SeekFrom::Start(loc.header))
                    .and_then(|_| file.read_exact(buf))
                    .map_err(|e| DataError::io(&self.path, e))?;
                buf
            }
            (Source::File, None) => return Err(corrupt("file not open".into())),
        };
        let (id, size) = chunk_header(chunk);
        if !self.chunk_ids.contains(&id) || size != loc.size {
            return Err(corrupt(format!(
                "index points at chunk {} of {size} bytes, expected a video chunk of {} bytes",
                fourcc_name(id),
                loc.size
            )));
        }
        Ok(&chunk[8..])
    }
}

/// What parsing found, before it is tied to a source.
struct Parsed {
    width: u32,
    height: u32,
    fps: f64,
    chunk_ids: [[u8; 4]; 2],
    frames: Vec<FrameLoc>,
}

impl Parsed {
    fn into_avi(self, path: PathBuf, source: Source) -> AviFile {
        AviFile {
            path,
            source,
            width: self.width,
            height: self.height,
            fps: self.fps,
            chunk_ids: self.chunk_ids,
            frames: self.frames,
        }
    }
}

enum InputSrc<'a> {
    File(&'a mut File),
    Memory(&'a [u8]),
}

/// Random-access reads with errors that name the file.
struct Input<'a> {
    src: InputSrc<'a>,
    len: u64,
    path: &'a Path,
}

impl Input<'_> {
    fn truncated(&self, detail: String) -> DataError {
        DataError::Truncated { path: self.path.to_path_buf(), detail }
    }

    fn malformed(&self, detail: String) -> DataError {
        DataError::Malformed { path: self.path.to_path_buf(), detail }
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), DataError> {
        let end = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(self.truncated(format!(
                "needs {} bytes at offset {offset}, the file has {}",
                buf.len(),
                self.len
            )));
        }
        match &mut self.src {
            InputSrc::Memory(bytes) => {
                let start = offset as usize;
                buf.copy_from_slice(&bytes[start..start + buf.len()]);
                Ok(())
            }
            InputSrc::File(file) => file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(buf))
                .map_err(|e| DataError::io(self.path, e)),
        }
    }

    fn read_vec(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, DataError> {
        let mut buf = vec![0u8; len as usize];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Chunk id and size at `offset`.
    fn header(&mut self, offset: u64) -> Result<([u8; 4], u32), DataError> {
        let mut h = [0u8; 8];
        self.read_at(offset, &mut h)?;
        Ok(chunk_header(&h))
    }
}

fn chunk_header(bytes: &[u8]) -> ([u8; 4], u32) {
    let mut id = [0u8; 4];
    id.copy_from_slice(&bytes[..4]);
    (id, le_u32(bytes, 4))
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A FourCC for messages: `'MJPG'` when printable, else its hex bytes.
pub(crate) fn fourcc_name(id: [u8; 4]) -> String {
    if id.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("'{}'", String::from_utf8_lossy(&id))
    } else {
        format!("0x{:02X}{:02X}{:02X}{:02X}", id[0], id[1], id[2], id[3])
    }
}

/// A chunk's id and data.
type Chunk<'b> = ([u8; 4], &'b [u8]);

/// Sub-chunks of an in-memory chunk list (`hdrl`, `strl`).
fn sub_chunks<'b>(input: &Input<'_>, mut data: &'b [u8]) -> Result<Vec<Chunk<'b>>, DataError> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let (id, size) = chunk_header(data);
        let body = data.get(8..8 + size as usize).ok_or_else(|| {
            input.malformed(format!("header chunk {} overruns its list", fourcc_name(id)))
        })?;
        out.push((id, body));
        let next = (8 + size as usize + (size as usize & 1)).min(data.len());
        data = &data[next..];
    }
    Ok(out)
}

struct VideoStream {
    width: u32,
    height: u32,
    fps: Option<f64>,
    chunk_ids: [[u8; 4]; 2],
}

fn parse(input: &mut Input<'_>) -> Result<Parsed, DataError> {
    let mut riff = [0u8; 12];
    if input.len < 12 {
        let mut head = vec![0u8; input.len as usize];
        input.read_at(0, &mut head)?;
        return Err(if b"RIFF".starts_with(&head[..head.len().min(4)]) && !head.is_empty() {
            input.truncated(format!("only {} bytes", input.len))
        } else {
            DataError::NotAvi {
                path: input.path.to_path_buf(),
                detail: "shorter than a RIFF header".into(),
            }
        });
    }
    input.read_at(0, &mut riff)?;
    if &riff[..4] != b"RIFF" || &riff[8..12] != b"AVI " {
        return Err(DataError::NotAvi {
            path: input.path.to_path_buf(),
            detail: format!(
                "starts with {} … {}",
                fourcc_name(first4(&riff[..4])),
                fourcc_name(first4(&riff[8..12]))
            ),
        });
    }
    let riff_end = 8 + u64::from(le_u32(&riff, 4));
    if riff_end > input.len {
        return Err(input.truncated(format!(
            "the RIFF header declares {riff_end} bytes, the file has {}",
            input.len
        )));
    }

    let mut stream: Option<VideoStream> = None;
    let mut avih_fps = None;
    let mut movi: Option<(u64, u64)> = None;
    let mut idx1: Option<(u64, u32)> = None;
    let mut pos = 12u64;
    while pos + 8 <= riff_end {
        let (id, size) = input.header(pos)?;
        let data = pos + 8;
        let end = data + u64::from(size);
        if end > riff_end {
            return Err(input.truncated(format!(
                "chunk {} at offset {pos} declares {size} bytes, past the end of the RIFF data ({riff_end})",
                fourcc_name(id)
            )));
        }
        if &id == b"LIST" && size >= 4 {
            let mut kind = [0u8; 4];
            input.read_at(data, &mut kind)?;
            match &kind {
                b"hdrl" => {
                    if size > MAX_HEADER_LIST {
                        return Err(input.malformed(format!("header list of {size} bytes")));
                    }
                    let hdrl = input.read_vec(data + 4, size - 4)?;
                    let (s, fps) = parse_hdrl(input, &hdrl)?;
                    stream = Some(s);
                    avih_fps = fps;
                }
                b"movi" => movi = Some((data, end)),
                _ => {}
            }
        } else if &id == b"idx1" {
            idx1 = Some((data, size));
        }
        pos = end + u64::from(size & 1);
    }

    let stream =
        stream.ok_or_else(|| input.malformed("no 'hdrl' list with a video stream".into()))?;
    let fps = stream
        .fps
        .or(avih_fps)
        .ok_or_else(|| input.malformed("no frame rate in the stream header or avih".into()))?;
    let (movi_pos, movi_end) = movi.ok_or_else(|| input.malformed("no 'movi' list".into()))?;

    let mut frames = match idx1 {
        Some((at, size)) => frames_from_idx1(input, at, size, movi_pos, &stream.chunk_ids)?,
        None => None,
    };
    if frames.is_none() {
        let mut found = Vec::new();
        walk_movi(input, movi_pos + 4, movi_end, &stream.chunk_ids, &mut found, 0)?;
        frames = Some(found);
    }
    let frames = resolve_empty_frames(frames.unwrap_or_default());
    if frames.is_empty() {
        return Err(DataError::NoFrames { path: input.path.to_path_buf() });
    }
    Ok(Parsed {
        width: stream.width,
        height: stream.height,
        fps,
        chunk_ids: stream.chunk_ids,
        frames,
    })
}

fn first4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

/// The first video stream of `LIST hdrl`, and the frame rate implied by `avih`.
fn parse_hdrl(input: &Input<'_>, hdrl: &[u8]) -> Result<(VideoStream, Option<f64>), DataError> {
    let mut avih_fps = None;
    let mut stream_no = 0usize;
    for (id, body) in sub_chunks(input, hdrl)? {
        if &id == b"avih" && body.len() >= 4 {
            let usec = le_u32(body, 0);
            avih_fps = (usec > 0).then(|| 1e6 / f64::from(usec));
        }
        if &id != b"LIST" || body.len() < 4 || &body[..4] != b"strl" {
            continue;
        }
        let mut strh = None;
        let mut strf = None;
        for (sid, sbody) in sub_chunks(input, &body[4..])? {
            match &sid {
                b"strh" => strh = Some(sbody),
                b"strf" => strf = Some(sbody),
                _ => {}
            }
        }
        let strh =
            strh.ok_or_else(|| input.malformed(format!("stream {stream_no} has no 'strh'")))?;
        if strh.len() < 48 {
            return Err(
                input.malformed(format!("stream {stream_no}: 'strh' of {} bytes", strh.len()))
            );
        }
        if &strh[..4] != b"vids" {
            stream_no += 1;
            continue;
        }
        let strf = strf.filter(|f| f.len() >= 40).ok_or_else(|| {
            input.malformed(format!("video stream {stream_no} has no BITMAPINFOHEADER 'strf'"))
        })?;
        let compression = first4(&strf[16..20]);
        let is_mjpeg = [b"MJPG", b"JPEG"].iter().any(|c| compression.eq_ignore_ascii_case(*c));
        if !is_mjpeg {
            let fourcc = if compression == [0; 4] {
                "BI_RGB (uncompressed)".to_owned()
            } else {
                fourcc_name(compression)
            };
            return Err(DataError::UnsupportedCodec { path: input.path.to_path_buf(), fourcc });
        }
        let width = i32::from_le_bytes(first4(&strf[4..8])).unsigned_abs();
        let height = i32::from_le_bytes(first4(&strf[8..12])).unsigned_abs();
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(input.malformed(format!("frame size {width}×{height}")));
        }
        let scale = le_u32(strh, 20);
        let rate = le_u32(strh, 24);
        let fps = (scale > 0 && rate > 0).then(|| f64::from(rate) / f64::from(scale));
        let n = stream_no % 100;
        let ids = [
            [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8, b'd', b'c'],
            [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8, b'd', b'b'],
        ];
        return Ok((VideoStream { width, height, fps, chunk_ids: ids }, avih_fps));
    }
    Err(input.malformed("no video ('vids') stream".into()))
}

/// Frames from `idx1`, or `None` when the index lists no frame of the stream or its offsets
/// fit neither convention (relative to `movi`, or absolute): the caller walks `movi` instead.
fn frames_from_idx1(
    input: &mut Input<'_>,
    at: u64,
    size: u32,
    movi_pos: u64,
    ids: &[[u8; 4]; 2],
) -> Result<Option<Vec<FrameLoc>>, DataError> {
    let idx = input.read_vec(at, size)?;
    let entries: Vec<([u8; 4], u64, u32)> = idx
        .chunks_exact(IDX1_ENTRY_SIZE)
        .map(|e| (first4(e), u64::from(le_u32(e, 8)), le_u32(e, 12)))
        .filter(|(id, _, _)| ids.contains(id))
        .collect();
    let Some(&(first_id, first_off, _)) = entries.first() else {
        return Ok(None);
    };
    let mut base = None;
    for candidate in [movi_pos, 0] {
        let header = candidate + first_off;
        if header + 8 <= input.len && input.header(header)?.0 == first_id {
            base = Some(candidate);
            break;
        }
    }
    let Some(base) = base else {
        return Ok(None);
    };
    let mut frames = Vec::with_capacity(entries.len());
    for (id, off, size) in entries {
        let header = base + off;
        if header + 8 + u64::from(size) > input.len {
            return Err(input.truncated(format!(
                "index entry {} at offset {header} with {size} bytes runs past the end of the file",
                fourcc_name(id)
            )));
        }
        frames.push(FrameLoc { header, size });
    }
    Ok(Some(frames))
}

/// Frame chunks of `movi` in file order, descending into `LIST rec `.
fn walk_movi(
    input: &mut Input<'_>,
    mut pos: u64,
    end: u64,
    ids: &[[u8; 4]; 2],
    out: &mut Vec<FrameLoc>,
    depth: u32,
) -> Result<(), DataError> {
    if depth > 4 {
        return Err(input.malformed("LIST nesting too deep in 'movi'".into()));
    }
    while pos + 8 <= end {
        let (id, size) = input.header(pos)?;
        let data_end = pos + 8 + u64::from(size);
        if data_end > end {
            return Err(input.truncated(format!(
                "chunk {} at offset {pos} with {size} bytes runs past the end of 'movi'",
                fourcc_name(id)
            )));
        }
        if &id == b"LIST" && size >= 4 {
            walk_movi(input, pos + 12, data_end, ids, out, depth + 1)?;
        } else if ids.contains(&id) {
            out.push(FrameLoc { header: pos, size });
        }
        pos = data_end + u64::from(size & 1);
    }
    Ok(())
}

/// A zero-size chunk is a dropped frame: players show the previous frame again, so it points
/// at the previous non-empty chunk. Empty chunks before any picture have nothing to repeat
/// and are left out.
fn resolve_empty_frames(frames: Vec<FrameLoc>) -> Vec<FrameLoc> {
    let mut out = Vec::with_capacity(frames.len());
    let mut last = None;
    for loc in frames {
        if loc.size > 0 {
            last = Some(loc);
        }
        if let Some(shown) = last {
            out.push(shown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::data::avi::writer::{assemble_avi, encode_mjpeg_avi};
    use crate::data::avi::{AviWriteOptions, write_mjpeg_avi};

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data/avi/fixtures")
    }

    /// Frames with structure (gradient, moving disc) and noise, like the OpenCV fixtures.
    fn test_frames(w: u32, h: u32, n: usize, seed: u64) -> Vec<GreyFrame> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|t| {
                let cx = w as f64 * (0.3 + 0.4 * t as f64 / n as f64);
                let pixels = (0..h)
                    .flat_map(|y| (0..w).map(move |x| (x, y)))
                    .map(|(x, y)| {
                        let (fx, fy) = (f64::from(x), f64::from(y));
                        let inside = ((fx - cx) / (0.2 * f64::from(w))).powi(2)
                            + ((fy - f64::from(h) / 2.0) / (0.3 * f64::from(h))).powi(2)
                            <= 1.0;
                        let base = if inside {
                            25.0
                        } else {
                            40.0 + 150.0 * fx / f64::from(w) + 40.0 * fy / f64::from(h)
                        };
                        (base + rng.random_range(-5.0..5.0)).clamp(0.0, 255.0) as u8
                    })
                    .collect();
                GreyFrame::new(w, h, pixels).expect("size")
            })
            .collect()
    }

    fn jpegs(frames: &[GreyFrame]) -> Vec<Vec<u8>> {
        frames
            .iter()
            .map(|f| {
                let rgb: Vec<u8> = f.pixels().iter().flat_map(|&p| [p, p, p]).collect();
                let mut jpeg = Vec::new();
                jpeg_encoder::Encoder::new(&mut jpeg, 92)
                    .encode(&rgb, f.width() as u16, f.height() as u16, jpeg_encoder::ColorType::Rgb)
                    .expect("encode");
                jpeg
            })
            .collect()
    }

    /// Reads a `.grey` fixture: header `GREY w h frames i,j,k` then the frames' bytes.
    fn read_grey(path: &Path) -> (u32, u32, usize, Vec<usize>, Vec<u8>) {
        let bytes = std::fs::read(path).expect("fixture");
        let nl = bytes.iter().position(|&b| b == b'\n').expect("header line");
        let header = std::str::from_utf8(&bytes[..nl]).expect("ascii header");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts[0], "GREY");
        let indices = parts[4].split(',').map(|s| s.parse().expect("index")).collect();
        (
            parts[1].parse().expect("w"),
            parts[2].parse().expect("h"),
            parts[3].parse().expect("n"),
            indices,
            bytes[nl + 1..].to_vec(),
        )
    }

    #[test]
    fn opencv_fixtures_decode_within_2_grey_levels_of_opencv() {
        for (name, fps) in
            [("opencv_112x112", 50.0), ("opencv_96x80", 30.0), ("opencv_64x48_q60", 25.0)]
        {
            let avi = AviFile::open(fixtures().join(format!("{name}.avi"))).expect("open fixture");
            let (w, h, n, indices, reference) = read_grey(&fixtures().join(format!("{name}.grey")));
            assert_eq!((avi.width(), avi.height(), avi.frame_count()), (w, h, n), "{name}");
            assert!((avi.fps() - fps).abs() < 1e-6, "{name}: fps {}", avi.fps());
            let frames = avi.read_frames(&indices).expect("decode");
            let ours: Vec<u8> = frames.into_iter().flat_map(GreyFrame::into_pixels).collect();
            assert_eq!(ours.len(), reference.len());
            let max = ours.iter().zip(&reference).map(|(&a, &b)| a.abs_diff(b)).max().unwrap_or(0);
            println!("{name}: max difference from OpenCV {max}");
            assert!(max <= 2, "{name}: max difference from OpenCV {max}");
        }
    }

    #[test]
    fn writer_round_trip_from_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clip.avi");
        let frames = test_frames(112, 112, 9, 1);
        write_mjpeg_avi(&path, &frames, &AviWriteOptions { fps: 50, quality: 95 }).expect("write");
        let avi = AviFile::open(&path).expect("open");
        assert_eq!((avi.width(), avi.height(), avi.frame_count(), avi.fps()), (112, 112, 9, 50.0));
        let back = avi.read_all_frames().expect("read");
        let mut sum = 0u64;
        let mut max = 0u8;
        for (a, b) in frames.iter().zip(&back) {
            for (&p, &q) in a.pixels().iter().zip(b.pixels()) {
                sum += u64::from(p.abs_diff(q));
                max = max.max(p.abs_diff(q));
            }
        }
        let mean = sum as f64 / (9.0 * 112.0 * 112.0);
        assert!(mean < 1.5 && max <= 16, "mean {mean}, max {max}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "no temporary file left");
    }

    #[test]
    fn read_frames_decodes_the_requested_frames_in_order() {
        let frames = test_frames(48, 32, 7, 2);
        let bytes = encode_mjpeg_avi(&frames, &AviWriteOptions::default()).expect("encode");
        let avi = AviFile::from_bytes("mem.avi", bytes).expect("open");
        let all = avi.read_all_frames().expect("all");
        let some = avi.read_frames(&[5, 1, 5, 0]).expect("some");
        assert_eq!(some, vec![all[5].clone(), all[1].clone(), all[5].clone(), all[0].clone()]);
        let err = avi.read_frames(&[7]).expect_err("out of range");
        assert!(matches!(err, DataError::FrameOutOfRange { index: 7, count: 7, .. }));
    }

    /// `bytes` without its trailing `idx1` chunk (RIFF size fixed up).
    fn without_idx1(bytes: &[u8], frames: usize) -> Vec<u8> {
        let mut out = bytes[..bytes.len() - 8 - 16 * frames].to_vec();
        let riff = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&riff.to_le_bytes());
        out
    }

    #[test]
    fn movi_walk_without_index_and_rec_lists_and_empty_frames() {
        let frames = test_frames(32, 32, 5, 3);
        let encoded = jpegs(&frames);
        let bytes = assemble_avi(&encoded, 32, 32, 25).expect("assemble");
        let indexed = AviFile::from_bytes("indexed.avi", bytes.clone())
            .expect("indexed")
            .read_all_frames()
            .expect("read");

        let walked = AviFile::from_bytes("walked.avi", without_idx1(&bytes, 5)).expect("walk");
        assert_eq!(walked.read_all_frames().expect("read"), indexed);

        // Frames 1–2 inside a `LIST rec ` group, no index.
        let mut movi = Vec::new();
        let chunk = |out: &mut Vec<u8>, id: &[u8; 4], data: &[u8]| {
            out.extend_from_slice(id);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(0);
            }
        };
        chunk(&mut movi, b"00dc", &encoded[0]);
        let mut rec = b"rec ".to_vec();
        chunk(&mut rec, b"00dc", &encoded[1]);
        chunk(&mut rec, b"01wb", b"audio");
        chunk(&mut rec, b"00dc", &encoded[2]);
        chunk(&mut movi, b"LIST", &rec);
        chunk(&mut movi, b"JUNK", &[0; 7]);
        chunk(&mut movi, b"00dc", &[]); // dropped frame: shows frame 2 again
        chunk(&mut movi, b"00db", &encoded[3]);
        let head = without_idx1(&bytes, 5);
        let movi_at = head.windows(4).position(|w| w == b"movi").expect("movi") - 8;
        let mut custom = head[..movi_at].to_vec();
        let mut list = b"movi".to_vec();
        list.extend_from_slice(&movi);
        chunk(&mut custom, b"LIST", &list);
        let riff = (custom.len() - 8) as u32;
        custom[4..8].copy_from_slice(&riff.to_le_bytes());
        let avi = AviFile::from_bytes("rec.avi", custom).expect("rec");
        assert_eq!(avi.frame_count(), 5);
        let got = avi.read_all_frames().expect("read");
        let want = [0, 1, 2, 2, 3].map(|i| indexed[i].clone());
        assert_eq!(got, want);
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let frames = test_frames(32, 32, 3, 4);
        let good = encode_mjpeg_avi(&frames, &AviWriteOptions::default()).expect("encode");
        let open = |bytes: Vec<u8>| AviFile::from_bytes("/data/x.avi", bytes);

        let e = open(b"\x00\x00\x00\x18ftypmp42 not an avi".to_vec()).expect_err("mp4");
        assert!(
            matches!(e, DataError::NotAvi { .. }) && e.to_string().contains("/data/x.avi"),
            "{e}"
        );

        let e = open(good[..good.len() - 100].to_vec()).expect_err("truncated");
        assert!(
            matches!(e, DataError::Truncated { .. }) && e.to_string().contains("/data/x.avi"),
            "{e}"
        );

        let mut h264 = good.clone();
        let at = h264.windows(4).rposition(|w| w == b"MJPG").expect("strf fourcc");
        h264[at..at + 4].copy_from_slice(b"H264");
        let e = open(h264).expect_err("codec");
        assert!(e.to_string().contains("'H264'") && e.to_string().contains("/data/x.avi"), "{e}");

        let empty = assemble_avi(&[], 32, 32, 50).expect("assemble");
        let e = open(empty).expect_err("no frames");
        assert!(matches!(e, DataError::NoFrames { .. }), "{e}");

        let mut corrupt = good.clone();
        let first = corrupt.windows(4).position(|w| w == b"00dc").expect("frame") + 8;
        corrupt[first..first + 40].fill(0x55);
        let avi = open(corrupt).expect("headers are fine");
        let e = avi.read_frames(&[0]).expect_err("corrupt frame");
        assert!(
            matches!(e, DataError::CorruptFrame { frame: 0, .. })
                && e.to_string().contains("/data/x.avi"),
            "{e}"
        );
        assert!(avi.read_frames(&[1, 2]).is_ok(), "other frames still decode");

        let e = AviFile::open("/nonexistent/y.avi").expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/y.avi"), "{e}");
    }

    /// Random bytes, every kind of truncation and random corruption of a valid AVI: the reader
    /// answers Ok or Err, and never panics or allocates without bound.
    #[test]
    fn fuzz_random_and_damaged_files_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let frames = test_frames(40, 24, 4, 5);
        let good = encode_mjpeg_avi(&frames, &AviWriteOptions::default()).expect("encode");
        let try_all = |bytes: Vec<u8>| {
            if let Ok(avi) = AviFile::from_bytes("fuzz.avi", bytes) {
                let _ = avi.read_all_frames();
            }
        };
        for _ in 0..300 {
            let len = rng.random_range(0..600);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if rng.random::<bool>() && len >= 12 {
                bytes[..4].copy_from_slice(b"RIFF");
                bytes[8..12].copy_from_slice(b"AVI ");
            }
            try_all(bytes);
        }
        for cut in (0..good.len()).step_by(7) {
            try_all(good[..cut].to_vec());
        }
        for _ in 0..1500 {
            let mut bytes = good.clone();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            if rng.random_range(0..4) == 0 {
                let cut = rng.random_range(0..bytes.len());
                bytes.truncate(cut);
            }
            try_all(bytes);
        }
    }

    /// Decode speed of 112×112 MJPEG frames on one thread:
    /// `cargo test --release --lib decode_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn decode_throughput() {
        let frames = test_frames(112, 112, 200, 6);
        let bytes = encode_mjpeg_avi(&frames, &AviWriteOptions::default()).expect("encode");
        let avi = AviFile::from_bytes("bench.avi", bytes).expect("open");
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed().as_secs_f64() < 3.0 {
            n += avi.read_all_frames().expect("decode").len();
        }
        println!(
            "decode: {:.0} frames/s (112×112, one thread)",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
}
