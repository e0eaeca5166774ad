//! Test-only fault switches, compiled only with the `fault-injection` feature.
//!
//! The failure-isolation tests need the shadow-side capture and the compare service to really die, the way
//! a bug would kill them: a panic, which aborts the VM. A request carrying `x-shadow-compare-fault:
//! capture-panic` kills a shadow-side capture; one whose path contains `/__fault/compare-panic` kills the
//! compare service when its record arrives. The normal build contains none of this.

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
