//! Divergence samples: the pairs people read to see *why* a shadow disagrees.
//!
//! The compare service sends every divergent pair (and a configurable fraction of agreeing ones, for base
//! rates) to a sink as one JSON object. What leaves Envoy is bounded and scrubbed here: a token bucket caps
//! samples per second, bodies are decoded, redacted (configured JSON pointers replaced by `"[REDACTED]"`)
//! and truncated. Headers are never part of a sample.

use crate::config::SamplesConfig;
use crate::decode::decode_body;
use crate::json;
use crate::record::Record;
use crate::score::{Kind, ScoreError};

/// A token bucket: at most `per_second` samples a second, bursts up to the same number.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    tokens: f64,
    last_ms: u64,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter { per_second: f64::from(per_second), tokens: f64::from(per_second), last_ms: 0 }
    }

    /// Takes a token if there is one.
    ///
    /// ```
    /// use shadow_compare::sample::RateLimiter;
    /// let mut r = RateLimiter::new(2);
    /// assert!(r.try_take(1_000) && r.try_take(1_000) && !r.try_take(1_000));
    /// assert!(r.try_take(1_500)); // half a second refills one
    /// ```
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1_000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether an agreeing pair is sampled for base rates: a stable choice per request id, so a request is
/// either always or never sampled, whichever process looks at it.
pub fn sample_agreeing(request_id: &str, fraction: f64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    if fraction >= 1.0 {
        return true;
    }
    // FNV-1a: stable across builds and platforms, unlike a seeded hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in request_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // fmix64 (MurmurHash3's finaliser): FNV alone leaves similar ids with similar high bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h as f64 / u64::MAX as f64) < fraction
}

/// What the compare service knows about a scored pair, for its sample.
pub struct SampleInput<'a> {
    pub rule: &'a str,
    pub shadow: &'a str,
    pub kind: Kind,
    pub result: &'a Result<f64, ScoreError>,
    pub divergent: bool,
    pub primary: &'a Record,
    pub shadow_record: &'a Record,
    pub now_ms: u64,
}

