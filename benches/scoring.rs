//! Pairs per second of the scoring core (`Scorer::score` on raw response bodies), for `bench/run.py`.
//!
//!     cargo bench --bench scoring -- --input bench/generated/scoring.json [--case NAME]... [--seconds 0.3]
//!
//! The input is what `bench/gen_inputs.py` writes (the Python contender reads the same file). For each case
//! it scores every pair once (warm-up; those scores are printed for the agreement check), then cycles over
//! the pairs until `--seconds` have passed. One JSON object per case on stdout:
//! `{"case", "kind", "pairs_per_sec", "iterations", "seconds", "scores": [...], "errors": [...]}`.

use shadow_compare::score::{Kind, Scorer};
use std::hint::black_box;
use std::time::{Duration, Instant};

struct Case {
    name: String,
    kind: Kind,
    pointer: String,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn load(path: &str) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let cases = doc.get("cases").and_then(|c| c.as_array()).ok_or(format!("{path}: no \"cases\" array"))?;
    cases
        .iter()
        .map(|c| {
            let field = |k: &str| c.get(k).and_then(|v| v.as_str()).ok_or(format!("{path}: a case has no string \"{k}\""));
            let kind = Kind::parse(field("kind")?).ok_or(format!("{path}: unknown kind"))?;
            let pairs = c
                .get("pairs")
                .and_then(|p| p.as_array())
                .ok_or(format!("{path}: a case has no \"pairs\""))?
                .iter()
                .map(|p| match (p.get(0).and_then(|v| v.as_str()), p.get(1).and_then(|v| v.as_str())) {
                    (Some(a), Some(b)) => Ok((a.as_bytes().to_vec(), b.as_bytes().to_vec())),
                    _ => Err(format!("{path}: a pair is not two strings")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Case { name: field("name")?.to_string(), kind, pointer: field("pointer")?.to_string(), pairs })
        })
        .collect()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Cosine => "cosine",
        Kind::RougeL => "rouge_l",
        Kind::Exact => "exact",
    }
}

fn run(case: &Case, seconds: f64) -> serde_json::Value {
    let scorer = Scorer::new(case.kind, &case.pointer);
    // Warm-up pass: caches, page faults, and the scores the harness checks against Python's.
    let mut scores = Vec::with_capacity(case.pairs.len());
    let mut errors = Vec::new();
    for (a, b) in &case.pairs {
        match scorer.score(a, b) {
            Ok(s) => scores.push(serde_json::json!(s)),
            Err(e) => {
                scores.push(serde_json::Value::Null);
                errors.push(e.to_string());
            }
        }
    }
    let budget = Duration::from_secs_f64(seconds);
    let mut iterations: u64 = 0;
    let start = Instant::now();
    // The clock is read once per pass over all pairs, so it costs nothing next to the work.
    let elapsed = loop {
        for (a, b) in &case.pairs {
            let _ = black_box(scorer.score(black_box(a), black_box(b)));
        }
        iterations += case.pairs.len() as u64;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            break elapsed;
        }
    };
    let secs = elapsed.as_secs_f64();
    serde_json::json!({
        "case": case.name,
        "kind": kind_name(case.kind),
        "pairs_per_sec": iterations as f64 / secs,
        "iterations": iterations,
        "seconds": secs,
        "scores": scores,
        "errors": errors,
    })
}

fn main() {
    let mut input = String::from("bench/generated/scoring.json");
    let mut only: Vec<String> = Vec::new();
    let mut seconds = 0.3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--input" => input = args.next().unwrap_or_default(),
            "--case" => only.push(args.next().unwrap_or_default()),
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other => {
                eprintln!("usage: scoring [--input FILE] [--case NAME]... [--seconds S]  (unknown argument '{other}')");
                std::process::exit(2);
            }
        }
    }
    let cases = match load(&input) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scoring: {e} (generate it with: python bench/gen_inputs.py)");
            std::process::exit(1);
        }
    };
    for name in &only {
        if !cases.iter().any(|c| &c.name == name) {
            eprintln!("scoring: no case named '{name}' in {input}");
            std::process::exit(2);
        }
    }
    for case in cases.iter().filter(|c| only.is_empty() || only.contains(&c.name)) {
        println!("{}", run(case, seconds));
    }
}
