//! `watch`: a live table of shadow-compare's stats from Envoy's admin endpoint, one row per rule and shadow.
//!
//!   shadow-compare watch [--admin http://127.0.0.1:9901] [--interval SECONDS] [--once]
//!
//! Live mode clears the screen and redraws every interval until Ctrl-C; a failed read is shown in place of
//! the table and retried (Envoy may be restarting). `--once` prints the table once, without ANSI codes, for
//! scripts and the demo; it exits 1 with the reason on stderr if the admin endpoint cannot be read.
//!
//! Counters are live; histograms (similarity, latency) only change at Envoy's stats flush
//! (`stats_flush_interval`, 5 s by default), so their columns may trail the pair counts by one flush.
//! Quantiles are Envoy's own, computed from its fine-grained bins (as `report` uses them); only when the
//! admin endpoint gives none are they interpolated from the cumulative buckets, which is coarse at the
//! default bounds.

use crate::admin::{self, Group, Snapshot};
use crate::args::Args;
use crate::report::quantiles::{self, ByName, Quantiles};
use shadow_compare::stats;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:9901";
const DEFAULT_INTERVAL_S: f64 = 1.0;

/// Clear the screen and move the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

const HEADERS: [&str; 10] = [
    "rule",
    "shadow",
    "pairs",
    "divergent",
    "median sim",
    "primary p50/p99 ms",
    "shadow p50/p99 ms",
    "missing",
    "errors",
    "dropped",
];

/// Global stats shown under the table, in this order, when Envoy reports them.
const FOOTER: [(&str, &str); 6] = [
    (stats::RECORDS, "records"),
    (stats::PENDING, "pending"),
    (stats::BACKLOG, "backlog"),
    (stats::UNMATCHED, "unmatched"),
    (stats::LATE, "late"),
    (stats::BAD_RECORDS, "bad records"),
];

