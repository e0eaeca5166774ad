//! Plugin configuration: parsed with serde (unknown fields rejected), then validated and compiled.
//!
//! Two configs, one per plugin: [`CaptureConfig`] for the upstream filter on each cluster, and
//! [`CompareConfig`] for the singleton compare service. Every validation error names the field the way a
//! user wrote it (`rules[2].pointer: must start with '/'`), so a bad deploy stops Envoy with a message
//! that says what to fix.

use crate::score::{Kind, Scorer, Tokenizer, DEFAULT_MAX_TOKENS, DEFAULT_THRESHOLD, MAX_MAX_TOKENS};
use crate::verdict::Gate;
use serde::Deserialize;
use std::fmt;

/// The compare service's default `vm_id`; captures send records to the queue registered there.
pub const DEFAULT_COMPARE_VM_ID: &str = "shadow_compare";
/// The default name of the shared queue between captures and the compare service.
pub const DEFAULT_QUEUE: &str = "shadow_compare.records";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Bodies above this cannot be configured: exact match builds a tree of the selected value (up to ~30x the
/// body for arrays of tiny numbers) on the main thread, and records must stay far below the codec's u32 lengths.
pub const MAX_MAX_BODY_BYTES: usize = 16 << 20;
pub const DEFAULT_PAIR_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MAX_PENDING: usize = 10_000;
pub const DEFAULT_MAX_BACKLOG: usize = 1_000;
pub const DEFAULT_SLICE_MS: u64 = 10;
/// The longest slice a config may ask for. The heartbeat is published between slices, so a capture with the
/// shortest timeout ([`MIN_COMPARE_HEARTBEAT_TIMEOUT_MS`]) must not wait longer than that for one: one-off, 8 s
/// of saturation on 2,000-token texts with `main_thread_percent` 100 and captures timing out at 500 ms counted
/// 29,110 requests `compare_down` with 1,000 ms slices (the service was busy, not down), none with 100, 200 or
/// 300. And every other event on the main thread (admin, xDS, health checks) may wait one slice.
pub const MAX_SLICE_MS: u64 = 100;
/// Half: under a sustained overload the workers, which serve users, keep most of a core that the main thread
/// shares with them. A main thread with a core of its own can give scoring nearly all of it.
pub const DEFAULT_MAIN_THREAD_PERCENT: u64 = 50;
/// Captures stop capturing after this long without a heartbeat from the compare service (see `health`).
pub const DEFAULT_COMPARE_HEARTBEAT_TIMEOUT_MS: u64 = 2_000;
/// Below this, an ordinary pause of the main thread (a config push, a large admin dump) would read as death.
pub const MIN_COMPARE_HEARTBEAT_TIMEOUT_MS: u64 = 500;
pub const DEFAULT_STRIP_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];
pub const DEFAULT_ALLOWED_METHODS: [&str; 2] = ["GET", "POST"];

/// A configuration error: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field path as the user wrote it, e.g. `rules[2].pointer`; empty for a whole-document error.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError { field: field.into(), message: message.into() }
    }

    /// A serde error with the path of the field it happened in (`rules[0].threshold`), or none for
    /// an error in the document itself (not JSON, an unknown top-level field).
    fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
        let path = err.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ConfigError::new(field, err.into_inner().to_string())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Which side of the mirror a capture filter sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The production cluster: observe only.
    Primary,
    /// A shadow cluster: observe, strip secrets, block side-effecting methods.
    Shadow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    role: Option<Role>,
    compare_vm_id: Option<String>,
    queue: Option<String>,
    max_body_bytes: Option<usize>,
    max_request_body_bytes: Option<usize>,
    strip_headers: Option<Vec<String>>,
    allowed_methods: Option<Vec<String>>,
    compare_heartbeat_timeout_ms: Option<u64>,
}

/// The capture filter's validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    pub role: Role,
    pub compare_vm_id: String,
    pub queue: String,
    /// Response bytes copied per response; beyond this the record says truncated.
    pub max_body_bytes: usize,
    /// Request bytes copied for samples; 0 (the default) copies none.
    pub max_request_body_bytes: usize,
    /// Lowercased request headers removed before a shadow request leaves Envoy.
    pub strip_headers: Vec<String>,
    /// Uppercased methods a shadow may receive; others are answered locally.
    pub allowed_methods: Vec<String>,
    /// Stop capturing when the compare service's newest heartbeat is older than this.
    pub compare_heartbeat_timeout_ms: u64,
}

