//! A small Motion-JPEG AVI writer: one video stream (FourCC `MJPG`), each grey frame stored as
//! a baseline JPEG of grey copied into three channels (as EchoNet-Dynamic's OpenCV converter
//! does), `avih`/`strh`/`strf` headers and an `idx1` index. Files are written atomically.

use std::path::Path;

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use super::GreyFrame;
use crate::data::error::DataError;

/// How frames are encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AviWriteOptions {
    /// Frames per second written to the headers.
    pub fps: u32,
    /// JPEG quality, 1–100 (OpenCV's default is 95).
    pub quality: u8,
}

impl Default for AviWriteOptions {
    fn default() -> Self {
        Self { fps: 50, quality: 95 }
    }
}

/// Write `frames` (all the same size) to `path` as an MJPEG AVI, atomically (temporary file,
/// fsync, rename), so a reader never sees a half-written video.
pub fn write_mjpeg_avi(
    path: &Path,
    frames: &[GreyFrame],
    options: &AviWriteOptions,
) -> Result<(), DataError> {
    let bytes = encode_mjpeg_avi(frames, options)
        .map_err(|detail| DataError::Encode { path: path.to_path_buf(), detail })?;
    crate::atomic::write_file(path, &bytes).map_err(|e| DataError::io(path, e))
}

/// The bytes of an MJPEG AVI holding `frames`.
pub(crate) fn encode_mjpeg_avi(
    frames: &[GreyFrame],
    options: &AviWriteOptions,
) -> Result<Vec<u8>, String> {
    let first = frames.first().ok_or("no frames to write")?;
    let (width, height) = (first.width(), first.height());
    if frames.iter().any(|f| (f.width(), f.height()) != (width, height)) {
        return Err("frames differ in size".into());
    }
    let (w16, h16) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(format!("frame size {width}×{height} cannot be stored in a JPEG"));
        }
    };
    if options.fps == 0 || !(1..=100).contains(&options.quality) {
        return Err(format!("fps {} / quality {} out of range", options.fps, options.quality));
    }
    let mut jpegs = Vec::with_capacity(frames.len());
    let mut rgb = Vec::with_capacity(first.pixels().len() * 3);
    for frame in frames {
        rgb.clear();
        rgb.extend(frame.pixels().iter().flat_map(|&p| [p, p, p]));
        let mut jpeg = Vec::new();
        let mut encoder = Encoder::new(&mut jpeg, options.quality);
        encoder.set_sampling_factor(SamplingFactor::F_2_2);
        encoder
            .encode(&rgb, w16, h16, ColorType::Rgb)
            .map_err(|e| format!("JPEG encoding failed: {e}"))?;
        jpegs.push(jpeg);
    }
    assemble_avi(&jpegs, width, height, options.fps)
}

/// An AVI around already-encoded JPEG frames (`width × height`, `fps` > 0).
pub(crate) fn assemble_avi(
    jpegs: &[Vec<u8>],
    width: u32,
    height: u32,
    fps: u32,
) -> Result<Vec<u8>, String> {
    let (w16, h16) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => {
            return Err(format!("frame size {width}×{height} too large for the stream header"));
        }
    };
    if fps == 0 {
        return Err("fps must be positive".into());
    }
    let n = u32::try_from(jpegs.len()).map_err(|_| "too many frames")?;
    let max_frame = jpegs.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let movi_size: u64 = 4 + jpegs.iter().map(|j| 8 + padded(j.len()) as u64).sum::<u64>();
    let movi_size = u32::try_from(movi_size).map_err(|_| "video too large for a RIFF AVI")?;

    let mut avih = Vec::with_capacity(56);
    for v in [
        (1_000_000 + fps / 2) / fps,   // dwMicroSecPerFrame
        max_frame.saturating_mul(fps), // dwMaxBytesPerSec
        0,                             // dwPaddingGranularity
        0x10,                          // dwFlags: AVIF_HASINDEX
        n,                             // dwTotalFrames
        0,                             // dwInitialFrames
        1,                             // dwStreams
        max_frame + 8,                 // dwSuggestedBufferSize
        width,
        height,
        0,
        0,
        0,
        0,
    ] {
        avih.extend_from_slice(&v.to_le_bytes());
    }
    let mut strh = Vec::with_capacity(56);
    strh.extend_from_slice(b"vids");
    strh.extend_from_slice(b"MJPG");
    for v in [0u32, 0, 0, 1, fps, 0, n, max_frame + 8, u32::MAX, 0] {
        // dwFlags, wPriority+wLanguage, dwInitialFrames, dwScale, dwRate, dwStart, dwLength,
        // dwSuggestedBufferSize, dwQuality (-1: default), dwSampleSize
        strh.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0u16, 0, w16, h16] {
        strh.extend_from_slice(&v.to_le_bytes()); // rcFrame
    }
    let mut strf = Vec::with_capacity(40);
    strf.extend_from_slice(&40u32.to_le_bytes());
    strf.extend_from_slice(&width.to_le_bytes());
    strf.extend_from_slice(&height.to_le_bytes());
    strf.extend_from_slice(&1u16.to_le_bytes()); // biPlanes
    strf.extend_from_slice(&24u16.to_le_bytes()); // biBitCount
    strf.extend_from_slice(b"MJPG");
    strf.extend_from_slice(&(width * height * 3).to_le_bytes());
    strf.extend_from_slice(&[0u8; 16]);

    let strl_size = 4 + (8 + 56) + (8 + 40);
    let hdrl_size = 4 + (8 + 56) + (8 + strl_size);
    let idx1_size = 16 * n;
    let riff_size = 4 + (8 + hdrl_size) + (8 + movi_size) + (8 + idx1_size);

    let mut out = Vec::with_capacity(8 + riff_size as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_size.to_le_bytes());
    out.extend_from_slice(b"AVI ");
    list(&mut out, hdrl_size, b"hdrl");
    chunk(&mut out, b"avih", &avih);
    list(&mut out, strl_size, b"strl");
    chunk(&mut out, b"strh", &strh);
    chunk(&mut out, b"strf", &strf);
    list(&mut out, movi_size, b"movi");
    let movi_pos = out.len() - 4;
    let mut index = Vec::with_capacity(idx1_size as usize);
    for jpeg in jpegs {
        index.extend_from_slice(b"00dc");
        index.extend_from_slice(&0x10u32.to_le_bytes()); // AVIIF_KEYFRAME
        index.extend_from_slice(&((out.len() - movi_pos) as u32).to_le_bytes());
        index.extend_from_slice(&(jpeg.len() as u32).to_le_bytes());
        chunk(&mut out, b"00dc", jpeg);
    }
    chunk(&mut out, b"idx1", &index);
    debug_assert_eq!(out.len(), 8 + riff_size as usize);
    Ok(out)
}

fn padded(len: usize) -> usize {
    len + (len & 1)
}

fn list(out: &mut Vec<u8>, size: u32, kind: &[u8; 4]) {
    out.extend_from_slice(b"LIST");
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(kind);
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}
