//! The report for a terminal or a CI log.

use super::excerpt;
use super::model::{BaselineSource, Outcomes, Report, RuleReport, SampleReport, ShadowReport, Verdict};
use shadow_compare::verdict::Rate;
use std::fmt::Write;

/// Characters of each body shown per sample.
const BODY_CHARS: usize = 160;

/// `0.012345` → `1.23%`.
pub fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// `1.25% [1.07%, 1.46%]`.
pub fn interval(r: &Rate) -> String {
    format!("{} [{}, {}]", pct(r.rate), pct(r.lower), pct(r.upper))
}

pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// Model output can hold anything: control characters (a terminal escape sequence) and bidirectional
/// overrides are shown escaped, never passed through.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let g = report.gate;
    let _ = writeln!(out, "shadow-compare report: {}", report.admin);
    let _ = writeln!(
        out,
        "gate: at least {} pairs; divergence upper bound ≤ {}; failure rate upper bound ≤ {}",
        g.min_pairs,
        pct(g.max_divergence),
        pct(g.max_error_rate)
    );
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for rule in &report.rules {
        out.push('\n');
        render_rule(&mut out, rule);
    }
    let outcome = report.outcome();
    let _ = writeln!(out, "\nverdict: {} (exit {})", outcome.label(), outcome.exit_code());
    out
}

fn render_rule(out: &mut String, rule: &RuleReport) {
    let baseline = match &rule.baseline {
        Some((name, BaselineSource::Flag)) => format!(" (baseline: {name}, named by --baseline)"),
        Some((name, BaselineSource::Gauges)) => format!(" (baseline: {name}, the shadow without an excess gauge)"),
        None => String::new(),
    };
    let traffic = if rule.has_traffic() { "" } else { ": no traffic, not part of the decision" };
    let _ = writeln!(out, "rule {}{baseline}{traffic}", rule.rule);
    for s in &rule.shadows {
        render_shadow(out, s, rule.baseline.as_ref().map(|(n, _)| n.as_str()));
    }
}

fn render_shadow(out: &mut String, s: &ShadowReport, baseline: Option<&str>) {
    let detail = s.verdict.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let _ = writeln!(out, "  shadow {}: {}{detail}", s.shadow, s.verdict.label().to_uppercase());
    if s.verdict == Verdict::NoTraffic {
        return;
    }
    let o = &s.outcomes;
    let row = |out: &mut String, name: &str, value: String| {
        let _ = writeln!(out, "    {name:<22} {value}");
    };
    row(out, "pairs", format!("{} (divergent {}, status mismatch {})", o.pairs, o.divergent, o.status_mismatch));
    if let Some(d) = &s.divergence {
        let role = if s.is_baseline { " (noise floor)" } else { "" };
        row(out, "divergence", format!("{}{role}", interval(d)));
    }
    if let (Some(e), Some(b)) = (&s.excess, baseline) {
        row(out, &format!("excess over {b}"), interval(e));
    }
    if let Some(band) = s.band {
        let on = if s.excess.is_some() { "excess upper bound" } else { "upper bound" };
        row(out, "band", format!("{} (on the {on})", band.label()));
    }
    if let Some(f) = &s.failure_rate {
        row(out, "failure rate", format!("{} (missing, errors and unscorable, of pairs + failures)", interval(f)));
    }
    row(out, "outcomes", outcomes_line(o, &s.reasons));
    let l = &s.latency;
    row(
        out,
        if l.from_envoy { "latency ms" } else { "latency ms (buckets)" },
        format!(
            "primary p50 {} p99 {}; shadow p50 {} p99 {}",
            ms(l.primary_p50),
            ms(l.primary_p99),
            ms(l.shadow_p50),
            ms(l.shadow_p99)
        ),
    );
    if !s.gauges.is_empty() {
        let g: Vec<String> = s.gauges.iter().map(|(k, v)| format!("{k} {v}")).collect();
        row(out, "service gauges", g.join(", "));
    }
    if let Some(samples) = &s.samples {
        render_samples(out, samples);
    }
}

/// `of 1200 requests: shadow missing 0.10%, ...`.
pub fn outcomes_line(o: &Outcomes, reasons: &std::collections::BTreeMap<String, u64>) -> String {
    let share = |n: u64| o.share(n).map_or_else(|| "-".to_string(), pct);
    let mut line = format!(
        "of {} requests: shadow missing {}, shadow errors {}, primary missing {}, primary errors {}, dropped {}, compare errors {}",
        o.requests(),
        share(o.shadow_missing),
        share(o.shadow_errors),
        share(o.primary_missing),
        share(o.primary_errors),
        share(o.dropped),
        share(o.compare_errors),
    );
    let nonzero: Vec<String> = reasons.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{r} {n}")).collect();
    if !nonzero.is_empty() {
        let _ = write!(line, " ({})", nonzero.join(", "));
    }
    let _ = write!(line, "; not mirrored {}", o.unmirrored);
    line
}