/// The sample's JSON body (see `docs/decision.md` for the fields).
pub fn build(input: &SampleInput<'_>, cfg: &SamplesConfig) -> Vec<u8> {
    let (p_body, p_cut) = render_body(&input.primary.body, &input.primary.content_encoding, cfg);
    let (s_body, s_cut) = render_body(&input.shadow_record.body, &input.shadow_record.content_encoding, cfg);
    let (r_body, r_cut) = render_body(&input.primary.request_body, "", cfg);
    let kind = match input.kind {
        Kind::Cosine => "cosine",
        Kind::RougeL => "rouge_l",
        Kind::Exact => "exact",
    };
    let value = serde_json::json!({
        "request_id": input.primary.request_id,
        "rule": input.rule,
        "shadow": input.shadow,
        "kind": kind,
        "similarity": input.result.as_ref().ok(),
        "divergent": input.divergent,
        "error": input.result.as_ref().err().map(ScoreError::reason),
        "primary_status": input.primary.status,
        "shadow_status": input.shadow_record.status,
        "primary_latency_ms": input.primary.latency_us as f64 / 1_000.0,
        "shadow_latency_ms": input.shadow_record.latency_us as f64 / 1_000.0,
        "timestamp_ms": input.now_ms,
        "method": input.primary.method,
        "path": input.primary.path,
        "primary_body": p_body,
        "shadow_body": s_body,
        "request_body": r_body,
        "truncated": p_cut || s_cut || r_cut,
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Decodes, redacts and truncates one body for a sample. Returns the text and whether it was cut.
fn render_body(body: &[u8], encoding: &str, cfg: &SamplesConfig) -> (String, bool) {
    let decoded = match decode_body(body, encoding, cfg.max_body_bytes.saturating_mul(64).max(1 << 20)) {
        Ok(b) => b,
        Err(e) => return (format!("[undecodable body: {e}]"), false),
    };
    let text = redact(&decoded, &cfg.redact);
    truncate(text, cfg.max_body_bytes)
}

/// Replaces every configured pointer's value with `"[REDACTED]"`. A body that is not JSON cannot hold a
/// pointer and is kept as text; with redaction configured it is withheld entirely, to be safe.
///
/// A valid JSON body that holds none of the pointers is kept as the model wrote it. Checking that takes the
/// scoring scanner one pass per pointer: 74 µs for a 33 KB embedding in V8, where building a `serde_json`
/// tree and writing it out again (1,536 numbers parsed and formatted) took 255, on the main thread, for every
/// sample. Only a body that holds a pointer is rewritten (compact).
///
/// ```
/// use shadow_compare::sample::redact;
/// let out = redact(br#"{"user": {"email": "a@b.c"}, "x": 1}"#, &["/user/email".to_string()]);
/// assert_eq!(out, r#"{"user":{"email":"[REDACTED]"},"x":1}"#);
/// assert_eq!(redact(br#"{"x": [1, 2.50]}"#, &["/user/email".to_string()]), r#"{"x": [1, 2.50]}"#);
/// assert_eq!(redact(b"plain text", &["/user".to_string()]), "[withheld: not JSON, redaction configured]");
/// assert_eq!(redact(b"plain text", &[]), "plain text");
/// ```
pub fn redact(body: &[u8], pointers: &[String]) -> String {
    // `missing_field` comes only after the whole body has been validated.
    let absent = |p: &String| matches!(json::select_raw(body, p), Err(ScoreError::MissingField { .. }));
    if pointers.iter().all(absent) {
        return String::from_utf8_lossy(body).into_owned();
    }
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return "[withheld: not JSON, redaction configured]".to_string();
    };
    for p in pointers {
        if let Some(v) = doc.pointer_mut(p) {
            *v = serde_json::Value::String("[REDACTED]".to_string());
        }
    }
    serde_json::to_string(&doc).unwrap_or_default()
}

/// Cuts `text` to at most `max` bytes at a character boundary.
fn truncate(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut cut = max;
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    (text, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompareConfig;

    fn cfg() -> SamplesConfig {
        let c = CompareConfig::parse(
            br#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "r", "kind": "exact"}],
                 "samples": {"cluster": "sink", "max_body_bytes": 40, "redact": ["/token"]}}"#,
        )
        .unwrap();
        c.samples.unwrap()
    }

    #[test]
    fn builds_a_redacted_truncated_sample() {
        let primary = Record {
            request_id: "r-1".into(),
            method: "POST".into(),
            path: "/classify".into(),
            status: 200,
            latency_us: 12_500,
            body: br#"{"label": "cat", "token": "secret-value"}"#.to_vec(),
            request_body: format!(r#"{{"text": "{}", "token": "t"}}"#, "é".repeat(30)).into_bytes(),
            ..Record::default()
        };
        let shadow = Record { status: 200, latency_us: 20_000, body: br#"{"label": "dog"}"#.to_vec(), ..Record::default() };
        let result = Ok(0.0);
        let input = SampleInput {
            rule: "classify",
            shadow: "v2",
            kind: Kind::Exact,
            result: &result,
            divergent: true,
            primary: &primary,
            shadow_record: &shadow,
            now_ms: 1_700_000_000_000,
        };
        let v: serde_json::Value = serde_json::from_slice(&build(&input, &cfg())).unwrap();
        assert_eq!(v["primary_body"], r#"{"label":"cat","token":"[REDACTED]"}"#);
        // No "/token" in it: kept as the model wrote it.
        assert_eq!(v["shadow_body"], r#"{"label": "dog"}"#);
        assert!(!v["request_body"].as_str().unwrap().contains("secret"));
        assert!(v["request_body"].as_str().unwrap().len() <= 40);
        assert_eq!(v["truncated"], true);
        assert_eq!((v["similarity"].as_f64(), v["error"].is_null()), (Some(0.0), true));
        assert_eq!(v["primary_latency_ms"], 12.5);
        assert_eq!((v["rule"].as_str(), v["shadow"].as_str(), v["kind"].as_str()), (Some("classify"), Some("v2"), Some("exact")));
        assert_eq!(v.as_object().unwrap().len(), 18);
    }

    #[test]
    fn redaction_rewrites_only_bodies_that_hold_a_pointer() {
        let user = ["/user".to_string()];
        // Held under an escaped key, or twice (the last value counts, and neither survives).
        assert_eq!(redact(br#"{"\u0075ser": "s1", "x": 1}"#, &user), r#"{"user":"[REDACTED]","x":1}"#);
        assert_eq!(redact(br#"{"user": "s1", "user": "s2"}"#, &user), r#"{"user":"[REDACTED]"}"#);
        let nested = ["/items/1/user".to_string(), "/absent".to_string()];
        let items = br#"{"items": [{"user": "a"}, {"user": "s"}]}"#;
        assert_eq!(redact(items, &nested), r#"{"items":[{"user":"a"},{"user":"[REDACTED]"}]}"#);
        // Held by none: as written, numbers and spacing included.
        let embedding = r#"{"embedding": [0.10, 1e2], "users": 1}"#;
        assert_eq!(redact(embedding.as_bytes(), &user), embedding);
        // Not JSON, even past the place where the pointer would be: withheld.
        assert_eq!(redact(br#"{"x": {"y": 1}, "z": [1,"#, &user), "[withheld: not JSON, redaction configured]");
        assert_eq!(redact(b"{\"x\": \"\xff\"}", &user), "[withheld: not JSON, redaction configured]");
    }

    #[test]
    fn the_scanner_finds_a_pointer_wherever_serde_does() {
        // The shortcut above is safe only if the scanner never misses a value serde_json's pointer reaches.
        let docs: [&[u8]; 7] = [
            br#"{"user": {"email": "a", "e~m/x": 1}, "items": [0, {"user": 2}], "": {"": 3}}"#,
            br#"{"\u0075ser": {"em\u0061il": "a"}, "items": [[], {}, {"user": null}]}"#,
            br#"{"user": 1, "user": {"email": 2}}"#,
            br#"[{"user": "a"}, {"user": "b"}]"#,
            br#"{"user": "x", "items": "not an array"}"#,
            "{\"\\u00e9\": 1, \"é\": 2, \"a/b\": 3, \"a~b\": 4}".as_bytes(),
            br#""just a string""#,
        ];
        let pointers = [
            "", "/user", "/user/email", "/user/e~0m~1x", "/items/0", "/items/1/user", "/items/01", "/items/-",
            "/items/2/user", "/0/user", "/1/user", "/00/user", "//", "/", "/é", "/a~1b", "/a~0b", "/items/1/user/x",
            "/user/0",
        ];
        for doc in docs {
            let tree: serde_json::Value = serde_json::from_slice(doc).unwrap();
            for p in pointers {
                let serde_finds = tree.pointer(p).is_some();
                let scanner_finds = !matches!(json::select_raw(doc, p), Err(ScoreError::MissingField { .. }));
                assert_eq!(scanner_finds, serde_finds, "{p} in {}", String::from_utf8_lossy(doc));
            }
        }
    }

    #[test]
    fn agreeing_fraction_is_stable_and_close_to_the_fraction() {
        let picked = (0..10_000).filter(|i| sample_agreeing(&format!("req-{i}"), 0.1)).count();
        assert!((800..1_200).contains(&picked), "{picked}");
        assert_eq!(sample_agreeing("abc", 0.1), sample_agreeing("abc", 0.1));
        assert!(!sample_agreeing("abc", 0.0) && sample_agreeing("abc", 1.0));
    }

    #[test]
    fn rate_limiter_refills_over_time_and_caps_bursts() {
        let mut r = RateLimiter::new(10);
        let burst = (0..100).filter(|_| r.try_take(5_000)).count();
        assert_eq!(burst, 10);
        let next_second = (0..100).filter(|_| r.try_take(6_000)).count();
        assert_eq!(next_second, 10);
        assert!(!r.try_take(6_050));
        assert!(r.try_take(6_100));
    }
}