impl CaptureConfig {
    /// Parses and validates the capture plugin's `configuration` JSON.
    ///
    /// ```
    /// use shadow_compare::config::{CaptureConfig, Role};
    /// let c = CaptureConfig::parse(br#"{"role": "shadow"}"#).unwrap();
    /// assert_eq!(c.role, Role::Shadow);
    /// assert_eq!(c.max_body_bytes, 1 << 20);
    /// assert_eq!(c.strip_headers, ["authorization", "cookie", "proxy-authorization"]);
    /// let err = CaptureConfig::parse(br#"{"role": "shadow", "max_body_bytes": 0}"#).unwrap_err();
    /// assert_eq!(err.to_string(), "max_body_bytes: must be between 1 and 16777216");
    /// ```
    pub fn parse(json: &[u8]) -> Result<CaptureConfig, ConfigError> {
        let raw: RawCapture = parse_json(json)?;
        let role = raw.role.ok_or_else(|| ConfigError::new("role", "required: \"primary\" or \"shadow\""))?;
        let compare_vm_id = raw.compare_vm_id.unwrap_or_else(|| DEFAULT_COMPARE_VM_ID.to_string());
        if compare_vm_id.is_empty() {
            return Err(ConfigError::new("compare_vm_id", "must not be empty"));
        }
        let queue = raw.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_string());
        if queue.is_empty() {
            return Err(ConfigError::new("queue", "must not be empty"));
        }
        let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if !(1..=MAX_MAX_BODY_BYTES).contains(&max_body_bytes) {
            return Err(ConfigError::new(
                "max_body_bytes",
                format!("must be between 1 and {MAX_MAX_BODY_BYTES}"),
            ));
        }
        let max_request_body_bytes = raw.max_request_body_bytes.unwrap_or(0);
        if max_request_body_bytes > MAX_MAX_BODY_BYTES {
            return Err(ConfigError::new(
                "max_request_body_bytes",
                format!("must be at most {MAX_MAX_BODY_BYTES}"),
            ));
        }
        let strip_headers = match raw.strip_headers {
            None => DEFAULT_STRIP_HEADERS.iter().map(|h| h.to_string()).collect(),
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, h) in list.iter().enumerate() {
                    if h.is_empty() || !h.bytes().all(is_header_name_byte) {
                        return Err(ConfigError::new(
                            format!("strip_headers[{i}]"),
                            format!("'{h}' is not an HTTP header name"),
                        ));
                    }
                    out.push(h.to_ascii_lowercase());
                }
                out
            }
        };
        let allowed_methods = match raw.allowed_methods {
            None => DEFAULT_ALLOWED_METHODS.iter().map(|m| m.to_string()).collect(),
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, m) in list.iter().enumerate() {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(ConfigError::new(
                            format!("allowed_methods[{i}]"),
                            format!("'{m}' is not an HTTP method"),
                        ));
                    }
                    out.push(m.to_ascii_uppercase());
                }
                out
            }
        };
        let compare_heartbeat_timeout_ms =
            raw.compare_heartbeat_timeout_ms.unwrap_or(DEFAULT_COMPARE_HEARTBEAT_TIMEOUT_MS);
        if !(MIN_COMPARE_HEARTBEAT_TIMEOUT_MS..=3_600_000).contains(&compare_heartbeat_timeout_ms) {
            return Err(ConfigError::new(
                "compare_heartbeat_timeout_ms",
                format!("must be between {MIN_COMPARE_HEARTBEAT_TIMEOUT_MS} and 3600000"),
            ));
        }
        Ok(CaptureConfig {
            role,
            compare_vm_id,
            queue,
            max_body_bytes,
            max_request_body_bytes,
            strip_headers,
            allowed_methods,
            compare_heartbeat_timeout_ms,
        })
    }
}

