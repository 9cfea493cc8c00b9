//! Bar charts drawn on the server as SVG: no script, no other host, readable on a phone.

use maud::{Markup, html};

/// One series of bars.
pub struct Series<'a> {
    /// Its name, for the legend and the accessible title.
    pub name: &'a str,
    /// Fill colour (a presentation attribute, so the CSP allows it).
    pub colour: &'a str,
    /// One value per label; negatives are drawn as zero.
    pub values: Vec<i64>,
}

// Narrow enough that its labels stay legible when a phone shrinks it to the screen.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 170.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 16.0;

/// A grouped bar chart; every `label_every`-th label is written under its bars.
pub fn bars(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
    label_every: usize,
) -> Markup {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let slots = labels.len().max(1) as f64;
    let slot = WIDTH / slots;
    let group = slot * 0.8;
    let bar = group / series.len().max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    let title_id = format!("{id}-title");
    html! {
        svg.chart id=(id) role="img" aria-labelledby=(title_id)
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } xmlns="http://www.w3.org/2000/svg" {
            title id=(title_id) { (title) }
            line x1="0" y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#9aa3ad" stroke-width="1" {}
            text x="2" y="12" font-size="12" fill="#5b6470" { "max " (max) }
            @for (i, label) in labels.iter().enumerate() {
                @for (j, s) in series.iter().enumerate() {
                    @let v = s.values.get(i).copied().unwrap_or(0).max(0);
                    @let h = (v as f64 / max as f64 * plot).max(if v > 0 { 1.0 } else { 0.0 });
                    rect x=(fmt(i as f64 * slot + slot * 0.1 + j as f64 * bar)) y=(fmt(HEIGHT - BOTTOM - h))
                        width=(fmt(bar.max(1.0))) height=(fmt(h)) fill=(s.colour) {
                        title { (label) " " (s.name) ": " (v) }
                    }
                }
                // Counted from the right, so the latest bar (today, this week) is always labelled.
                @if label_every > 0 && (labels.len() - 1 - i).is_multiple_of(label_every) {
                    @let (x, anchor) = if i + 1 == labels.len() {
                        (WIDTH, "end")
                    } else if i == 0 {
                        (0.0, "start")
                    } else {
                        (i as f64 * slot + slot / 2.0, "middle")
                    };
                    text x=(fmt(x)) y=(HEIGHT - 5.0) font-size="12" text-anchor=(anchor) fill="#5b6470" { (label) }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}
