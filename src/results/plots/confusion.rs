//! Confusion-matrix heatmaps: rows the true class, columns the predicted one, each cell
//! shaded by its share of the row (the class's recall on the diagonal) and labelled with
//! its count and that share.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::{Figure, PlotError, SANS, titled_panels};

const CLASSES: [&str; 2] = ["normal", "abnormal"];

pub struct ConfusionFigure {
    pub title: String,
    /// (caption, `[[tn, fp], [fn, tp]]`).
    pub matrices: Vec<(String, [[usize; 2]; 2])>,
}

impl Figure for ConfusionFigure {
    fn size(&self) -> (u32, u32) {
        (470 * self.matrices.len().max(1) as u32, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static,
    {
        let areas = titled_panels(root, &self.title, self.matrices.len())?;
        for ((caption, m), area) in self.matrices.iter().zip(&areas) {
            draw_matrix(caption, m, area)?;
        }
        Ok(())
    }
}

/// The class whose cell is centred at `v` (0.5 or 1.5) on an axis; nothing elsewhere.
/// `flipped`: class 0 at the top (y = 1.5).
fn label(v: f64, flipped: bool) -> String {
    let i = v - 0.5;
    if (i - i.round()).abs() > 1e-6 || !(0.0..=1.0).contains(&i) {
        return String::new();
    }
    let class = if flipped { 1 - i.round() as usize } else { i.round() as usize };
    CLASSES[class].to_owned()
}

/// White → blue by `share` in [0, 1].
fn shade(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let mix = |hi: f64, lo: f64| (hi + (lo - hi) * s).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 69.0), mix(255.0, 148.0))
}

fn draw_matrix<DB: DrawingBackend>(
    caption: &str,
    m: &[[usize; 2]; 2],
    area: &DrawingArea<DB, Shift>,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (SANS, 19))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..2.0, 0.0..2.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted class")
        .y_desc("true class")
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|v| label(*v, false))
        // Row 0 (true normal) is drawn at the top.
        .y_label_formatter(&|v| label(*v, true))
        .axis_desc_style((SANS, 16))
        .label_style((SANS, 15))
        .draw()?;
    for truth in 0..2u32 {
        let row_total = (m[truth as usize][0] + m[truth as usize][1]).max(1) as f64;
        for predicted in 0..2u32 {
            let count = m[truth as usize][predicted as usize];
            let share = count as f64 / row_total;
            let (x, y) = (f64::from(predicted), f64::from(1 - truth));
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x, y + 1.0), (x + 1.0, y)],
                shade(share).filled(),
            )))?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            let centre = (x + 0.5, y + 0.5);
            let style = TextStyle::from((SANS, 26).into_font())
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(count.to_string(), centre, style)))?;
            let small = TextStyle::from((SANS, 16).into_font())
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Top));
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.0}% of row", share * 100.0),
                centre,
                small,
            )))?;
        }
    }
    Ok(())
}
