//! Test-only fault switches, compiled only with the `fault-injection` feature.
//!
//! The failure-isolation tests need the shadow-side capture and the compare service to really die, the way
//! a bug would kill them: a panic, which aborts the VM. A request carrying `x-shadow-compare-fault:
//! capture-panic` kills a shadow-side capture; one whose path contains `/__fault/compare-panic` kills the
//! compare service when its record arrives. The overload tests need a compare service that falls behind on
//! cue: a path containing `/__fault/compare-stall` pauses its scoring (for at most [`STALL_MS`]) until a
//! path containing `/__fault/compare-resume` arrives. The normal build contains none of this.

/// The longest `/__fault/compare-stall` pauses scoring, should the resume never come.
pub const STALL_MS: u64 = 30_000;

/// Header that asks a shadow-side capture to die.
pub const HEADER: &str = "x-shadow-compare-fault";

#[allow(clippy::panic)]
pub fn capture_panic_if_asked(value: Option<&str>) {
    if value == Some("capture-panic") {
        panic!("fault injection: capture-panic");
    }
}

#[allow(clippy::panic)]
pub fn compare_panic_if_asked(item: &[u8]) {
    let needle = b"/__fault/compare-panic";
    if item.windows(needle.len()).any(|w| w == needle) {
        panic!("fault injection: compare-panic");
    }
}

/// Whether a record asks the compare service to pause its scoring (`Some(true)`) or resume it.
pub fn compare_stall_asked(item: &[u8]) -> Option<bool> {
    let has = |needle: &[u8]| item.windows(needle.len()).any(|w| w == needle);
    if has(b"/__fault/compare-stall") {
        Some(true)
    } else if has(b"/__fault/compare-resume") {
        Some(false)
    } else {
        None
    }
}
