//! `check-config`: the filter's own config validation, before deploying.

use crate::args::Args;
use shadow_compare::config::{CaptureConfig, CompareConfig};
use std::process::ExitCode;

pub fn run(argv: &[String]) -> Result<ExitCode, String> {
    let args = Args::parse(argv, &["root-id"])?;
    let json = args.read_input()?;
    let result = match args.get("root-id") {
        Some("capture") => CaptureConfig::parse(&json).map(|_| ()),
        Some("compare") => CompareConfig::parse(&json).map(|_| ()),
        Some(other) => return Err(format!("--root-id '{other}' is neither capture nor compare")),
        None => return Err("--root-id is required".to_string()),
    };
    match result {
        Ok(()) => {
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
