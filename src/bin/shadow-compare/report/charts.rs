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

/// The `<svg>` element of a chart of `class` and its visible title at x = `left` (accessible title included).
fn open_svg(class: &str, id: &str, title: &str, (w, h): (f64, f64), left: f64) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart {class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{title}</title>"#,
        id = escape(id),
        title = escape(title),
    );
    let _ = write!(svg, r#"<text x="{left}" y="16" class="chart-title">{}</text>"#, escape(title));
    svg
}

/// Bars of pairs per distance bucket: where on the 0 (identical) to 10,000 (nothing in common) scale
/// the shadow's answers fall. Equal-width bars, because Envoy's buckets grow roughly tenfold; a log count
/// axis, because the few far-off pairs in the tail are what matters and a linear axis flattens them.
pub fn distance(id: &str, title: &str, buckets: &[Bucket]) -> String {
    let (w, h) = (560.0, 240.0);
    let (left, right, top, bottom) = (48.0, 12.0, 28.0, 52.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let mut svg = open_svg("distance", id, title, (w, h), left);
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    if buckets.is_empty() || total == 0 {
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle" class="empty">no scored pairs yet</text></svg>"#, w / 2.0, h / 2.0);
        return svg;
    }
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let height = |count: u64| plot_h * log_height(count, max);
    let base_y = top + plot_h;
    let _ = write!(svg, r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{base_y}" stroke="#888"/>"##);
    let _ = write!(svg, r##"<line x1="{left}" y1="{base_y}" x2="{}" y2="{base_y}" stroke="#888"/>"##, left + plot_w);
    // Gridlines at each power of ten up to the tallest bar.
    let mut tick = 1u64;
    while tick <= max {
        let y = base_y - height(tick);
        let _ = write!(svg, r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##, left + plot_w);
        let _ = write!(svg, r#"<text x="{}" y="{:.1}" text-anchor="end" class="tick">{tick}</text>"#, left - 4.0, y + 4.0);
        tick = tick.saturating_mul(10);
    }
    let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="end" class="tick">0</text>"#, left - 4.0, base_y + 4.0);
    let slot = plot_w / buckets.len() as f64;
    for (i, b) in buckets.iter().enumerate() {
        let x = left + slot * i as f64;
        let bar_h = height(b.count);
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
        if b.count > 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="count">{}</text>"#,
                x + slot / 2.0,
                base_y - bar_h - 3.0,
                b.count
            );
        }
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
        r#"<text x="{}" y="{}" text-anchor="middle" class="axis-label">pairs (log scale) by distance, basis points: (1 − similarity) × 10,000</text></svg>"#,
        left + plot_w / 2.0,
        h - 12.0
    );
    svg
}

/// The share of the plot height for `count` on a log scale where `max` fills it: log(1 + count) /
/// log(1 + max), so 0 is no bar and 1 is still visible.
fn log_height(count: u64, max: u64) -> f64 {
    let denom = (max.max(1) as f64).ln_1p();
    (count as f64).ln_1p() / denom
}

/// p50 and p99 of primary and shadow as paired horizontal bars on one scale.
pub fn latency(id: &str, title: &str, l: &Latency) -> String {
    let (w, h) = (560.0, 200.0);
    let (left, right, top) = (56.0, 80.0, 40.0);
    let plot_w = w - left - right;
    let mut svg = open_svg("latency", id, title, (w, h), left);
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
        // Plot height 160: the tallest bar fills it; 15 of 30 is ln 16 / ln 31 of it on the log scale.
        assert!(svg.contains(r##"height="160.0" fill="#54a24b"><title>0–0.5 bp: 30 pairs"##), "{svg}");
        assert!(svg.contains(r##"height="129.2" fill="#54a24b"><title>0.5–1 bp: 15 pairs"##), "{svg}");
        assert_eq!((log_height(0, 30), log_height(30, 30)), (0.0, 1.0));
        // Gridlines at 1 and 10 (100 is above the tallest bar).
        assert!(svg.contains(r#"class="tick">1</text>"#) && svg.contains(r#"class="tick">10</text>"#));
        assert!(!svg.contains(r#"class="tick">100</text>"#));
        assert!(distance("d", "x", &[]).contains("no scored pairs yet"));
    }

    #[test]
    fn latency_chart_shares_one_scale() {
        let l = Latency { primary_p50: Some(10.0), shadow_p50: Some(20.0), primary_p99: Some(40.0), shadow_p99: None, from_envoy: true };
        let svg = latency("l", "x", &l);
        // Plot width 424 for 40 ms.
        assert!(svg.contains(r##"width="106.0" height="18.0" fill="#4c78a8"><title>primary p50: 10.0 ms"##), "{svg}");
        assert!(svg.contains(r##"width="424.0" height="18.0" fill="#4c78a8"><title>primary p99: 40.0 ms"##), "{svg}");
        assert!(svg.contains("shadow p99: no data"));
    }
}
