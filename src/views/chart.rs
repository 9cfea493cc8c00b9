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

// About the width a phone gives a chart (360 px less the page's and card's padding), so the
// labels are drawn near their own size there rather than shrunk.
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 180.0;
/// Label size in the chart's units: at body size (about 14 px) on a phone, larger on a laptop.
const FONT: f64 = 14.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 22.0;
/// Labels that fit under a chart side by side, with room between them.
const MAX_LABELS: usize = 4;

/// Half the width a label takes, generously (digits and capitals are about 0.6 em).
fn half_width(label: &str) -> f64 {
    label.chars().count() as f64 * FONT * 0.31
}

/// Every how many bars a label fits under `count` bars.
fn label_every(count: usize) -> usize {
    count.div_ceil(MAX_LABELS).max(1)
}

/// A grouped bar chart, labelled under every few bars (as many labels as fit).
pub fn bars(id: &str, title: &str, labels: &[String], series: &[Series]) -> Markup {
    let label_every = label_every(labels.len());
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
            text x="2" y=(FONT) font-size=(FONT) fill="#4a525c" { "max " (max) }
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
                @if (labels.len() - 1 - i).is_multiple_of(label_every) {
                    // Centred under its bars but kept inside the box, so the first and last
                    // labels are never cut off at the edges.
                    @let half = half_width(label).min(WIDTH / 2.0);
                    @let x = (i as f64 * slot + slot / 2.0).clamp(half, WIDTH - half);
                    text x=(fmt(x)) y=(HEIGHT - 6.0) font-size=(FONT) text-anchor="middle" fill="#4a525c" { (label) }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_thin_out_to_what_fits_and_the_latest_is_always_labelled() {
        assert_eq!(label_every(4), 1);
        assert_eq!(label_every(7), 2);
        assert_eq!(label_every(30), 8);
        assert_eq!(label_every(24), 6);
        let labels: Vec<String> = (1..=7).map(|d| format!("0{d} Dec")).collect();
        let series = [Series {
            name: "issued",
            colour: "#1f5f8b",
            values: vec![1; 7],
        }];
        let svg = bars("c", "Points", &labels, &series).into_string();
        assert!(svg.contains(">07 Dec</text>"), "{svg}");
        assert!(svg.contains(">01 Dec</text>"), "{svg}");
        assert!(!svg.contains(">06 Dec</text>"), "{svg}");
        // The first label is pulled in from the edge by its half width.
        assert!(
            svg.contains(r#"<text x="26.0" y="174" font-size="14" text-anchor="middle""#),
            "{svg}"
        );
    }
}
