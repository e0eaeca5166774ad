//! Reading shadow-compare's stats from Envoy's admin endpoint: one snapshot, grouped by rule and shadow.
//!
//! `GET /stats?format=json&filter=^wasmcustom\.shadow_compare\.&histogram_buckets=cumulative` gives
//! counters, gauges and histograms with cumulative buckets (Envoy's default bounds unless the bootstrap
//! says otherwise). Histograms are per stats flush: quantiles estimated here are over the whole process
//! lifetime (cumulative counts), interpolated within a bucket.

use shadow_compare::stats;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A histogram as cumulative buckets: (upper bound, count of samples ≤ bound), bounds ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |b| b.1)
    }

    /// The `q` quantile (0..=1), linearly interpolated inside the bucket that holds it. `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut prev = (0.0f64, 0u64);
        for &(bound, cum) in &self.buckets {
            if cum as f64 >= target {
                let in_bucket = (cum - prev.1) as f64;
                let frac = if in_bucket > 0.0 { (target - prev.1 as f64) / in_bucket } else { 1.0 };
                return Some(prev.0 + (bound - prev.0) * frac);
            }
            prev = (bound, cum);
        }
        Some(prev.0)
    }
}

/// The per-(rule, shadow) stats of one snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub counters: BTreeMap<String, u64>,
    /// compare_errors by reason.
    pub reasons: BTreeMap<String, u64>,
    pub histograms: BTreeMap<String, Histogram>,
}

impl Group {
    pub fn counter(&self, metric: &str) -> u64 {
        self.counters.get(metric).copied().unwrap_or(0)
    }

    pub fn histogram(&self, metric: &str) -> Histogram {
        self.histograms.get(metric).cloned().unwrap_or_default()
    }

    pub fn compare_errors(&self) -> u64 {
        self.reasons.values().sum()
    }
}

/// One read of the admin endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Keyed by (rule, shadow).
    pub groups: BTreeMap<(String, String), Group>,
    /// Stats that are not per rule and shadow, by full name without the `wasmcustom.` prefix.
    pub global: BTreeMap<String, u64>,
}