pub fn run(argv: &[String]) -> Result<ExitCode, String> {
    // `--once` is the only flag without a value; the shared parser takes `--name value` pairs only.
    let once = argv.iter().any(|a| a == "--once");
    let rest: Vec<String> = argv.iter().filter(|a| *a != "--once").cloned().collect();
    let args = Args::parse(&rest, &["admin", "interval"])?;
    if let Some(p) = &args.positional {
        return Err(format!("unexpected argument '{p}'"));
    }
    let admin_url = args.get("admin").unwrap_or(DEFAULT_ADMIN).to_string();
    let interval = match args.get("interval") {
        None => DEFAULT_INTERVAL_S,
        Some(s) => match s.parse::<f64>() {
            Ok(v) if (0.1..=3600.0).contains(&v) => v,
            _ => return Err(format!("--interval '{s}' must be a number of seconds between 0.1 and 3600")),
        },
    };

    if once {
        return Ok(match read(&admin_url) {
            Ok((snap, q)) => {
                print!("{}", render(&snap, &q));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shadow-compare watch: cannot read stats from {admin_url}: {e}");
                ExitCode::from(1)
            }
        });
    }

    let mut out = std::io::stdout();
    loop {
        let body = match read(&admin_url) {
            Ok((snap, q)) => render(&snap, &q),
            Err(e) => format!("cannot read stats: {e}\n(retrying every {interval} s)\n"),
        };
        let screen = format!(
            "{CLEAR}shadow-compare watch: {admin_url}, every {interval} s (Ctrl-C to quit)\n\n{body}"
        );
        // A closed stdout (e.g. piped into `head`) ends the loop instead of spinning.
        if out.write_all(screen.as_bytes()).and_then(|_| out.flush()).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}

/// One snapshot and Envoy's quantiles; without the quantiles the table falls back to the buckets.
fn read(admin_url: &str) -> Result<(Snapshot, ByName), String> {
    let snap = admin::fetch(admin_url)?;
    Ok((snap, quantiles::fetch(admin_url).unwrap_or_default()))
}

/// The table for one snapshot: a header, one row per (rule, shadow), then a line of global stats.
///
/// Columns: pairs scored; divergent as a percentage of pairs; median similarity, 1 − p50(distance_bp) /
/// 10,000; primary and shadow latency p50/p99 over paired requests; missing (shadow_missing +
/// primary_missing); errors (shadow_errors + compare_errors of every reason); dropped. Quantiles are
/// Envoy's own from `q` where it has them, else interpolated within the snapshot's cumulative buckets.
/// `-` means no data yet.
pub fn render(snap: &Snapshot, q: &ByName) -> String {
    let mut rows: Vec<[String; 10]> = vec![HEADERS.map(String::from)];
    for ((rule, shadow), g) in &snap.groups {
        rows.push(row(rule, shadow, g, q));
    }
    let mut widths = [0usize; 10];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            // Names read left to right; numbers line up on the right.
            if i < 2 {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("{cell:>w$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if snap.groups.is_empty() {
        out.push_str("(no per-rule stats: is the compare service configured in this Envoy?)\n");
    }
    let footer: Vec<String> = FOOTER
        .iter()
        .filter_map(|(name, label)| snap.global.get(*name).map(|v| format!("{label} {v}")))
        .collect();
    if !footer.is_empty() {
        out.push('\n');
        out.push_str(&footer.join(" · "));
        out.push('\n');
    }
    out
}

fn row(rule: &str, shadow: &str, g: &Group, q: &ByName) -> [String; 10] {
    let pairs = g.counter(stats::PAIRS);
    let divergent = if pairs == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * g.counter(stats::DIVERGENT) as f64 / pairs as f64)
    };
    let quantiles = |metric: &str| {
        let envoy = q.get(&stats::rule_stat(rule, shadow, metric)).copied().unwrap_or_default();
        let h = g.histogram(metric);
        Quantiles { p50: envoy.p50.or_else(|| h.quantile(0.5)), p99: envoy.p99.or_else(|| h.quantile(0.99)) }
    };
    let median_similarity = match quantiles(stats::DISTANCE_BP).p50 {
        Some(bp) => format!("{:.4}", 1.0 - bp / 10_000.0),
        None => "-".to_string(),
    };
    let missing = g.counter(stats::SHADOW_MISSING) + g.counter(stats::PRIMARY_MISSING);
    let errors = g.counter(stats::SHADOW_ERRORS) + g.compare_errors();
    [
        rule.to_string(),
        shadow.to_string(),
        pairs.to_string(),
        divergent,
        median_similarity,
        latency(quantiles(stats::PRIMARY_LATENCY_MS)),
        latency(quantiles(stats::SHADOW_LATENCY_MS)),
        missing.to_string(),
        errors.to_string(),
        g.counter(stats::DROPPED).to_string(),
    ]
}

