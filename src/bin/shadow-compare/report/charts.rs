//! Inline SVG charts for the HTML report: drawn here as text, no script, nothing fetched.

use super::html::escape;
use super::model::{Bucket, Latency};
use std::fmt::Write;

const PRIMARY_COLOUR: &str = "#4c78a8";
const SHADOW_COLOUR: &str = "#f58518";
const BAR_COLOUR: &str = "#54a24b";

/// A bucket bound for an axis label: `0.5`, `25`, `2.5k`, `10k`.
fn short(v: f64) -> String {
    if v >= 1000.0 {
        let k = v / 1000.0;
        if k.fract() == 0.0 {
            format!("{k:.0}k")
        } else {
            format!("{k:.1}k")
        }
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Bars of pairs per distance bucket: where on the 0 (identical) to 10,000 (nothing in common) scale
/// the shadow's answers fall. Equal-width bars: Envoy's buckets grow roughly tenfold, so a linear axis
/// would squeeze every near-identical pair into one pixel.
pub fn distance(id: &str, title: &str, buckets: &[Bucket]) -> String {
    let (w, h) = (560.0, 240.0);
    let (left, right, top, bottom) = (48.0, 12.0, 28.0, 52.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart distance" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{title}</title>"#,
        id = escape(id),
        title = escape(title),
    );
    let _ = write!(svg, r#"<text x="{left}" y="16" class="chart-title">{}</text>"#, escape(title));
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    if buckets.is_empty() || total == 0 {
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle" class="empty">no scored pairs yet</text></svg>"#, w / 2.0, h / 2.0);
        return svg;
    }
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let base_y = top + plot_h;
    // Axes and a mid gridline, labelled with counts.
    let _ = write!(svg, r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{base_y}" stroke="#888"/>"##);
    let _ = write!(svg, r##"<line x1="{left}" y1="{base_y}" x2="{}" y2="{base_y}" stroke="#888"/>"##, left + plot_w);
    for frac in [0.5, 1.0] {
        let y = base_y - plot_h * frac;
        let _ = write!(svg, r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>"##, left + plot_w);
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="end" class="tick">{}</text>"#, left - 4.0, y + 4.0, fmt_count(max * frac));
    }
    let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="end" class="tick">0</text>"#, left - 4.0, base_y + 4.0);
    let slot = plot_w / buckets.len() as f64;
    for (i, b) in buckets.iter().enumerate() {
        let x = left + slot * i as f64;
        let bar_h = plot_h * b.count as f64 / max;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{BAR_COLOUR}"><title>{}–{} bp: {} pairs</title></rect>"#,
            x + 2.0,
            base_y - bar_h,
            (slot - 4.0).max(1.0),
            bar_h,
            short(b.lower),
            short(b.upper),
            b.count,
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            x + slot / 2.0,
            base_y + 14.0,
            short(b.upper)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" class="axis-label">distance ≤ bucket bound, basis points: (1 − similarity) × 10,000</text></svg>"#,
        left + plot_w / 2.0,
        h - 12.0
    );
    svg
}

fn fmt_count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// p50 and p99 of primary and shadow as paired horizontal bars on one scale.
pub fn latency(id: &str, title: &str, l: &Latency) -> String {
    let (w, h) = (560.0, 200.0);
    let (left, right, top) = (56.0, 80.0, 40.0);
    let plot_w = w - left - right;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart latency" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{title}</title>"#,
        id = escape(id),
        title = escape(title),
    );
    let _ = write!(svg, r#"<text x="{left}" y="16" class="chart-title">{}</text>"#, escape(title));
    // Legend.
    for (i, (name, colour)) in [("primary", PRIMARY_COLOUR), ("shadow", SHADOW_COLOUR)].iter().enumerate() {
        let x = left + 110.0 * i as f64;
        let _ = write!(svg, r#"<rect x="{x}" y="24" width="10" height="10" fill="{colour}"/><text x="{}" y="33" class="tick">{name}</text>"#, x + 14.0);
    }
    let values = [l.primary_p50, l.shadow_p50, l.primary_p99, l.shadow_p99];
    let max = values.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    if values.iter().all(Option::is_none) {
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle" class="empty">no latency recorded yet</text></svg>"#, w / 2.0, h / 2.0 + 10.0);
        return svg;
    }
    let scale = if max > 0.0 { plot_w / max } else { 0.0 };
    let rows = [("p50", l.primary_p50, l.shadow_p50), ("p99", l.primary_p99, l.shadow_p99)];
    let bar_h = 22.0;
    for (r, (label, p, s)) in rows.iter().enumerate() {
        let y0 = top + 12.0 + r as f64 * (2.0 * bar_h + 22.0);
        let _ = write!(svg, r#"<text x="{}" y="{:.1}" text-anchor="end" class="row-label">{label}</text>"#, left - 8.0, y0 + bar_h + 4.0);
        for (k, (side, v, colour)) in [("primary", p, PRIMARY_COLOUR), ("shadow", s, SHADOW_COLOUR)].iter().enumerate() {
            let y = y0 + k as f64 * bar_h;
            let value = v.map_or_else(|| "no data".to_string(), |v| format!("{v:.1} ms"));
            let width = v.map_or(0.0, |v| (v * scale).max(1.0));
            let _ = write!(
                svg,
                r#"<rect class="bar {side}" x="{left}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="{colour}"><title>{side} {label}: {value}</title></rect>"#,
                bar_h - 4.0,
            );
            let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" class="tick">{value}</text>"#, left + width + 6.0, y + bar_h - 8.0);
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_labelled_compactly() {
        assert_eq!((short(0.5), short(25.0), short(2500.0), short(10_000.0)), ("0.5".into(), "25".into(), "2.5k".into(), "10k".into()));
    }

    #[test]
    fn distance_chart_has_one_bar_per_bucket_scaled_to_the_tallest() {
        let b = [Bucket { lower: 0.0, upper: 0.5, count: 30 }, Bucket { lower: 0.5, upper: 1.0, count: 15 }];
        let svg = distance("d-x", "x", &b);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        // Plot height 160: the tallest bar fills it, the other is half.
        assert!(svg.contains(r##"height="160.0" fill="#54a24b"><title>0–0.5 bp: 30 pairs"##), "{svg}");
        assert!(svg.contains(r##"height="80.0" fill="#54a24b"><title>0.5–1 bp: 15 pairs"##), "{svg}");
        assert!(distance("d", "x", &[]).contains("no scored pairs yet"));
    }

    #[test]
    fn latency_chart_shares_one_scale() {
        let l = Latency { primary_p50: Some(10.0), shadow_p50: Some(20.0), primary_p99: Some(40.0), shadow_p99: None };
        let svg = latency("l", "x", &l);
        // Plot width 424 for 40 ms.
        assert!(svg.contains(r##"width="106.0" height="18.0" fill="#4c78a8"><title>primary p50: 10.0 ms"##), "{svg}");
        assert!(svg.contains(r##"width="424.0" height="18.0" fill="#4c78a8"><title>primary p99: 40.0 ms"##), "{svg}");
        assert!(svg.contains("shadow p99: no data"));
    }
}
