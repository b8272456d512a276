//! Bar charts: the report's main metrics per experiment (grouped bars with error whiskers
//! and a marker for the test figure), and `predict`'s per-frame contributions (signed bars).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{Figure, PlotError, SANS, color, legend, titled_panels};

/// One metric's figures: the mean over folds with its std (when there are several folds),
/// and the test value.
pub type BarValue = (Option<(f64, Option<f64>)>, Option<f64>);

/// One experiment's figures for each metric.
pub struct BarSeries {
    pub label: String,
    pub values: Vec<BarValue>,
}

pub struct MetricBars {
    pub title: String,
    pub metrics: Vec<String>,
    pub series: Vec<BarSeries>,
    pub cv_label: String,
    pub test_label: String,
}

/// Tick labels at the centre of each group `g + 0.5`; nothing elsewhere.
fn group_label(names: &[String], v: f64) -> String {
    let g = (v - 0.5).round();
    if (v - 0.5 - g).abs() < 1e-6 && g >= 0.0 {
        names.get(g as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

impl Figure for MetricBars {
    fn size(&self) -> (u32, u32) {
        (1100, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static,
    {
        let area = titled_panels(root, &self.title, 1)?.remove(0);
        let groups = self.metrics.len().max(1);
        let mut chart = ChartBuilder::on(&area)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            // Headroom above 1 for the legend.
            .build_cartesian_2d(
                0.0..groups as f64,
                0.0..1.0 + 0.07 * (self.series.len() as f64 + 2.0),
            )?;
        let names = self.metrics.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * 2 + 1)
            .x_label_formatter(&move |v| group_label(&names, *v))
            .y_desc("score (0–1)")
            .y_labels(10)
            .y_label_formatter(&|v| {
                if *v <= 1.0 + 1e-9 { format!("{v:.1}") } else { String::new() }
            })
            .axis_desc_style((SANS, 16))
            .label_style((SANS, 15))
            .bold_line_style(BLACK.mix(0.08))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let n = self.series.len().max(1) as f64;
        let width = 0.8 / n;
        for (i, s) in self.series.iter().enumerate() {
            let c = color(i);
            let left = |g: usize| g as f64 + 0.1 + i as f64 * width;
            let bars: Vec<_> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(g, (cv, _))| {
                    cv.map(|(mean, _)| {
                        Rectangle::new(
                            [(left(g), 0.0), (left(g) + width * 0.9, mean)],
                            c.mix(0.75).filled(),
                        )
                    })
                })
                .collect();
            chart.draw_series(bars)?.label(format!("{} — {}", s.label, self.cv_label)).legend(
                move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.mix(0.75).filled()),
            );
            let whiskers = s.values.iter().enumerate().filter_map(|(g, (cv, _))| {
                let (mean, std) = (*cv)?;
                let x = left(g) + width * 0.45;
                let sd = std?;
                Some(PathElement::new(
                    vec![(x, (mean - sd).max(0.0)), (x, (mean + sd).min(1.0))],
                    BLACK.stroke_width(2),
                ))
            });
            chart.draw_series(whiskers)?;
            let tests = s.values.iter().enumerate().filter_map(|(g, (_, test))| {
                let x = left(g) + width * 0.45;
                Some(TriangleMarker::new((x, (*test)?), 7, BLACK.filled()))
            });
            chart.draw_series(tests)?;
        }
        // One legend entry for the test markers (a series of none).
        chart
            .draw_series(std::iter::empty::<TriangleMarker<(f64, f64), i32>>())?
            .label(self.test_label.clone())
            .legend(|(x, y)| TriangleMarker::new((x + 7, y), 7, BLACK.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// `predict`'s per-frame contributions: one signed bar per clip frame.
pub struct FrameBars {
    pub title: String,
    pub subtitle: String,
    /// Contribution of each clip frame (positive: towards abnormal).
    pub values: Vec<f64>,
    /// The video frame each clip frame was taken from.
    pub video_frames: Vec<usize>,
    pub y_desc: String,
}

impl Figure for FrameBars {
    fn size(&self) -> (u32, u32) {
        (1000, 480)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static,
    {
        let area = titled_panels(root, &self.title, 1)?.remove(0);
        let t = self.values.len().max(1);
        let peak = self.values.iter().fold(1e-9f64, |m, v| m.max(v.abs())) * 1.15;
        let mut chart = ChartBuilder::on(&area)
            .caption(&self.subtitle, (SANS, 16))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5..t as f64 - 0.5, -peak..peak)?;
        let frames = self.video_frames.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(t.min(20))
            .x_label_formatter(&move |v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    frames.get(i as usize).map_or(String::new(), ToString::to_string)
                } else {
                    String::new()
                }
            })
            .x_desc("video frame (the clip's frames, in order)")
            .y_desc(&self.y_desc)
            .y_label_formatter(&move |v| signed(*v, peak))
            .axis_desc_style((SANS, 16))
            .label_style((SANS, 14))
            .bold_line_style(BLACK.mix(0.08))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let (up, down) = (color(3), color(0));
        let bar = |i: usize, v: f64| {
            let c = if v >= 0.0 { up } else { down };
            Rectangle::new([(i as f64 - 0.4, 0.0), (i as f64 + 0.4, v)], c.filled())
        };
        chart
            .draw_series(
                self.values.iter().enumerate().filter(|(_, v)| **v >= 0.0).map(|(i, &v)| bar(i, v)),
            )?
            .label("towards abnormal")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], up.filled()));
        chart
            .draw_series(
                self.values.iter().enumerate().filter(|(_, v)| **v < 0.0).map(|(i, &v)| bar(i, v)),
            )?
            .label("towards normal")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], down.filled()));
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, 0.0), (t as f64 - 0.5, 0.0)],
            BLACK.stroke_width(1),
        )))?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// A signed value with the precision its axis needs (`+0.012`, `-3.5e-5`).
pub fn signed(v: f64, scale: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if scale.abs() >= 0.01 {
        format!("{v:+.3}")
    } else {
        format!("{v:+.1e}")
    }
}
