//! What every figure shares: the embedded font, the palette, and saving one drawing as PNG
//! and SVG (or an SVG string for the HTML report).
//!
//! Text is laid out and, in PNGs, rasterised with DejaVu Sans compiled into the binary
//! (plotters' `ab_glyph` font backend), so figures come out the same on a machine without
//! fontconfig or any system font. SVGs carry text as `<text font-family="sans-serif">`, which
//! the viewer renders.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::atomic;

/// DejaVu Sans (Bitstream Vera licence, see `DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");

/// The family every figure asks for.
pub const SANS: &str = "sans-serif";

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("drawing {what}: {message}")]
    Draw { what: String, message: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Input(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw { what: "a figure".into(), message: e.to_string() }
    }
}

/// A drawing that can be rendered on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static;
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and known to parse; a failure would show in every test.
            let _ = plotters::style::register_font(SANS, style, FONT);
        }
    });
}

/// The figure as an SVG document.
pub fn svg_string(fig: &impl Figure) -> Result<String, PlotError> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, fig.size()).into_drawing_area();
        fig.draw(&root)?;
        root.present()?;
    }
    Ok(out)
}

/// The figure as PNG bytes (8-bit RGB).
pub fn png_bytes(fig: &impl Figure) -> Result<Vec<u8>, PlotError> {
    register_font();
    let (w, h) = fig.size();
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present()?;
    }
    let mut out = Vec::new();
    let encoding =
        |e: png::EncodingError| PlotError::Draw { what: "PNG".into(), message: e.to_string() };
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(encoding)?;
        writer.write_image_data(&rgb).map_err(encoding)?;
        writer.finish().map_err(encoding)?;
    }
    Ok(out)
}

/// Writes `<stem>.png` and `<stem>.svg` (each atomically); returns both paths.
pub fn save(fig: &impl Figure, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| PlotError::Io { path: dir.to_path_buf(), message: e.to_string() })?;
    }
    let png_path = with_ext(stem, "png");
    let svg_path = with_ext(stem, "svg");
    for (path, bytes) in [(&png_path, png_bytes(fig)?), (&svg_path, svg_string(fig)?.into_bytes())]
    {
        atomic::write_file(path, &bytes)
            .map_err(|e| PlotError::Io { path: path.clone(), message: e.to_string() })?;
    }
    Ok(vec![png_path, svg_path])
}

fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut name = stem.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".");
    name.push(ext);
    stem.with_file_name(name)
}

/// Tableau's ten colours: distinct, and readable by most colour-blind readers.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub const GREY: RGBColor = RGBColor(150, 150, 150);

/// Draws a chart's legend at `position`, boxed on a nearly opaque background.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.88))
        .border_style(BLACK.mix(0.4))
        .label_font((SANS, 14))
        .draw()?;
    Ok(())
}

/// Splits `root` under a title into `n` panels side by side.
pub fn titled_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    n: usize,
) -> Result<Vec<DrawingArea<DB, Shift>>, PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let body = root.titled(title, (SANS, 24).into_font().style(FontStyle::Bold))?;
    Ok(body.split_evenly((1, n.max(1))))
}
