//! `score`: replays logged pairs offline through the same scoring core the filter uses.
//!
//! Input: JSON Lines, each `{"primary_body": "<raw body>", "shadow_body": "<raw body>"}` or
//! `{"primary": <JSON value>, "shadow": <JSON value>}`; blank lines are skipped. Output: one line per
//! input line, same order: `{"similarity": <number|null>, "divergent": <bool>, "error": <null|reason>}`,
//! plus `"detail"` when there is an error. A line that is neither form is reported on stderr with its line
//! number, gets `"error": "bad_line"` on stdout, and makes the exit code 1; the run goes on.

use crate::args::Args;
use serde::Deserialize;
use serde_json::value::RawValue;
use shadow_compare::score::{
    is_divergent, Kind, Scorer, Tokenizer, DEFAULT_MAX_TOKENS, DEFAULT_THRESHOLD, MAX_MAX_TOKENS,
};
use std::io::Write;
use std::process::ExitCode;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    primary: Option<&'a RawValue>,
    #[serde(borrow)]
    shadow: Option<&'a RawValue>,
    primary_body: Option<String>,
    shadow_body: Option<String>,
}

/// One output line; fields in the documented order.
#[derive(serde::Serialize)]
struct Row {
    similarity: Option<f64>,
    divergent: bool,
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// The two bodies of a line, or why the line is not a pair.
fn bodies<'a>(line: &'a Line<'a>) -> Result<(&'a [u8], &'a [u8]), &'static str> {
    match (line.primary, line.shadow, &line.primary_body, &line.shadow_body) {
        (Some(p), Some(s), None, None) => Ok((p.get().as_bytes(), s.get().as_bytes())),
        (None, None, Some(p), Some(s)) => Ok((p.as_bytes(), s.as_bytes())),
        _ => Err("expected {\"primary\", \"shadow\"} or {\"primary_body\", \"shadow_body\"}"),
    }
}

pub fn run(argv: &[String]) -> Result<ExitCode, String> {
    let args = Args::parse(argv, &["kind", "pointer", "threshold", "tokenizer", "max-tokens"])?;
    let kind_name = args.get("kind").ok_or("--kind is required")?;
    let kind = Kind::parse(kind_name).ok_or_else(|| format!("--kind '{kind_name}' is not cosine, rouge_l or exact"))?;
    let pointer = args.get("pointer").unwrap_or("").to_string();
    shadow_compare::pointer::validate(&pointer).map_err(|e| format!("--pointer: {e}"))?;
    let threshold = match args.get("threshold") {
        None => DEFAULT_THRESHOLD,
        Some(t) => t
            .parse::<f64>()
            .ok()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or_else(|| format!("--threshold '{t}' is not a number in [0, 1]"))?,
    };
    let tokenizer = match args.get("tokenizer") {
        None => Tokenizer::default(),
        Some(t) => Tokenizer::parse(t).ok_or_else(|| format!("--tokenizer '{t}' is not rouge or unicode"))?,
    };
    let max_tokens = match args.get("max-tokens") {
        None => DEFAULT_MAX_TOKENS,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_MAX_TOKENS).contains(n))
            .ok_or_else(|| format!("--max-tokens '{n}' is not a whole number from 1 to {MAX_MAX_TOKENS}"))?,
    };
    let scorer = Scorer { kind, pointer, tokenizer, max_tokens };
    let input = args.read_input()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut bad_lines = 0usize;
    for (n, raw) in input.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Line>(raw).map_err(|e| e.to_string());
        let pair = parsed.as_ref().map_err(Clone::clone).and_then(|l| bodies(l).map_err(str::to_string));
        let row = match pair {
            Ok((p, s)) => match scorer.score(p, s) {
                Ok(sim) => Row { similarity: Some(sim), divergent: is_divergent(sim, threshold), error: None, detail: None },
                Err(e) => Row { similarity: None, divergent: false, error: Some(e.reason()), detail: Some(e.to_string()) },
            },
            Err(why) => {
                bad_lines += 1;
                eprintln!("line {}: {why}", n + 1);
                Row { similarity: None, divergent: false, error: Some("bad_line"), detail: Some(why) }
            }
        };
        let text = serde_json::to_string(&row).map_err(|e| format!("encoding output: {e}"))?;
        writeln!(out, "{text}").map_err(|e| format!("writing output: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing output: {e}"))?;
    Ok(if bad_lines > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