fn render_samples(out: &mut String, s: &SampleReport) {
    let _ = writeln!(out, "    {:<22} {} stored, {} divergent", "samples", s.tally.stored, s.tally.divergent);
    let _ = writeln!(out, "    {:<22} request body: {}", "similarity vs length", s.vs_request_len.describe());
    let _ = writeln!(out, "    {:<22} primary body: {}", "", s.vs_primary_len.describe());
    if s.top.is_empty() {
        return;
    }
    let _ = writeln!(out, "    most divergent samples:");
    for (i, t) in s.top.iter().enumerate() {
        let x = &t.sample;
        let sim = x.similarity.map_or_else(|| format!("error {}", x.error.as_deref().unwrap_or("?")), |v| format!("similarity {v:.3}"));
        let cut = if x.truncated { "  (bodies truncated by the filter)" } else { "" };
        let _ = writeln!(
            out,
            "      {}. {sim}  {}  {} {}  status {}/{}  latency {:.1}/{:.1} ms{cut}",
            i + 1,
            printable(&x.request_id),
            printable(&x.method),
            printable(&x.path),
            x.primary_status,
            x.shadow_status,
            x.primary_latency_ms,
            x.shadow_latency_ms,
        );
        let (p, sh) = excerpt::pair(&x.primary_body, &x.shadow_body, BODY_CHARS);
        let _ = writeln!(out, "         primary: {}", printable(&p));
        let _ = writeln!(out, "         shadow:  {}", printable(&sh));
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{fixture_report, fixture_store, temp_dir, GATE};
    use super::*;

    #[test]
    fn renders_every_figure_of_the_fixture() {
        let out = render(&fixture_report(GATE, None));
        let expected = [
            "shadow-compare report: http://127.0.0.1:9901",
            "gate: at least 1000 pairs; divergence upper bound ≤ 1.00%; failure rate upper bound ≤ 1.00%",
            "rule classify: no traffic, not part of the decision",
            "  shadow v2: NO TRAFFIC",
            "rule embed (baseline: base, the shadow without an excess gauge)",
            "  shadow base: BASELINE (NOISE FLOOR)",
            "    divergence             1.00% [0.65%, 1.54%] (noise floor)",
            "  shadow v2: NOT READY: divergence upper bound 0.0122 exceeds 0.0100",
            "    pairs                  2000 (divergent 30, status mismatch 5)",
            "    divergence             1.50% [1.05%, 2.13%]",
            "    excess over base       0.50% [-0.20%, 1.22%]",
            "    band                   investigate (on the excess upper bound)",
            "    failure rate           0.35% [0.17%, 0.72%] (missing, errors and unscorable, of pairs + failures)",
            "    outcomes               of 2012 requests: shadow missing 0.20%, shadow errors 0.10%, primary missing 0.05%, \
             primary errors 0.05%, dropped 0.15%, compare errors 0.05% (invalid_json 1); not mirrored 5",
            "    latency ms (buckets)   primary p50 10.0 p99 47.2; shadow p50 22.0 p99 94.4",
            "    service gauges         divergence_ppm 15000, divergence_upper_ppm 21300, excess_divergence_upper_ppm 12200, promotion_ready 0",
            "  shadow v2: NOT ENOUGH DATA: 500 pairs of the 1000 needed",
            "verdict: NOT READY (exit 1)",
        ];
        for line in expected {
            assert!(out.lines().any(|l| l == line), "missing line:\n{line}\nin:\n{out}");
        }
    }

    #[test]
    fn samples_are_shown_side_by_side_with_control_characters_escaped() {
        let dir = temp_dir("text");
        let store = fixture_store(&dir);
        let out = render(&fixture_report(GATE, Some(&store)));
        for line in [
            "    samples                13 stored, 10 divergent",
            "    similarity vs length   request body: Pearson r = -0.974, Spearman ρ = -0.972 (n = 12)",
            "      1. similarity 0.200  r-11  POST /embed  status 200/200  latency 10.0/20.5 ms",
            r#"         primary: {"embedding": [1, 2, 3], "n": 11}"#,
            r"         shadow:  <script>alert('x')</script>\u{1b}[31m",
        ] {
            assert!(out.lines().any(|l| l == line), "missing line:\n{line}\nin:\n{out}");
        }
        assert!(!out.contains('\u{1b}'));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn printable_escapes_controls_and_bidi_overrides() {
        assert_eq!(printable("a\nb\t\u{7}\u{202e}c"), "a\\nb\\t\\u{7}\\u{202e}c");
    }
}
