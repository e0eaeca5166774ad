//! Envoy's own histogram quantiles, for the latency figures.
//!
//! Envoy keeps histograms in fine log-linear bins and computes p50/p99 from them; the bucket counts of
//! `histogram_buckets=cumulative` only exist at the configured bounds (by default 25, 50, 100, 250 ms...),
//! so a quantile interpolated between two of them can be off by tens of milliseconds. The report asks for
//! both and prefers these; the buckets still draw the distance chart.

use crate::admin;
use std::collections::BTreeMap;

/// p50 and p99 of one histogram (since start), `None` when it has no samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// Quantiles by histogram name (without Envoy's `wasmcustom.` prefix).
pub type ByName = BTreeMap<String, Quantiles>;

/// Parses `/stats?format=json` (summary mode): `{"histograms": {"supported_quantiles": [...],
/// "computed_quantiles": [{"name", "values": [{"cumulative", "interval"}...]}]}}`. Anything else (an Envoy
/// that answers differently) yields no quantiles, and the report falls back to the buckets.
pub fn parse(text: &str) -> ByName {
    let mut out = ByName::new();
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else { return out };
    let Some(entries) = doc.get("stats").and_then(|s| s.as_array()) else { return out };
    for entry in entries {
        let Some(h) = entry.get("histograms").filter(|h| h.is_object()) else { continue };
        let Some(supported) = h.get("supported_quantiles").and_then(|s| s.as_array()) else { continue };
        let position = |q: f64| supported.iter().position(|s| s.as_f64() == Some(q));
        let (Some(i50), Some(i99)) = (position(50.0), position(99.0)) else { continue };
        for hist in h.get("computed_quantiles").and_then(|c| c.as_array()).into_iter().flatten() {
            let Some(name) = hist.get("name").and_then(|n| n.as_str()) else { continue };
            let values = hist.get("values").and_then(|v| v.as_array());
            let at = |i: usize| values.and_then(|v| v.get(i)).and_then(|v| v.get("cumulative")).and_then(|c| c.as_f64());
            let short = name.strip_prefix("wasmcustom.").unwrap_or(name);
            out.insert(short.to_string(), Quantiles { p50: at(i50), p99: at(i99) });
        }
    }
    out
}

/// Reads the quantiles of every shadow_compare histogram from an admin URL.
pub fn fetch(admin_url: &str) -> Result<ByName, String> {
    let body = admin::http_get(admin_url, "/stats?format=json&filter=%5Ewasmcustom%5C.shadow_compare%5C.rule%5C.")?;
    Ok(parse(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_p50_and_p99_by_position_and_skips_empty_histograms() {
        let text = r#"{"stats": [{"histograms": {
            "supported_quantiles": [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
            "computed_quantiles": [
              {"name": "wasmcustom.shadow_compare.rule.g.shadow.s.shadow_latency_ms",
               "values": [{"cumulative": 1}, {"cumulative": 10.9}, {"cumulative": 21.8}, {"cumulative": 54},
                          {"cumulative": 59}, {"cumulative": 63}, {"cumulative": 66.5}, {"cumulative": 67},
                          {"cumulative": 70}, {"cumulative": 70.5}]},
              {"name": "wasmcustom.shadow_compare.rule.g.shadow.s.primary_latency_ms",
               "values": [{"cumulative": null, "interval": null}]}]}}]}"#;
        let q = parse(text);
        assert_eq!(q["shadow_compare.rule.g.shadow.s.shadow_latency_ms"], Quantiles { p50: Some(21.8), p99: Some(66.5) });
        assert_eq!(q["shadow_compare.rule.g.shadow.s.primary_latency_ms"], Quantiles::default());
        // The cumulative-buckets form carries no quantiles.
        assert!(parse(r#"{"stats": [{"histograms": [{"name": "x", "buckets": []}]}]}"#).is_empty());
        assert!(parse("not json").is_empty());
    }
}
