//! The report as one JSON document, for pipelines (see `docs/decision.md` for the fields).

use super::correlation::Correlation;
use super::excerpt;
use super::model::{BaselineSource, Report, SampleReport, ShadowReport};
use serde_json::{json, Value};
use shadow_compare::verdict::Rate;

/// Characters of each body in a sample.
const BODY_CHARS: usize = 2_000;

fn rate(r: &Option<Rate>) -> Value {
    match r {
        Some(r) => json!({ "rate": r.rate, "lower": r.lower, "upper": r.upper }),
        None => Value::Null,
    }
}

fn correlation(c: &Correlation) -> Value {
    match *c {
        Correlation::Computed { n, pearson, spearman } => json!({ "n": n, "pearson": pearson, "spearman": spearman }),
        Correlation::NotEnoughSamples { n } => json!({ "n": n, "pearson": null, "spearman": null, "note": c.describe() }),
        Correlation::Constant { n } => json!({ "n": n, "pearson": null, "spearman": null, "note": c.describe() }),
    }
}

fn samples(s: &SampleReport) -> Value {
    let top: Vec<Value> = s
        .top
        .iter()
        .map(|t| {
            let x = &t.sample;
            let (p, sh) = excerpt::pair(&x.primary_body, &x.shadow_body, BODY_CHARS);
            json!({
                "id": t.id,
                "request_id": x.request_id,
                "similarity": x.similarity,
                "error": x.error,
                "method": x.method,
                "path": x.path,
                "primary_status": x.primary_status,
                "shadow_status": x.shadow_status,
                "primary_latency_ms": x.primary_latency_ms,
                "shadow_latency_ms": x.shadow_latency_ms,
                "timestamp_ms": x.timestamp_ms,
                "truncated": x.truncated,
                "primary_body": p,
                "shadow_body": sh,
                "request_body": excerpt::window(&x.request_body, 0, BODY_CHARS),
            })
        })
        .collect();
    json!({
        "stored": s.tally.stored,
        "divergent": s.tally.divergent,
        "similarity_vs_request_length": correlation(&s.vs_request_len),
        "similarity_vs_primary_length": correlation(&s.vs_primary_len),
        "top_divergent": top,
    })
}

fn shadow(s: &ShadowReport) -> Value {
    let o = &s.outcomes;
    let l = &s.latency;
    json!({
        "shadow": s.shadow,
        "baseline": s.is_baseline,
        "verdict": s.verdict.code(),
        "verdict_detail": s.verdict.detail(),
        "pairs": o.pairs,
        "divergent": o.divergent,
        "divergence": rate(&s.divergence),
        "excess_divergence": rate(&s.excess),
        "band": s.band.map(|b| b.label()),
        "failure_rate": rate(&s.failure_rate),
        "requests": o.requests(),
        "counts": {
            "status_mismatch": o.status_mismatch,
            "shadow_missing": o.shadow_missing,
            "primary_missing": o.primary_missing,
            "shadow_errors": o.shadow_errors,
            "primary_errors": o.primary_errors,
            "compare_errors": o.compare_errors,
            "dropped": o.dropped,
            "unmirrored": o.unmirrored,
        },
        "rates": {
            "shadow_missing": o.share(o.shadow_missing),
            "shadow_errors": o.share(o.shadow_errors),
            "primary_missing": o.share(o.primary_missing),
            "primary_errors": o.share(o.primary_errors),
            "dropped": o.share(o.dropped),
            "compare_errors": o.share(o.compare_errors),
        },
        "compare_errors_by_reason": s.reasons,
        "latency_ms": {
            "primary": { "p50": l.primary_p50, "p99": l.primary_p99 },
            "shadow": { "p50": l.shadow_p50, "p99": l.shadow_p99 },
            "source": if l.from_envoy { "envoy_quantiles" } else { "bucket_interpolation" },
        },
        "distance_bp_buckets": s.distance.iter().map(|b| json!({ "lower": b.lower, "upper": b.upper, "count": b.count })).collect::<Vec<_>>(),
        "gauges": s.gauges,
        "samples": s.samples.as_ref().map(samples),
    })
}

