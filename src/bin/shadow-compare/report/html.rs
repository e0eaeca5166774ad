//! The report as one self-contained HTML page: inline CSS and SVG, no script, and a Content-Security-
//! Policy that forbids fetching anything, so the page can be archived as a CI artifact and opened
//! offline. Everything from the model's output or the stats is escaped.

use super::charts;
use super::correlation::Correlation;
use super::excerpt;
use super::model::{BaselineSource, Outcome, Report, RuleReport, SampleReport, ShadowReport, Verdict};
use super::text::{interval, ms, pct};
use shadow_compare::verdict::Band;
use std::fmt::Write;

/// Characters of each body shown per sample.
const BODY_CHARS: usize = 1_200;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id-safe form of a name (rule and cluster names already are; anything else becomes `_`).
pub fn id_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: 600; color: #fff; }
.ready { background: #2e7d32; } .not_ready { background: #c62828; } .not_enough_data { background: #6d6d6d; }
.baseline, .no_traffic { background: #546e7a; }
.band-safe { color: #2e7d32; } .band-investigate { color: #b26a00; } .band-edge { color: #e65100; }
.band-stop { color: #c62828; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { border: 1px solid #eee; background: #fff; }
.chart .chart-title { font-size: 13px; font-weight: 600; } .chart .tick { font-size: 10px; fill: #444; }
.chart .count { font-size: 9px; fill: #333; }
.chart .axis-label, .chart .row-label { font-size: 11px; fill: #444; } .chart .empty { font-size: 13px; fill: #888; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: 12px; max-height: 320px; overflow: auto; }
td.body { width: 50%; } .note { color: #8a4b00; } .muted { color: #666; }
";

fn band_class(b: Band) -> &'static str {
    match b {
        Band::Safe => "band-safe",
        Band::Investigate => "band-investigate",
        Band::EdgeCases => "band-edge",
        Band::DoNotRollOut => "band-stop",
    }
}

fn band_cell(s: &ShadowReport) -> String {
    s.band.map_or_else(|| "-".to_string(), |b| format!(r#"<span class="{}">{}</span>"#, band_class(b), escape(b.label())))
}

fn verdict_badge(v: &Verdict) -> String {
    let detail = v.detail().map(|d| format!(" <span class=\"muted\">{}</span>", escape(&d))).unwrap_or_default();
    format!(r#"<span class="verdict {}">{}</span>{detail}"#, v.code(), escape(v.label()))
}

fn outcome_badge(o: Outcome) -> String {
    format!(r#"<span class="verdict {}">{} (exit {})</span>"#, o.code(), o.label(), o.exit_code())
}

pub fn render(report: &Report) -> String {
    let mut h = String::new();
    let outcome = report.outcome();
    let g = report.gate;
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shadow-compare report</title><style>{STYLE}</style></head><body>
<h1>shadow-compare report</h1>
<p id="verdict">{}</p>
<p class="muted">Stats from <code>{}</code>. Gate: at least {} pairs; upper bound of the divergence (the excess over the
baseline, when there is one) ≤ {}; upper bound of the failure rate ≤ {}. Intervals are 95% (Wilson; Newcombe for the excess).</p>
"#,
        outcome_badge(outcome),
        escape(&report.admin),
        g.min_pairs,
        pct(g.max_divergence),
        pct(g.max_error_rate),
    );
    for note in &report.notes {
        let _ = writeln!(h, r#"<p class="note">{}</p>"#, escape(note));
    }
    summary_table(&mut h, report);
    for rule in &report.rules {
        for s in &rule.shadows {
            shadow_section(&mut h, rule, s);
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn summary_table(h: &mut String, report: &Report) {
    h.push_str(
        r#"<table id="summary"><thead><tr><th>rule</th><th>shadow</th><th>pairs</th><th>divergence [95% CI]</th>
<th>excess over baseline</th><th>band</th><th>failure rate</th><th>p50 ms primary / shadow</th>
<th>p99 ms primary / shadow</th><th>verdict</th></tr></thead><tbody>
"#,
    );
    for rule in &report.rules {
        for s in &rule.shadows {
            let l = &s.latency;
            let _ = writeln!(
                h,
                r##"<tr><td>{}</td><td><a href="#{}">{}</a>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{} / {}</td><td class="num">{} / {}</td><td>{}</td></tr>"##,
                escape(&rule.rule),
                section_id(rule, s),
                escape(&s.shadow),
                if s.is_baseline { " <span class=\"muted\">(baseline)</span>" } else { "" },
                s.outcomes.pairs,
                s.divergence.as_ref().map_or_else(|| "-".to_string(), interval),
                s.excess.as_ref().map_or_else(|| "-".to_string(), interval),
                band_cell(s),
                s.failure_rate.as_ref().map_or_else(|| "-".to_string(), interval),
                ms(l.primary_p50),
                ms(l.shadow_p50),
                ms(l.primary_p99),
                ms(l.shadow_p99),
                verdict_badge(&s.verdict),
            );
        }
    }
    h.push_str("</tbody></table>\n");
}

fn section_id(rule: &RuleReport, s: &ShadowReport) -> String {
    format!("{}-{}", id_part(&rule.rule), id_part(&s.shadow))
}

fn shadow_section(h: &mut String, rule: &RuleReport, s: &ShadowReport) {
    let id = section_id(rule, s);
    let _ = writeln!(
        h,
        r#"<section id="{id}"><h2>rule {} · shadow {}</h2><p>{}</p>"#,
        escape(&rule.rule),
        escape(&s.shadow),
        verdict_badge(&s.verdict)
    );
    if s.verdict == Verdict::NoTraffic {
        h.push_str("<p class=\"muted\">Nothing was mirrored for this rule yet: no charts, not part of the decision.</p></section>\n");
        return;
    }
    if let (true, Some((name, how))) = (s.is_baseline, &rule.baseline) {
        let how = match how {
            BaselineSource::Flag => "named by --baseline",
            BaselineSource::Gauges => "the one shadow without an excess gauge",
        };
        let _ = writeln!(h, r#"<p class="muted">{} is this rule's noise floor ({how}): a second copy of production, not gated.</p>"#, escape(name));
    }
    let _ = writeln!(
        h,
        r#"<div class="charts">{}{}</div>"#,
        charts::distance(&format!("distance-{id}"), &format!("Distance distribution: {} / {}", rule.rule, s.shadow), &s.distance),
        charts::latency(
            &format!("latency-{id}"),
            &format!("Latency, ms{}: {} / {}", if s.latency.from_envoy { "" } else { " (estimated from buckets)" }, rule.rule, s.shadow),
            &s.latency
        ),
    );
    let o = &s.outcomes;
    let share = |n: u64| o.share(n).map_or_else(|| "-".to_string(), pct);
    h.push_str("<h3>Outcomes</h3><table class=\"outcomes\"><thead><tr><th>outcome</th><th>count</th><th>share of requests</th></tr></thead><tbody>\n");
    let rows = [
        ("scored pairs", o.pairs),
        ("divergent (of pairs)", o.divergent),
        ("status mismatch (of pairs)", o.status_mismatch),
        ("shadow missing", o.shadow_missing),
        ("shadow errors", o.shadow_errors),
        ("primary missing", o.primary_missing),
        ("primary errors", o.primary_errors),
        ("dropped", o.dropped),
        ("compare errors", o.compare_errors),
    ];
    for (name, n) in rows {
        let _ = writeln!(h, r#"<tr><td>{name}</td><td class="num">{n}</td><td class="num">{}</td></tr>"#, share(n));
    }
    for (reason, n) in s.reasons.iter().filter(|(_, n)| **n > 0) {
        let _ = writeln!(h, r#"<tr><td>&nbsp;&nbsp;compare error: {}</td><td class="num">{n}</td><td class="num">{}</td></tr>"#, escape(reason), share(*n));
    }
    let _ = writeln!(h, r#"<tr><td>requests (scored + compare errors + missing + errors + dropped)</td><td class="num">{}</td><td></td></tr>"#, o.requests());
    let _ = writeln!(h, r#"<tr><td>not mirrored to this shadow</td><td class="num">{}</td><td></td></tr>"#, o.unmirrored);
    h.push_str("</tbody></table>\n");
    if !s.gauges.is_empty() {
        let g: Vec<String> = s.gauges.iter().map(|(k, v)| format!("{} {v}", escape(k))).collect();
        let _ = writeln!(h, r#"<p class="muted">Compare service gauges: {}</p>"#, g.join(", "));
    }
    if let Some(samples) = &s.samples {
        samples_block(h, &id, samples);
    }
    h.push_str("</section>\n");
}

fn correlation_cell(c: &Correlation) -> String {
    match *c {
        Correlation::Computed { n, pearson, spearman } => {
            format!(r#"<td class="num">{pearson:.3}</td><td class="num">{spearman:.3}</td><td class="num">{n}</td>"#)
        }
        _ => format!(r#"<td colspan="2">{}</td><td class="num">{}</td>"#, escape(&c.describe()), c.n()),
    }
}

fn samples_block(h: &mut String, id: &str, s: &SampleReport) {
    let _ = writeln!(
        h,
        r#"<h3>Samples</h3><p>{} stored, {} divergent. Samples over-represent divergent pairs, so read the correlations as
"where do divergent answers cluster", not as population figures.</p>
<table class="correlation" id="correlation-{id}"><thead><tr><th>similarity vs</th><th>Pearson r</th><th>Spearman ρ</th><th>n</th></tr></thead><tbody>
<tr><td>request body length</td>{}</tr><tr><td>primary response length</td>{}</tr></tbody></table>"#,
        s.tally.stored,
        s.tally.divergent,
        correlation_cell(&s.vs_request_len),
        correlation_cell(&s.vs_primary_len),
    );
    if s.top.is_empty() {
        h.push_str("<p class=\"muted\">No divergent samples stored.</p>\n");
        return;
    }
    let _ = writeln!(h, r#"<table class="samples" id="samples-{id}"><thead><tr><th>primary</th><th>shadow</th></tr></thead><tbody>"#);
    for t in &s.top {
        let x = &t.sample;
        let sim = x.similarity.map_or_else(|| format!("error {}", x.error.as_deref().unwrap_or("?")), |v| format!("similarity {v:.3}"));
        let (p, sh) = excerpt::pair(&x.primary_body, &x.shadow_body, BODY_CHARS);
        let _ = writeln!(
            h,
            r#"<tr><th colspan="2">{} · <code>{}</code> · {} {} · status {}/{} · latency {:.1}/{:.1} ms{}</th></tr>"#,
            escape(&sim),
            escape(&x.request_id),
            escape(&x.method),
            escape(&x.path),
            x.primary_status,
            x.shadow_status,
            x.primary_latency_ms,
            x.shadow_latency_ms,
            if x.truncated { " · bodies truncated by the filter" } else { "" },
        );
        if !x.request_body.is_empty() {
            let _ = writeln!(h, r#"<tr><td colspan="2"><span class="muted">request</span><pre class="request">{}</pre></td></tr>"#, escape(&excerpt::window(&x.request_body, 0, BODY_CHARS)));
        }
        let _ = writeln!(h, r#"<tr><td class="body"><pre>{}</pre></td><td class="body"><pre>{}</pre></td></tr>"#, escape(&p), escape(&sh));
    }
    h.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#"<script>alert("x")</script> & 'y'"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
        assert_eq!(id_part("a b<c>"), "a_b_c_");
    }
}

#[cfg(test)]
mod page_tests {
    use super::super::model::tests::{fixture_report, fixture_store, temp_dir, GATE};
    use super::*;

    #[test]
    fn one_page_with_both_charts_per_shadow_and_nothing_unescaped() {
        let dir = temp_dir("html");
        let store = fixture_store(&dir);
        let page = render(&fixture_report(GATE, Some(&store)));
        for id in ["distance-embed-v2", "latency-embed-v2", "distance-embed-base", "latency-generate-v2"] {
            assert!(page.contains(&format!(r#"<svg id="{id}""#)), "{id}");
        }
        // Two charts per (rule, shadow) with traffic; classify has none.
        assert_eq!(page.matches("<svg ").count(), 6);
        assert!(!page.contains("distance-classify-v2"));
        assert!(page.contains(r#"<span class="verdict not_ready">NOT READY (exit 1)</span>"#));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(!page.contains("<script"));
        for fetch in ["src=", "href=\"http", "url(", "@import", "<link"] {
            assert!(!page.contains(fetch), "the page must fetch nothing: found {fetch}");
        }
        assert!(page.contains(r#"<td class="num">-0.974</td><td class="num">-0.972</td><td class="num">12</td>"#));
        // Distance bars of embed/v2: 1,900 pairs in the first bucket fill the plot.
        assert!(page.contains("<title>0–0.5 bp: 1900 pairs</title>"));
        assert!(page.contains("<title>primary p99: 47.2 ms</title>"));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