fn parse_json<'de, T: Deserialize<'de>>(json: &'de [u8]) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(de).map_err(ConfigError::from_serde)?;
    Ok(value)
}

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A shadow cluster as written in config: a bare name, or an object with options.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawShadow {
    Name(String),
    Full(RawShadowFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShadowFull {
    name: String,
    cluster: Option<String>,
    #[serde(default)]
    baseline: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    path_prefix: Option<String>,
    kind: Option<String>,
    pointer: Option<String>,
    threshold: Option<f64>,
    tokenizer: Option<String>,
    max_tokens: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompare {
    primary_cluster: Option<String>,
    shadow_clusters: Option<Vec<RawShadow>>,
    rules: Option<Vec<RawRule>>,
    pair_timeout_ms: Option<u64>,
    max_pending: Option<usize>,
    max_backlog: Option<usize>,
    slice_ms: Option<u64>,
    main_thread_percent: Option<u64>,
    queue: Option<String>,
    samples: Option<RawSamples>,
    promotion: Option<RawPromotion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSamples {
    cluster: Option<String>,
    path: Option<String>,
    authority: Option<String>,
    max_per_second: Option<u32>,
    agree_fraction: Option<f64>,
    max_body_bytes: Option<usize>,
    redact: Option<Vec<String>>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPromotion {
    min_pairs: Option<u64>,
    max_divergence: Option<f64>,
    max_error_rate: Option<f64>,
}

/// Where and how divergence samples are sent (see `sample.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplesConfig {
    /// The Envoy cluster of the sink (e.g. `shadow-compare collect`).
    pub cluster: String,
    pub path: String,
    pub authority: String,
    pub max_per_second: u32,
    /// Fraction of agreeing pairs also sampled, for base rates.
    pub agree_fraction: f64,
    /// Each body in a sample is cut to this many bytes.
    pub max_body_bytes: usize,
    /// JSON pointers whose values are replaced by "[REDACTED]" in every body of a sample.
    pub redact: Vec<String>,
    pub timeout_ms: u64,
}

/// A shadow cluster the compare service scores against production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowCluster {
    /// The `shadow` label in stat names: a closed alphabet.
    pub name: String,
    /// The Envoy cluster name records carry (`xds.cluster_name`). Usually the same as `name`; platforms
    /// generate names such as `outbound|8000||shadow.models.svc.cluster.local` that cannot be labels.
    pub cluster: String,
    /// A second copy of production: its divergence is the noise floor for the candidates.
    pub baseline: bool,
}

/// A comparison rule: which requests, and how to score them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub path_prefix: String,
    pub scorer: Scorer,
    pub threshold: f64,
}

/// The compare service's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    pub primary_cluster: String,
    pub shadow_clusters: Vec<ShadowCluster>,
    pub rules: Vec<Rule>,
    pub pair_timeout_ms: u64,
    pub max_pending: usize,
    /// Records waiting to be scored; past it, new records are dropped (counted).
    pub max_backlog: usize,
    /// How long one scoring slice may hold the main thread before yielding to the event loop.
    pub slice_ms: u64,
    /// How much of the main thread scoring may take while pairs wait; see [`CompareConfig::pause_ms`].
    pub main_thread_percent: u64,
    pub queue: String,
    /// Divergence samples; `None` sends none.
    pub samples: Option<SamplesConfig>,
    /// The gate behind the `promotion_ready` gauges.
    pub promotion: Gate,
}

impl CompareConfig {
    /// Parses and validates the compare service's `configuration` JSON.
    ///
    /// ```
    /// use shadow_compare::config::CompareConfig;
    /// let c = CompareConfig::parse(br#"{
    ///     "primary_cluster": "production_model", "shadow_clusters": ["shadow_model"],
    ///     "rules": [{"name": "embed", "path_prefix": "/embed", "kind": "cosine", "pointer": "/embedding"}]
    /// }"#).unwrap();
    /// assert_eq!(c.rules[0].threshold, 0.85);
    /// assert_eq!(c.max_pending, 10_000);
    /// let err = CompareConfig::parse(br#"{"primary_cluster": "p", "shadow_clusters": ["s"],
    ///     "rules": [{"name": "r", "kind": "cosine", "pointer": "embedding"}]}"#).unwrap_err();
    /// assert_eq!(err.to_string(), "rules[0].pointer: must be empty or start with '/'");
    /// ```
    pub fn parse(json: &[u8]) -> Result<CompareConfig, ConfigError> {
        let raw: RawCompare = parse_json(json)?;
        let primary_cluster =
            raw.primary_cluster.ok_or_else(|| ConfigError::new("primary_cluster", "required"))?;
        // Matched against Envoy's cluster name, never put into a stat name: any cluster name goes.
        check_cluster("primary_cluster", &primary_cluster)?;

        let raw_shadows = raw.shadow_clusters.ok_or_else(|| ConfigError::new("shadow_clusters", "required"))?;
        if raw_shadows.is_empty() {
            return Err(ConfigError::new("shadow_clusters", "must name at least one cluster"));
        }
        let mut shadow_clusters: Vec<ShadowCluster> = Vec::with_capacity(raw_shadows.len());
        for (i, s) in raw_shadows.into_iter().enumerate() {
            let (name, cluster, baseline, field, cluster_field) = match s {
                RawShadow::Name(n) => {
                    let f = format!("shadow_clusters[{i}]");
                    (n.clone(), n, false, f.clone(), f)
                }
                RawShadow::Full(f) => {
                    let cluster_field = format!("shadow_clusters[{i}].{}", if f.cluster.is_some() { "cluster" } else { "name" });
                    (f.name.clone(), f.cluster.unwrap_or(f.name), f.baseline, format!("shadow_clusters[{i}].name"), cluster_field)
                }
            };
            check_name(&field, &name)?;
            check_cluster(&cluster_field, &cluster)?;
            if cluster == primary_cluster {
                return Err(ConfigError::new(cluster_field, "must differ from primary_cluster"));
            }
            if shadow_clusters.iter().any(|s| s.name == name) {
                return Err(ConfigError::new(field, format!("'{name}' is listed twice")));
            }
            if shadow_clusters.iter().any(|s| s.cluster == cluster) {
                return Err(ConfigError::new(cluster_field, format!("cluster '{cluster}' is listed twice")));
            }
            shadow_clusters.push(ShadowCluster { name, cluster, baseline });
        }
        if shadow_clusters.iter().all(|s| s.baseline) {
            return Err(ConfigError::new("shadow_clusters", "at least one cluster must not be a baseline"));
        }

        let raw_rules = raw.rules.ok_or_else(|| ConfigError::new("rules", "required"))?;
        if raw_rules.is_empty() {
            return Err(ConfigError::new("rules", "must hold at least one rule"));
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(raw_rules.len());
        for (i, r) in raw_rules.into_iter().enumerate() {
            let rule = compile_rule(i, r)?;
            if rules.iter().any(|o| o.name == rule.name) {
                return Err(ConfigError::new(format!("rules[{i}].name"), format!("'{}' is used twice", rule.name)));
            }
            rules.push(rule);
        }

        let pair_timeout_ms = raw.pair_timeout_ms.unwrap_or(DEFAULT_PAIR_TIMEOUT_MS);
        if !(1..=3_600_000).contains(&pair_timeout_ms) {
            return Err(ConfigError::new("pair_timeout_ms", "must be between 1 and 3600000"));
        }
        let max_pending = raw.max_pending.unwrap_or(DEFAULT_MAX_PENDING);
        if !(1..=1_000_000).contains(&max_pending) {
            return Err(ConfigError::new("max_pending", "must be between 1 and 1000000"));
        }
        let max_backlog = raw.max_backlog.unwrap_or(DEFAULT_MAX_BACKLOG);
        if !(1..=1_000_000).contains(&max_backlog) {
            return Err(ConfigError::new("max_backlog", "must be between 1 and 1000000"));
        }
        let slice_ms = raw.slice_ms.unwrap_or(DEFAULT_SLICE_MS);
        if !(1..=MAX_SLICE_MS).contains(&slice_ms) {
            return Err(ConfigError::new("slice_ms", format!("must be between 1 and {MAX_SLICE_MS}")));
        }
        let main_thread_percent = raw.main_thread_percent.unwrap_or(DEFAULT_MAIN_THREAD_PERCENT);
        if !(1..=100).contains(&main_thread_percent) {
            return Err(ConfigError::new("main_thread_percent", "must be between 1 and 100"));
        }
        let queue = raw.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_string());
        if queue.is_empty() {
            return Err(ConfigError::new("queue", "must not be empty"));
        }
        let samples = raw.samples.map(compile_samples).transpose()?;
        let promotion = compile_promotion(raw.promotion)?;
        Ok(CompareConfig {
            primary_cluster,
            shadow_clusters,
            rules,
            pair_timeout_ms,
            max_pending,
            max_backlog,
            slice_ms,
            main_thread_percent,
            queue,
            samples,
            promotion,
        })
    }

    /// How long scoring pauses after each slice while pairs wait, so that slices take `main_thread_percent` of
    /// the main thread: `slice_ms` · (100 - percent) / percent, rounded up (10 ms by default: half). During
    /// the pause Envoy runs whatever else is ready on the main thread (admin, xDS, health checks). At 100 the
    /// pause is 1 ms, the shortest tick, and slices take nearly all of an otherwise idle main thread.
    pub fn pause_ms(&self) -> u64 {
        let percent = self.main_thread_percent.clamp(1, 100);
        (self.slice_ms * (100 - percent)).div_ceil(percent).max(1)
    }

    /// The first rule whose `path_prefix` matches `path`.
    pub fn rule_for(&self, path: &str) -> Option<(usize, &Rule)> {
        self.rules.iter().enumerate().find(|(_, r)| path.starts_with(&r.path_prefix))
    }
}

pub const DEFAULT_SAMPLES_PATH: &str = "/samples";
pub const DEFAULT_SAMPLES_PER_SECOND: u32 = 10;
pub const DEFAULT_SAMPLE_BODY_BYTES: usize = 4_096;
pub const DEFAULT_SAMPLE_TIMEOUT_MS: u64 = 1_000;
pub const DEFAULT_MIN_PAIRS: u64 = 1_000;
pub const DEFAULT_MAX_DIVERGENCE: f64 = 0.01;
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;

fn compile_samples(raw: RawSamples) -> Result<SamplesConfig, ConfigError> {
    let cluster = raw.cluster.ok_or_else(|| ConfigError::new("samples.cluster", "required"))?;
    if cluster.is_empty() {
        return Err(ConfigError::new("samples.cluster", "must not be empty"));
    }
    let path = raw.path.unwrap_or_else(|| DEFAULT_SAMPLES_PATH.to_string());
    if !path.starts_with('/') {
        return Err(ConfigError::new("samples.path", "must start with '/'"));
    }
    let max_per_second = raw.max_per_second.unwrap_or(DEFAULT_SAMPLES_PER_SECOND);
    if !(1..=10_000).contains(&max_per_second) {
        return Err(ConfigError::new("samples.max_per_second", "must be between 1 and 10000"));
    }
    let agree_fraction = raw.agree_fraction.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&agree_fraction) {
        return Err(ConfigError::new("samples.agree_fraction", format!("{agree_fraction} is outside [0, 1]")));
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_SAMPLE_BODY_BYTES);
    if !(1..=MAX_MAX_BODY_BYTES).contains(&max_body_bytes) {
        return Err(ConfigError::new(
            "samples.max_body_bytes",
            format!("must be between 1 and {MAX_MAX_BODY_BYTES}"),
        ));
    }
    let redact = raw.redact.unwrap_or_default();
    for (i, p) in redact.iter().enumerate() {
        if p.is_empty() {
            return Err(ConfigError::new(format!("samples.redact[{i}]"), "must not be empty (that is the whole body)"));
        }
        crate::pointer::validate(p).map_err(|m| ConfigError::new(format!("samples.redact[{i}]"), m))?;
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_SAMPLE_TIMEOUT_MS);
    if !(1..=60_000).contains(&timeout_ms) {
        return Err(ConfigError::new("samples.timeout_ms", "must be between 1 and 60000"));
    }
    let authority = raw.authority.unwrap_or_else(|| cluster.clone());
    Ok(SamplesConfig { cluster, path, authority, max_per_second, agree_fraction, max_body_bytes, redact, timeout_ms })
}

