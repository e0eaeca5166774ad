//! `report`: from the compare service's stats (and stored samples) to a promotion decision.
//!
//! Reads one snapshot of the admin endpoint, computes per rule and shadow the divergence with its
//! interval, the decision band, latency quantiles, outcome rates and the readiness verdict (all from
//! `shadow_compare::verdict`), adds the most divergent stored samples and the similarity/length
//! correlation when `--db` is given, and prints text, JSON or a self-contained HTML page.
//!
//! Exit codes: 0 ready, 1 not ready, 2 not enough data, 64 usage error, 69 the data could not be read.

pub mod charts;
pub mod correlation;
pub mod excerpt;
pub mod html;
pub mod json;
pub mod model;
pub mod quantiles;
pub mod text;

use crate::admin;
use crate::args::Args;
use crate::sample_store::Store;
use model::Settings;
use shadow_compare::config;
use shadow_compare::verdict::Gate;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub const EXIT_USAGE: u8 = 64;
pub const EXIT_UNAVAILABLE: u8 = 69;

/// The compare service's `promotion` defaults, so the report and the `promotion_ready` gauges agree out of
/// the box.
pub const DEFAULT_GATE: Gate = Gate {
    min_pairs: config::DEFAULT_MIN_PAIRS,
    max_divergence: config::DEFAULT_MAX_DIVERGENCE,
    max_error_rate: config::DEFAULT_MAX_ERROR_RATE,
};
pub const DEFAULT_TOP_SAMPLES: u32 = 5;

pub const USAGE: &str = "shadow-compare report --admin URL [--db FILE] [--format text|json|html] [--min-pairs N]
      [--max-divergence F] [--max-error-rate F] [--baseline SHADOW] [--samples N]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
}

/// Parsed flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub admin: String,
    pub db: Option<String>,
    pub format: Format,
    pub settings: Settings,
}

fn fraction(args: &Args, name: &str, default: f64) -> Result<f64, String> {
    match args.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|f| (0.0..=1.0).contains(f))
            .ok_or_else(|| format!("--{name} '{v}' is not a number in [0, 1]")),
    }
}

pub fn parse_options(argv: &[String]) -> Result<Options, String> {
    let args = Args::parse(
        argv,
        &["admin", "db", "format", "min-pairs", "max-divergence", "max-error-rate", "baseline", "samples"],
    )?;
    if let Some(p) = &args.positional {
        return Err(format!("unexpected argument '{p}'"));
    }
    let admin = args.get("admin").ok_or("--admin is required (e.g. http://127.0.0.1:9901)")?.to_string();
    if !admin.starts_with("http://") {
        return Err(format!("--admin '{admin}' must be an http:// URL"));
    }
    let format = match args.get("format").unwrap_or("text") {
        "text" => Format::Text,
        "json" => Format::Json,
        "html" => Format::Html,
        other => return Err(format!("--format '{other}' is not text, json or html")),
    };
    let min_pairs = match args.get("min-pairs") {
        None => DEFAULT_GATE.min_pairs,
        Some(v) => v.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| format!("--min-pairs '{v}' is not a whole number ≥ 1"))?,
    };
    let gate = Gate {
        min_pairs,
        max_divergence: fraction(&args, "max-divergence", DEFAULT_GATE.max_divergence)?,
        max_error_rate: fraction(&args, "max-error-rate", DEFAULT_GATE.max_error_rate)?,
    };
    let top_samples = match args.get("samples") {
        None => DEFAULT_TOP_SAMPLES,
        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 100).ok_or_else(|| format!("--samples '{v}' is not a number from 0 to 100"))?,
    };
    if args.get("samples").is_some() && args.get("db").is_none() {
        return Err("--samples needs --db".to_string());
    }
    let baseline = args.get("baseline").map(str::to_string);
    if baseline.as_deref() == Some("") {
        return Err("--baseline needs a shadow cluster name".to_string());
    }
    Ok(Options {
        admin,
        db: args.get("db").map(str::to_string),
        format,
        settings: Settings { gate, baseline, top_samples },
    })
}

/// Renders the report in the asked format.
pub fn render(report: &model::Report, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&json::render(report)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Html => html::render(report),
    }
}

pub fn run(argv: &[String]) -> Result<ExitCode, String> {
    let opts = match parse_options(argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shadow-compare report: {e}\nusage: {USAGE}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    match produce(&opts) {
        Ok((text, code)) => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| format!("writing the report: {e}"))?;
            Ok(ExitCode::from(code))
        }
        Err(e) => {
            eprintln!("shadow-compare report: {e}");
            Ok(ExitCode::from(EXIT_UNAVAILABLE))
        }
    }
}

fn produce(opts: &Options) -> Result<(String, u8), String> {
    let snap = admin::fetch(&opts.admin)?;
    if snap.groups.is_empty() {
        return Err(format!("{} has no shadow_compare rule stats: is the compare service loaded?", opts.admin));
    }
    let store = opts.db.as_deref().map(|p| Store::open_ro(Path::new(p))).transpose()?;
    // Without Envoy's quantiles the latencies are interpolated from the buckets: coarser, still usable.
    let envoy_quantiles = quantiles::fetch(&opts.admin).ok();
    let sources = model::Sources { admin: &opts.admin, snapshot: &snap, quantiles: envoy_quantiles.as_ref(), store: store.as_ref() };
    let report = model::build(&sources, &opts.settings)?;
    Ok((render(&report, opts.format), report.outcome().exit_code()))
}