impl Snapshot {
    /// Parses `/stats?format=json` output.
    pub fn from_json(text: &str) -> Result<Snapshot, String> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("admin stats are not JSON: {e}"))?;
        let mut snap = Snapshot::default();
        let entries = doc.get("stats").and_then(|s| s.as_array()).ok_or("admin stats have no 'stats' array")?;
        for entry in entries {
            if let (Some(name), Some(value)) = (entry.get("name").and_then(|n| n.as_str()), entry.get("value")) {
                let value = value.as_u64().unwrap_or(0);
                snap.add_value(name, value);
            }
            if let Some(hists) = entry.get("histograms").and_then(|h| h.as_array()) {
                for h in hists {
                    let Some(name) = h.get("name").and_then(|n| n.as_str()) else { continue };
                    let buckets = h
                        .get("buckets")
                        .and_then(|b| b.as_array())
                        .map(|bs| {
                            bs.iter()
                                .filter_map(|b| {
                                    Some((b.get("upper_bound")?.as_f64()?, b.get("cumulative")?.as_u64()?))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some((key, metric)) = split_name(name) {
                        snap.groups.entry(key).or_default().histograms.insert(metric, Histogram { buckets });
                    }
                }
            }
        }
        Ok(snap)
    }

    fn add_value(&mut self, name: &str, value: u64) {
        let short = name.strip_prefix("wasmcustom.").unwrap_or(name);
        match split_name(name) {
            Some((key, metric)) => {
                let group = self.groups.entry(key).or_default();
                match metric.strip_prefix("reason.").and_then(|r| r.strip_suffix(&format!(".{}", stats::COMPARE_ERRORS))) {
                    Some(reason) => {
                        group.reasons.insert(reason.to_string(), value);
                    }
                    None => {
                        group.counters.insert(metric, value);
                    }
                }
            }
            None => {
                self.global.insert(short.to_string(), value);
            }
        }
    }
}

/// `wasmcustom.shadow_compare.rule.R.shadow.S.METRIC` → ((R, S), METRIC).
fn split_name(name: &str) -> Option<((String, String), String)> {
    let rest = name.strip_prefix("wasmcustom.").unwrap_or(name).strip_prefix(stats::PREFIX)?.strip_prefix(".rule.")?;
    let (rule, rest) = rest.split_once(".shadow.")?;
    let (shadow, metric) = rest.split_once('.')?;
    Some(((rule.to_string(), shadow.to_string()), metric.to_string()))
}

/// Reads a snapshot from an admin URL such as `http://127.0.0.1:9901`.
pub fn fetch(admin: &str) -> Result<Snapshot, String> {
    let body = http_get(admin, "/stats?format=json&filter=%5Ewasmcustom%5C.shadow_compare%5C.&histogram_buckets=cumulative")?;
    Snapshot::from_json(&body)
}

/// A minimal HTTP/1.0 GET over plain TCP (the admin endpoint is local and unencrypted).
pub fn http_get(base: &str, path: &str) -> Result<String, String> {
    let hostport = base.strip_prefix("http://").unwrap_or(base).trim_end_matches('/');
    if base.starts_with("https://") {
        return Err("the admin endpoint is plain http".to_string());
    }
    let mut stream = TcpStream::connect(hostport).map_err(|e| format!("connecting to {hostport}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    // HTTP/1.1: Envoy's admin answers 426 Upgrade Required to HTTP/1.0.
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("writing to {hostport}: {e}"))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| format!("reading from {hostport}: {e}"))?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("malformed HTTP response")?;
    let (head, rest) = raw.split_at_checked(split).ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let body = rest.get(4..).unwrap_or_default();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("GET {path} answered {status}"));
    }
    let chunked = head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    String::from_utf8(body).map_err(|_| format!("GET {path}: the body is not UTF-8"))
}

/// Decodes a chunked HTTP/1.1 body (sizes in hex, each chunk followed by CRLF, a zero-size chunk last).
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunked body")?;
        let (line, rest) = raw.split_at_checked(eol).ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(line);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size '{size_hex}'"))?;
        raw = rest.get(2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        let chunk = raw.get(..size).ok_or("truncated chunked body")?;
        out.extend_from_slice(chunk);
        raw = raw.get(size + 2..).ok_or("truncated chunked body")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"stats": [
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.v2.pairs", "value": 40},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.v2.divergent", "value": 3},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.v2.reason.invalid_json.compare_errors", "value": 2},
        {"name": "wasmcustom.shadow_compare.pending", "value": 5},
        {"histograms": [{"name": "wasmcustom.shadow_compare.rule.embed.shadow.v2.primary_latency_ms",
          "buckets": [{"upper_bound": 5, "cumulative": 10}, {"upper_bound": 10, "cumulative": 30},
                      {"upper_bound": 25, "cumulative": 40}]}]}
    ]}"#;

    #[test]
    fn groups_counters_reasons_and_histograms() {
        let s = Snapshot::from_json(SAMPLE).unwrap();
        let g = &s.groups[&("embed".to_string(), "v2".to_string())];
        assert_eq!((g.counter("pairs"), g.counter("divergent")), (40, 3));
        assert_eq!(g.reasons["invalid_json"], 2);
        assert_eq!(g.compare_errors(), 2);
        assert_eq!(s.global["shadow_compare.pending"], 5);
        let h = g.histogram("primary_latency_ms");
        assert_eq!(h.count(), 40);
        assert_eq!(h.quantile(0.5), Some(7.5));
        assert_eq!(h.quantile(1.0), Some(25.0));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn decodes_chunked_bodies() {
        assert_eq!(dechunk(b"4\r\n{\"a\"\r\n3;ext=1\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n").unwrap(), b"{\"a\": 1}");
        assert!(dechunk(b"a\r\nshort").is_err());
        assert!(dechunk(b"zz\r\n").is_err());
    }
}
