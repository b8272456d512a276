//! Motion-JPEG AVI in pure Rust: a RIFF/AVI reader that indexes frame chunks and decodes only
//! the frames asked for, the JPEG-to-grey step, a resize of grey frames, and a small MJPEG AVI
//! writer (used by the synthetic generator).

mod jpeg;
mod reader;
mod resize;
mod writer;

pub use reader::AviFile;
pub use writer::{AviWriteOptions, write_mjpeg_avi};

/// One decoded frame: 8-bit grey (the luma of the JPEG), row-major, `width × height` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyFrame {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: Vec<u8>,
}

impl GreyFrame {
    /// A frame from its pixels; `None` when `pixels.len() != width × height`.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Option<Self> {
        (pixels.len() as u64 == u64::from(width) * u64::from(height)).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// This frame resized to `size × size` (see [`GreyFrame::resize`]).
    pub fn resize_square(&self, size: u32) -> GreyFrame {
        self.resize(size, size)
    }

    /// This frame resized with a separable triangle (bilinear) filter whose support widens
    /// with the shrink factor, so downscaling averages every source pixel (768×1024 → 112
    /// does not alias) and upscaling is plain bilinear interpolation.
    pub fn resize(&self, width: u32, height: u32) -> GreyFrame {
        resize::resize_grey(self, width, height)
    }
}
