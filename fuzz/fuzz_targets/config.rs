//! Any bytes as either plugin's configuration: an error or a config, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shadow_compare::config::{CaptureConfig, CompareConfig};

fuzz_target!(|data: &[u8]| {
    let _ = CaptureConfig::parse(data);
    if let Ok(c) = CompareConfig::parse(data) {
        assert!(!c.rules.is_empty() && !c.shadow_clusters.is_empty());
    }
});