fn compile_promotion(raw: Option<RawPromotion>) -> Result<Gate, ConfigError> {
    let raw = raw.unwrap_or(RawPromotion { min_pairs: None, max_divergence: None, max_error_rate: None });
    let gate = Gate {
        min_pairs: raw.min_pairs.unwrap_or(DEFAULT_MIN_PAIRS),
        max_divergence: raw.max_divergence.unwrap_or(DEFAULT_MAX_DIVERGENCE),
        max_error_rate: raw.max_error_rate.unwrap_or(DEFAULT_MAX_ERROR_RATE),
    };
    if gate.min_pairs == 0 {
        return Err(ConfigError::new("promotion.min_pairs", "must be at least 1"));
    }
    for (field, v) in [("promotion.max_divergence", gate.max_divergence), ("promotion.max_error_rate", gate.max_error_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(ConfigError::new(field, format!("{v} is outside [0, 1]")));
        }
    }
    Ok(gate)
}

fn compile_rule(i: usize, r: RawRule) -> Result<Rule, ConfigError> {
    let field = |f: &str| format!("rules[{i}].{f}");
    let name = r.name.ok_or_else(|| ConfigError::new(field("name"), "required"))?;
    check_name(&field("name"), &name)?;
    let path_prefix = r.path_prefix.unwrap_or_else(|| "/".to_string());
    if !path_prefix.starts_with('/') {
        return Err(ConfigError::new(field("path_prefix"), "must start with '/'"));
    }
    let kind_name = r.kind.ok_or_else(|| ConfigError::new(field("kind"), "required: cosine, rouge_l or exact"))?;
    let kind = Kind::parse(&kind_name).ok_or_else(|| {
        ConfigError::new(
            field("kind"),
            format!("'{kind_name}' is not one of cosine, rouge_l, exact (or embedding, text_generation, classification)"),
        )
    })?;
    let pointer = r.pointer.unwrap_or_default();
    crate::pointer::validate(&pointer).map_err(|m| ConfigError::new(field("pointer"), m))?;
    let threshold = r.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ConfigError::new(field("threshold"), format!("{threshold} is outside [0, 1]")));
    }
    let tokenizer = match r.tokenizer {
        None => Tokenizer::default(),
        Some(t) => {
            if kind != Kind::RougeL {
                return Err(ConfigError::new(field("tokenizer"), "only applies to kind rouge_l"));
            }
            Tokenizer::parse(&t)
                .ok_or_else(|| ConfigError::new(field("tokenizer"), format!("'{t}' is not one of rouge, unicode")))?
        }
    };
    let max_tokens = match r.max_tokens {
        None => DEFAULT_MAX_TOKENS,
        Some(_) if kind != Kind::RougeL => {
            return Err(ConfigError::new(field("max_tokens"), "only applies to kind rouge_l"));
        }
        Some(n) if !(1..=MAX_MAX_TOKENS).contains(&n) => {
            return Err(ConfigError::new(field("max_tokens"), format!("must be between 1 and {MAX_MAX_TOKENS}")));
        }
        Some(n) => n,
    };
    Ok(Rule { name, path_prefix, scorer: Scorer { kind, pointer, tokenizer, max_tokens }, threshold })
}