fn latency(q: Quantiles) -> String {
    match (q.p50, q.p99) {
        (Some(p50), Some(p99)) => format!("{p50:.1} / {p99:.1}"),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like Envoy 1.40's `/stats?format=json&histogram_buckets=cumulative`, trimmed to a few buckets.
    const ADMIN_JSON: &str = r#"{"stats": [
        {"name": "wasmcustom.shadow_compare.backlog", "value": 0},
        {"name": "wasmcustom.shadow_compare.pending", "value": 2},
        {"name": "wasmcustom.shadow_compare.records", "value": 412},
        {"name": "wasmcustom.shadow_compare.unmatched", "value": 3},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.pairs", "value": 100},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.divergent", "value": 7},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.shadow_missing", "value": 1},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.primary_missing", "value": 2},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.shadow_errors", "value": 4},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.reason.invalid_json.compare_errors", "value": 2},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.reason.missing_field.compare_errors", "value": 1},
        {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.dropped", "value": 5},
        {"name": "wasmcustom.shadow_compare.rule.predict.shadow.shadow_model.pairs", "value": 0},
        {"histograms": [
          {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.distance_bp",
           "buckets": [{"upper_bound": 0.5, "cumulative": 20}, {"upper_bound": 1, "cumulative": 40},
                       {"upper_bound": 5, "cumulative": 90}, {"upper_bound": 10000, "cumulative": 100}]},
          {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.primary_latency_ms",
           "buckets": [{"upper_bound": 1, "cumulative": 0}, {"upper_bound": 5, "cumulative": 80},
                       {"upper_bound": 10, "cumulative": 100}]},
          {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.shadow_latency_ms",
           "buckets": [{"upper_bound": 5, "cumulative": 50}, {"upper_bound": 10, "cumulative": 90},
                       {"upper_bound": 25, "cumulative": 100}]},
          {"name": "wasmcustom.shadow_compare.rule.predict.shadow.shadow_model.distance_bp",
           "buckets": [{"upper_bound": 0.5, "cumulative": 0}, {"upper_bound": 1, "cumulative": 0}]}
        ]}
    ]}"#;

    #[test]
    fn renders_one_row_per_rule_and_shadow() {
        let snap = Snapshot::from_json(ADMIN_JSON).unwrap();
        // Without Envoy's quantiles, from the buckets. embed: 7/100 divergent; distance p50 falls in (1, 5] at 10 of 50 → 1.8 bp → similarity 0.99982;
        // primary p50 = 1 + 4·50/80 = 3.5, p99 = 5 + 5·19/20 = 9.75; shadow p50 = 5.0, p99 = 10 + 15·9/10 = 23.5;
        // missing 1 + 2; errors 4 shadow + 3 compare. predict has no pairs: dashes.
        let want = "\
rule     shadow        pairs  divergent  median sim  primary p50/p99 ms  shadow p50/p99 ms  missing  errors  dropped
embed    shadow_model    100       7.0%      0.9998           3.5 / 9.8         5.0 / 23.5        3       7        5
predict  shadow_model      0          -           -                   -                  -        0       0        0

records 412 · pending 2 · backlog 0 · unmatched 3
";
        assert_eq!(render(&snap, &ByName::new()), want);
    }

    #[test]
    fn prefers_envoys_own_quantiles() {
        let snap = Snapshot::from_json(ADMIN_JSON).unwrap();
        // Envoy's summary form: p50 at index 2, p99 at index 6 of supported_quantiles. The shadow latency
        // has no samples in Envoy's view here, so that column falls back to the buckets.
        let q = quantiles::parse(
            r#"{"stats": [{"histograms": {"supported_quantiles": [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
              "computed_quantiles": [
                {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.distance_bp",
                 "values": [{"cumulative": 0}, {"cumulative": 0}, {"cumulative": 0.35}, {"cumulative": 1},
                            {"cumulative": 2}, {"cumulative": 3}, {"cumulative": 1900}, {"cumulative": 2000},
                            {"cumulative": 2100}, {"cumulative": 2200}]},
                {"name": "wasmcustom.shadow_compare.rule.embed.shadow.shadow_model.primary_latency_ms",
                 "values": [{"cumulative": 1}, {"cumulative": 2}, {"cumulative": 2.9}, {"cumulative": 3},
                            {"cumulative": 4}, {"cumulative": 5}, {"cumulative": 11.2}, {"cumulative": 12},
                            {"cumulative": 13}, {"cumulative": 14}]}]}}]}"#,
        );
        let want = "\
rule     shadow        pairs  divergent  median sim  primary p50/p99 ms  shadow p50/p99 ms  missing  errors  dropped
embed    shadow_model    100       7.0%      1.0000          2.9 / 11.2         5.0 / 23.5        3       7        5
predict  shadow_model      0          -           -                   -                  -        0       0        0

records 412 · pending 2 · backlog 0 · unmatched 3
";
        assert_eq!(render(&snap, &q), want);
    }

    #[test]
    fn says_so_when_envoy_has_no_shadow_compare_stats() {
        let snap = Snapshot::from_json(r#"{"stats": []}"#).unwrap();
        let want = "\
rule  shadow  pairs  divergent  median sim  primary p50/p99 ms  shadow p50/p99 ms  missing  errors  dropped
(no per-rule stats: is the compare service configured in this Envoy?)
";
        assert_eq!(render(&snap, &ByName::new()), want);
    }
}
