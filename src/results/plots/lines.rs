//! Line charts side by side under one title: learning curves, ROC and precision-recall
//! curves, each panel with its caption, axis labels and legend.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{Figure, GREY, PlotError, SANS, legend, titled_panels};

/// One series.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// A reference line (chance, prevalence): dashed.
    pub dashed: bool,
    /// Draw a dot at each point (short series such as per-epoch curves).
    pub dots: bool,
    /// Dots only, no line between them (a scatter plot).
    pub scatter: bool,
}

impl Line {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Line { label: label.into(), points, color, dashed: false, dots: false, scatter: false }
    }

    /// Points without a line through them.
    pub fn scatter(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Line { dots: true, scatter: true, ..Line::new(label, points, color) }
    }

    pub fn dots(mut self) -> Self {
        self.dots = true;
        self
    }

    /// A dashed grey reference line.
    pub fn reference(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Line { dashed: true, ..Line::new(label, points, GREY) }
    }
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub caption: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub lines: Vec<Line>,
    /// A vertical marker (say, the best epoch) and its legend label.
    pub marker: Option<(f64, String)>,
    /// Integer ticks on x (epochs).
    pub integer_x: bool,
}

impl Panel {
    pub fn new(
        caption: impl Into<String>,
        x_desc: impl Into<String>,
        y_desc: impl Into<String>,
    ) -> Self {
        Panel {
            caption: caption.into(),
            x_desc: x_desc.into(),
            y_desc: y_desc.into(),
            x: 0.0..1.0,
            y: 0.0..1.0,
            lines: Vec::new(),
            marker: None,
            integer_x: false,
        }
    }

    /// x over epochs `1..=n` (padded so that a single epoch still has a range).
    pub fn epochs(mut self, n: usize) -> Self {
        self.x = 0.8..(n.max(1) as f64 + 0.2);
        self.integer_x = true;
        self
    }

    /// y from 0 to a little above the largest value plotted (at least `floor`).
    pub fn fit_y(mut self, floor: f64) -> Self {
        let top = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(floor, f64::max);
        self.y = 0.0..top * 1.08;
        self
    }

    /// y over [0, 1] with a margin, for rates.
    pub fn unit_y(mut self) -> Self {
        self.y = -0.02..1.05;
        self
    }
}

pub struct LineFigure {
    pub title: String,
    pub panels: Vec<Panel>,
    pub size: (u32, u32),
}

impl Figure for LineFigure {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static,
    {
        let areas = titled_panels(root, &self.title, self.panels.len())?;
        for (panel, area) in self.panels.iter().zip(&areas) {
            draw_panel(panel, area)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&p.caption, (SANS, 19))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(p.x.clone(), p.y.clone())?;
    let integer_x = p.integer_x;
    let x_format = move |v: &f64| if integer_x { format!("{v:.0}") } else { format!("{v:.1}") };
    let x_labels = if integer_x { ((p.x.end - p.x.start).round() as usize + 1).min(12) } else { 6 };
    chart
        .configure_mesh()
        .x_desc(&p.x_desc)
        .y_desc(&p.y_desc)
        .x_labels(x_labels)
        .y_labels(6)
        .x_label_formatter(&x_format)
        .y_label_formatter(&|v: &f64| format!("{v:.2}"))
        .axis_desc_style((SANS, 16))
        .label_style((SANS, 14))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    for line in &p.lines {
        let style = ShapeStyle::from(&line.color).stroke_width(2);
        let pts = if line.scatter { vec![] } else { line.points.clone() };
        let drawn = if line.dashed {
            chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(pts, style))?
        };
        let color = line.color;
        let dashed = line.dashed;
        drawn.label(&line.label).legend(move |(x, y)| {
            let end = if dashed { x + 10 } else { x + 22 };
            PathElement::new(vec![(x, y), (end, y)], ShapeStyle::from(&color).stroke_width(2))
        });
        if line.dots {
            chart.draw_series(
                line.points.iter().map(|&pt| Circle::new(pt, 3, line.color.filled())),
            )?;
        }
    }
    if let Some((x, label)) = &p.marker {
        let style = ShapeStyle::from(&BLACK.mix(0.55)).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(vec![(*x, p.y.start), (*x, p.y.end)], 4, 4, style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 10, y)], style));
    }
    legend(&mut chart, legend_corner(p))?;
    Ok(())
}

/// The corner of the plot whose quarter the lines cross least (matplotlib's "best"), so the
/// legend hides as little as it can.
fn legend_corner(p: &Panel) -> SeriesLabelPosition {
    let (w, h) = (p.x.end - p.x.start, p.y.end - p.y.start);
    let mut samples = Vec::new();
    for line in &p.lines {
        for pair in line.points.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            samples.extend((0..=16).map(|k| {
                let t = f64::from(k) / 16.0;
                ((x0 + t * (x1 - x0) - p.x.start) / w, (y0 + t * (y1 - y0) - p.y.start) / h)
            }));
        }
    }
    let corners = [
        (SeriesLabelPosition::UpperRight, 0.5, 1.0, 0.55, 1.0),
        (SeriesLabelPosition::LowerRight, 0.5, 1.0, 0.0, 0.45),
        (SeriesLabelPosition::UpperLeft, 0.0, 0.5, 0.55, 1.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.5, 0.0, 0.45),
    ];
    let crossings = |&(_, x0, x1, y0, y1): &(SeriesLabelPosition, f64, f64, f64, f64)| {
        samples.iter().filter(|(x, y)| (x0..=x1).contains(x) && (y0..=y1).contains(y)).count()
    };
    corners
        .iter()
        .min_by_key(|c| crossings(c))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0.clone())
}
