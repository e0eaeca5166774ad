//! `shadow-compare`: the native companion of the Envoy filter. Same scoring core, offline and around Envoy.
//!
//!   shadow-compare score --kind KIND [--pointer P] [--threshold T] [--tokenizer rouge|unicode] [--max-tokens N]
//!       [FILE|-]
//!   shadow-compare check-config --root-id capture|compare [FILE|-]
//!   shadow-compare watch [--admin URL] [--interval SECONDS] [--once]
//!   shadow-compare collect --db FILE [--listen ADDR]
//!   shadow-compare report --admin URL [--db FILE] [--format text|json|html] [gate flags]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

mod admin;
mod args;
mod check;
mod collect;
mod report;
mod sample_store;
mod score;
mod watch;

use std::process::ExitCode;

/// Every subcommand's usage errors exit with this (sysexits' EX_USAGE), so it never collides with a
/// command's own codes (`score`: 1 = a bad line; `report`: 1 not ready, 2 not enough data).
const EXIT_USAGE: u8 = 64;

const USAGE: &str = "usage:
  shadow-compare score --kind cosine|rouge_l|exact [--pointer P] [--threshold T] [--tokenizer rouge|unicode]
        [--max-tokens N] [FILE|-]
      Scores logged pairs: JSON Lines in, one {\"similarity\", \"divergent\", \"error\"} per line out.
  shadow-compare check-config --root-id capture|compare [FILE|-]
      Validates a plugin configuration exactly as the filter will at startup (exit 1 if invalid).
  shadow-compare watch [--admin URL] [--interval SECONDS] [--once]
      A live table per rule and shadow from Envoy's admin stats (default http://127.0.0.1:9901);
      --once prints it once and exits (1 if the admin endpoint cannot be read).
  shadow-compare collect --db FILE [--listen ADDR] [--max-connections N] [--max-body-bytes N]
      Receives divergence samples (POST /samples) into SQLite; default --listen 127.0.0.1:9902.
  shadow-compare report --admin URL [--db FILE] [--format text|json|html] [--min-pairs N]
        [--max-divergence F] [--max-error-rate F] [--baseline SHADOW] [--samples N]
      Promotion decision per rule and shadow. Exit 0 ready, 1 not ready, 2 not enough data,
      69 the stats or samples could not be read. See docs/decision.md.
Usage errors exit 64.";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(EXIT_USAGE);
    };
    let result = match command.as_str() {
        "score" => score::run(rest),
        "check-config" => check::run(rest),
        "watch" => watch::run(rest),
        "collect" => collect::run(rest),
        "report" => report::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command '{other}'")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("shadow-compare: {message}\n{USAGE}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
