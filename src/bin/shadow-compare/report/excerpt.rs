//! Shortening two bodies to show side by side: both cut at the same place, a little before the first
//! character where they differ, so a long common prefix does not push the difference out of view.

/// The two bodies cut to at most `max` characters each (plus `…` marks where text was left out).
///
/// When they first differ further in than a quarter of `max`, both start a quarter of `max` before that
/// point; otherwise both start at the beginning.
pub fn pair(a: &str, b: &str, max: usize) -> (String, String) {
    let first_difference = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let context = max / 4;
    let start = first_difference.saturating_sub(context);
    (window(a, start, max), window(b, start, max))
}

/// `max` characters of `s` from character `start`, with `…` where something was cut.
pub fn window(s: &str, start: usize, max: usize) -> String {
    let total = s.chars().count();
    let start = start.min(total);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(s.chars().skip(start).take(max));
    if start + max < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bodies_are_kept_whole() {
        assert_eq!(pair("cat", "dog", 10), ("cat".to_string(), "dog".to_string()));
    }

    #[test]
    fn a_long_common_prefix_is_skipped_to_show_the_difference() {
        let a = format!("{}X tail", "a".repeat(100));
        let b = format!("{}Y tail", "a".repeat(100));
        let (x, y) = pair(&a, &b, 20);
        assert_eq!(x, "…aaaaaX tail");
        assert_eq!(y, "…aaaaaY tail");
    }

    #[test]
    fn long_bodies_are_cut_on_characters_not_bytes() {
        assert_eq!(window("ééééé", 0, 3), "ééé…");
        assert_eq!(window("ééééé", 2, 2), "…éé…");
        assert_eq!(window("abc", 5, 2), "…");
    }
}