/// An Envoy cluster name: non-empty and of sane length (Envoy allows almost any characters).
fn check_cluster(field: &str, cluster: &str) -> Result<(), ConfigError> {
    if cluster.is_empty() || cluster.len() > 1024 {
        return Err(ConfigError::new(field, "must be 1 to 1024 characters"));
    }
    Ok(())
}

/// Names go into stat names: a closed alphabet keeps `stats_tags` regexes and Prometheus labels sound.
fn check_name(field: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 64 {
        return Err(ConfigError::new(field, "must be 1 to 64 characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ConfigError::new(field, format!("'{name}' may only use A-Z a-z 0-9 _ -")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"primary_cluster": "production_model", "shadow_clusters": ["shadow_model"],
        "rules": [{"name": "embed", "path_prefix": "/embed", "kind": "cosine", "pointer": "/embedding"}]}"#;

    fn compare_err(json: &str) -> String {
        match CompareConfig::parse(json.as_bytes()) {
            Ok(c) => format!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn capture_err(json: &str) -> String {
        match CaptureConfig::parse(json.as_bytes()) {
            Ok(c) => format!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn compare_defaults() {
        let c = CompareConfig::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(c.primary_cluster, "production_model");
        assert_eq!(
            c.shadow_clusters,
            vec![ShadowCluster { name: "shadow_model".into(), cluster: "shadow_model".into(), baseline: false }]
        );
        assert_eq!(c.pair_timeout_ms, 10_000);
        assert_eq!(c.max_pending, 10_000);
        assert_eq!(c.max_backlog, 1_000);
        assert_eq!(c.slice_ms, 10);
        assert_eq!((c.main_thread_percent, c.pause_ms()), (50, 10));
        assert_eq!(c.queue, "shadow_compare.records");
        assert_eq!(c.samples, None);
        assert_eq!(c.promotion, Gate { min_pairs: 1_000, max_divergence: 0.01, max_error_rate: 0.01 });
        let r = &c.rules[0];
        assert_eq!((r.name.as_str(), r.path_prefix.as_str(), r.threshold), ("embed", "/embed", 0.85));
        assert_eq!(r.scorer, Scorer::new(Kind::Cosine, "/embedding"));
    }

    #[test]
    fn pause_follows_the_share_of_the_main_thread() {
        let pause = |slice_ms: u64, percent: u64| {
            let json = format!(
                r#"{{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{{"name": "a", "kind": "exact"}}],
                    "slice_ms": {slice_ms}, "main_thread_percent": {percent}}}"#
            );
            CompareConfig::parse(json.as_bytes()).unwrap().pause_ms()
        };
        assert_eq!(pause(10, 100), 1, "the shortest tick: Envoy's other work still runs between slices");
        assert_eq!(pause(10, 50), 10);
        assert_eq!(pause(10, 33), 21, "rounded up: never more than the share");
        assert_eq!(pause(3, 70), 2);
        assert_eq!(pause(10, 90), 2);
        assert_eq!(pause(100, 1), 9_900);
    }

    #[test]
    fn aliases_baselines_and_rule_order() {
        let c = CompareConfig::parse(
            br#"{"primary_cluster": "p", "shadow_clusters": [{"name": "p2", "baseline": true}, "cand"],
                "rules": [{"name": "gen", "path_prefix": "/gen", "kind": "text_generation", "tokenizer": "unicode",
                           "threshold": 0.5, "max_tokens": 50000},
                          {"name": "any", "kind": "classification"}]}"#,
        )
        .unwrap();
        assert!(c.shadow_clusters[0].baseline);
        assert_eq!(c.rules[0].scorer.kind, Kind::RougeL);
        assert_eq!(c.rules[0].scorer.tokenizer, Tokenizer::Unicode);
        assert_eq!(c.rules[0].scorer.max_tokens, 50_000);
        assert_eq!(c.rules[1].scorer.kind, Kind::Exact);
        assert_eq!(c.rules[1].scorer.max_tokens, 10_000);
        assert_eq!(c.rule_for("/generate").map(|(i, _)| i), Some(0));
        assert_eq!(c.rule_for("/classify").map(|(i, _)| i), Some(1));
    }

    /// Every field's error names the field (table-driven).
    #[test]
    fn platform_cluster_names_are_matched_but_never_labels() {
        let c = CompareConfig::parse(
            br#"{"primary_cluster": "outbound|8000||model-v1.ml.svc.cluster.local",
                 "shadow_clusters": [{"name": "v2", "cluster": "outbound|8000||model-v2.ml.svc.cluster.local"}],
                 "rules": [{"name": "any", "kind": "exact"}]}"#,
        )
        .unwrap();
        assert_eq!(c.shadow_clusters[0].name, "v2");
        assert_eq!(c.shadow_clusters[0].cluster, "outbound|8000||model-v2.ml.svc.cluster.local");
    }

    #[test]
    fn compare_errors_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("{}", "primary_cluster: required"),
            (r#"{"primary_cluster": ""}"#, "primary_cluster: must be 1 to 1024 characters"),
            (r#"{"primary_cluster": "p"}"#, "shadow_clusters: required"),
            (r#"{"primary_cluster": "p", "shadow_clusters": []}"#, "shadow_clusters: must name at least one cluster"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s", "x y"]}"#,
             "shadow_clusters[1]: 'x y' may only use A-Z a-z 0-9 _ -"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["p"]}"#, "shadow_clusters[0]: must differ from primary_cluster"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s", "s"]}"#, "shadow_clusters[1]: 's' is listed twice"),
            (r#"{"primary_cluster": "p", "shadow_clusters": [{"name": "s", "baseline": true}]}"#,
             "shadow_clusters: at least one cluster must not be a baseline"),
            (r#"{"primary_cluster": "p", "shadow_clusters": [{"name": "s", "cluster": "p"}]}"#,
             "shadow_clusters[0].cluster: must differ from primary_cluster"),
            (r#"{"primary_cluster": "p", "shadow_clusters": [{"name": "a", "cluster": "c"}, {"name": "b", "cluster": "c"}]}"#,
             "shadow_clusters[1].cluster: cluster 'c' is listed twice"),
            (r#"{"primary_cluster": "p", "shadow_clusters": [{"name": "s", "cluster": ""}]}"#,
             "shadow_clusters[0].cluster: must be 1 to 1024 characters"),
            (r#"{"primary_cluster": "p", "shadow_clusters": [{"name": "s!"}]}"#,
             "shadow_clusters[0].name: 's!' may only use A-Z a-z 0-9 _ -"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"]}"#, "rules: required"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": []}"#, "rules: must hold at least one rule"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"kind": "exact"}]}"#, "rules[0].name: required"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a b", "kind": "exact"}]}"#,
             "rules[0].name: 'a b' may only use A-Z a-z 0-9 _ -"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact"}, {"name": "a", "kind": "exact"}]}"#,
             "rules[1].name: 'a' is used twice"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact", "path_prefix": "x"}]}"#,
             "rules[0].path_prefix: must start with '/'"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a"}]}"#,
             "rules[0].kind: required: cosine, rouge_l or exact"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "bleu"}]}"#,
             "rules[0].kind: 'bleu' is not one of cosine, rouge_l, exact (or embedding, text_generation, classification)"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact", "pointer": "x"}]}"#,
             "rules[0].pointer: must be empty or start with '/'"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact", "threshold": 1.5}]}"#,
             "rules[0].threshold: 1.5 is outside [0, 1]"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact", "threshold": -0.1}]}"#,
             "rules[0].threshold: -0.1 is outside [0, 1]"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact", "tokenizer": "rouge"}]}"#,
             "rules[0].tokenizer: only applies to kind rouge_l"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "rouge_l", "tokenizer": "bpe"}]}"#,
             "rules[0].tokenizer: 'bpe' is not one of rouge, unicode"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "cosine", "max_tokens": 5}]}"#,
             "rules[0].max_tokens: only applies to kind rouge_l"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "rouge_l", "max_tokens": 0}]}"#,
             "rules[0].max_tokens: must be between 1 and 50000"),
            (r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "rouge_l", "max_tokens": 50001}]}"#,
             "rules[0].max_tokens: must be between 1 and 50000"),
        ];
        for (json, want) in cases {
            assert_eq!(&compare_err(json), want, "config: {json}");
        }
        let with = |extra: &str| {
            compare_err(&format!(
                r#"{{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{{"name": "a", "kind": "exact"}}], {extra}}}"#
            ))
        };
        assert_eq!(with(r#""pair_timeout_ms": 0"#), "pair_timeout_ms: must be between 1 and 3600000");
        assert_eq!(with(r#""max_pending": 0"#), "max_pending: must be between 1 and 1000000");
        assert_eq!(with(r#""max_backlog": 0"#), "max_backlog: must be between 1 and 1000000");
        assert_eq!(with(r#""slice_ms": 101"#), "slice_ms: must be between 1 and 100");
        assert_eq!(with(r#""main_thread_percent": 0"#), "main_thread_percent: must be between 1 and 100");
        assert_eq!(with(r#""main_thread_percent": 101"#), "main_thread_percent: must be between 1 and 100");
        assert_eq!(with(r#""queue": """#), "queue: must not be empty");
        assert_eq!(with(r#""samples": {}"#), "samples.cluster: required");
        assert_eq!(with(r#""samples": {"cluster": "sink", "path": "x"}"#), "samples.path: must start with '/'");
        assert_eq!(with(r#""samples": {"cluster": "sink", "max_per_second": 0}"#), "samples.max_per_second: must be between 1 and 10000");
        assert_eq!(with(r#""samples": {"cluster": "sink", "agree_fraction": 2}"#), "samples.agree_fraction: 2 is outside [0, 1]");
        assert_eq!(with(r#""samples": {"cluster": "sink", "max_body_bytes": 0}"#), "samples.max_body_bytes: must be between 1 and 16777216");
        assert_eq!(with(r#""samples": {"cluster": "sink", "redact": ["/a", "b"]}"#), "samples.redact[1]: must be empty or start with '/'");
        assert_eq!(with(r#""samples": {"cluster": "sink", "redact": [""]}"#), "samples.redact[0]: must not be empty (that is the whole body)");
        assert_eq!(with(r#""samples": {"cluster": "sink", "timeout_ms": 0}"#), "samples.timeout_ms: must be between 1 and 60000");
        assert!(with(r#""samples": {"cluster": "sink", "rate": 1}"#).starts_with("samples.rate: unknown field"));
        assert_eq!(with(r#""promotion": {"min_pairs": 0}"#), "promotion.min_pairs: must be at least 1");
        assert_eq!(with(r#""promotion": {"max_divergence": 1.5}"#), "promotion.max_divergence: 1.5 is outside [0, 1]");
        assert_eq!(with(r#""promotion": {"max_error_rate": -1}"#), "promotion.max_error_rate: -1 is outside [0, 1]");
        assert!(with(r#""pair_timeout": 5"#).starts_with("pair_timeout: unknown field `pair_timeout`"));
        assert!(with(r#""max_pending": "ten""#).starts_with("max_pending: invalid type: string \"ten\""));
        assert!(compare_err(r#"{"primary_cluster": "p", "shadow_clusters": ["s"], "rules": [{"name": "a", "kind": "exact", "treshold": 1}]}"#)
            .starts_with("rules[0].treshold: unknown field `treshold`"));
        assert!(compare_err("not json").starts_with("expected ident"));
    }

    #[test]
    fn capture_errors_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("{}", "role: required: \"primary\" or \"shadow\""),
            (r#"{"role": "primary", "max_body_bytes": 0}"#, "max_body_bytes: must be between 1 and 16777216"),
            (r#"{"role": "primary", "max_request_body_bytes": 100000000}"#, "max_request_body_bytes: must be at most 16777216"),
            (r#"{"role": "shadow", "strip_headers": ["x-ok", "bad header"]}"#,
             "strip_headers[1]: 'bad header' is not an HTTP header name"),
            (r#"{"role": "shadow", "allowed_methods": ["GET", "P0ST"]}"#, "allowed_methods[1]: 'P0ST' is not an HTTP method"),
            (r#"{"role": "shadow", "compare_vm_id": ""}"#, "compare_vm_id: must not be empty"),
            (
                r#"{"role": "shadow", "compare_heartbeat_timeout_ms": 100}"#,
                "compare_heartbeat_timeout_ms: must be between 500 and 3600000",
            ),
            (r#"{"role": "shadow", "queue": ""}"#, "queue: must not be empty"),
        ];
        for (json, want) in cases {
            assert_eq!(&capture_err(json), want, "config: {json}");
        }
        assert!(capture_err(r#"{"role": "canary"}"#).starts_with("role: unknown variant `canary`"));
        assert!(capture_err(r#"{"role": "shadow", "strip": []}"#).starts_with("strip: unknown field `strip`"));
        let c = CaptureConfig::parse(br#"{"role": "shadow", "strip_headers": ["X-Api-Key"], "allowed_methods": ["post"]}"#).unwrap();
        assert_eq!(c.strip_headers, ["x-api-key"]);
        assert_eq!(c.allowed_methods, ["POST"]);
    }
}