pub fn render(report: &Report) -> Value {
    let outcome = report.outcome();
    let rules: Vec<Value> = report
        .rules
        .iter()
        .map(|r| {
            json!({
                "rule": r.rule,
                "traffic": r.has_traffic(),
                "baseline": r.baseline.as_ref().map(|(n, _)| n),
                "baseline_from": r.baseline.as_ref().map(|(_, how)| match how {
                    BaselineSource::Flag => "flag",
                    BaselineSource::Gauges => "gauges",
                }),
                "shadows": r.shadows.iter().map(shadow).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "admin": report.admin,
        "gate": {
            "min_pairs": report.gate.min_pairs,
            "max_divergence": report.gate.max_divergence,
            "max_error_rate": report.gate.max_error_rate,
        },
        "verdict": outcome.code(),
        "exit_code": outcome.exit_code(),
        "notes": report.notes,
        "rules": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{fixture_report, fixture_store, temp_dir, GATE};
    use super::*;

    #[test]
    fn carries_the_decision_and_every_figure() {
        let dir = temp_dir("json");
        let store = fixture_store(&dir);
        let v = render(&fixture_report(GATE, Some(&store)));
        assert_eq!((v["verdict"].as_str(), v["exit_code"].as_u64()), (Some("not_ready"), Some(1)));
        assert_eq!(v["gate"]["min_pairs"], 1_000);
        let embed = &v["rules"][1];
        assert_eq!((embed["rule"].as_str(), embed["baseline"].as_str(), embed["baseline_from"].as_str()), (Some("embed"), Some("base"), Some("gauges")));
        let v2 = &embed["shadows"][1];
        assert_eq!(v2["shadow"], "v2");
        assert_eq!(v2["verdict"], "not_ready");
        assert_eq!(v2["verdict_detail"], "divergence upper bound 0.0122 exceeds 0.0100");
        assert_eq!(v2["divergence"]["upper"].as_f64(), Some(0.021_332_437_825_708_653));
        assert_eq!(v2["excess_divergence"]["rate"].as_f64().map(|r| (r * 1e12).round() / 1e12), Some(0.005));
        assert_eq!(v2["band"], "investigate");
        assert_eq!(v2["requests"], 2_012);
        assert_eq!(v2["counts"]["dropped"], 3);
        assert_eq!(v2["rates"]["shadow_missing"].as_f64(), Some(4.0 / 2012.0));
        assert_eq!(v2["compare_errors_by_reason"]["invalid_json"], 1);
        assert_eq!(v2["latency_ms"]["shadow"]["p50"].as_f64(), Some(22.0));
        assert_eq!(v2["distance_bp_buckets"].as_array().map(Vec::len), Some(13));
        assert_eq!(v2["gauges"]["promotion_ready"], 0);
        let s = &v2["samples"];
        assert_eq!((s["stored"].as_u64(), s["divergent"].as_u64()), (Some(13), Some(10)));
        assert_eq!(s["similarity_vs_request_length"]["n"], 12);
        assert_eq!(s["similarity_vs_request_length"]["spearman"].as_f64().map(|r| (r * 1e9).round()), Some((-139.0 / 143.0 * 1e9f64).round()));
        assert_eq!(s["top_divergent"][0]["request_id"], "r-11");
        assert_eq!(s["top_divergent"][0]["shadow_body"], "<script>alert('x')</script>\u{1b}[31m");
        assert_eq!(v["rules"][0]["traffic"], false);
        assert!(v["rules"][2]["shadows"][0]["samples"]["similarity_vs_request_length"]["note"].as_str().is_some_and(|n| n.starts_with("not enough samples")));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
