//! One entry point for every comparison kind: select the field from each body, score, and say why not.
//!
//! A rule names a kind, a JSON pointer and (for text) a tokenizer. [`Scorer::score`] takes the two raw
//! response bodies and returns a similarity in [0, 1], or a [`ScoreError`] whose [`ScoreError::reason`] is one
//! of the closed set of stat reasons.

use std::fmt;

/// What a rule compares. Serialised names are the stats/config names; the aliases are what ML teams call them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum Kind {
    #[serde(rename = "cosine", alias = "embedding")]
    Cosine,
    #[serde(rename = "rouge_l", alias = "text_generation")]
    RougeL,
    #[serde(rename = "exact", alias = "classification")]
    Exact,
}

impl Kind {
    /// Parses a kind name or alias as users write it in config and on the command line.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "cosine" | "embedding" => Some(Kind::Cosine),
            "rouge_l" | "text_generation" => Some(Kind::RougeL),
            "exact" | "classification" => Some(Kind::Exact),
            _ => None,
        }
    }
}

/// How `rouge_l` splits text into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// `rouge-score` 0.1.2 exactly: lowercase, `[a-z0-9]+` runs, NLTK Porter stemming of tokens longer than 3.
    #[default]
    Rouge,
    /// Extension: Unicode word boundaries, each CJK character its own token.
    Unicode,
}

impl Tokenizer {
    pub fn parse(name: &str) -> Option<Tokenizer> {
        match name {
            "rouge" => Some(Tokenizer::Rouge),
            "unicode" => Some(Tokenizer::Unicode),
            _ => None,
        }
    }
}

/// Why a pair could not be scored. Each variant maps to one stat reason (`compare_errors.reason.<reason>`).
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreError {
    /// The body (or the selected value) is not valid JSON. `detail` says where.
    InvalidJson { detail: String },
    /// The pointer names a member or index that the document does not have.
    MissingField { pointer: String },
    /// The selected value has the wrong JSON type (e.g. a string where an array of numbers is expected).
    TypeMismatch { pointer: String, expected: &'static str },
    /// Two embeddings of different lengths.
    DimensionMismatch { primary: usize, shadow: usize },
    /// A body was cut at `max_body_bytes` (or decoded past its bound), so it cannot be scored fairly.
    BodyTooLarge,
    /// A `content-encoding` that the filter cannot decode.
    UnsupportedEncoding { encoding: String },
    /// A text for `rouge_l` has more than `max` tokens: its LCS would hold the main thread too long.
    TooManyTokens { side: &'static str, max: usize },
}

impl ScoreError {
    /// The stat reason segment: a closed set, safe to put into a stat name.
    pub fn reason(&self) -> &'static str {
        match self {
            ScoreError::InvalidJson { .. } => "invalid_json",
            ScoreError::MissingField { .. } => "missing_field",
            ScoreError::TypeMismatch { .. } => "type_mismatch",
            ScoreError::DimensionMismatch { .. } => "dimension_mismatch",
            ScoreError::BodyTooLarge => "body_too_large",
            ScoreError::UnsupportedEncoding { .. } => "unsupported_encoding",
            ScoreError::TooManyTokens { .. } => "too_many_tokens",
        }
    }

    /// Every reason, in a fixed order: stats are defined for all of them at configure time.
    pub const REASONS: [&'static str; 7] = [
        "invalid_json",
        "missing_field",
        "type_mismatch",
        "dimension_mismatch",
        "body_too_large",
        "unsupported_encoding",
        "too_many_tokens",
    ];
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScoreError::InvalidJson { detail } => write!(f, "invalid_json: {detail}"),
            ScoreError::MissingField { pointer } => write!(f, "missing_field: nothing at '{pointer}'"),
            ScoreError::TypeMismatch { pointer, expected } => {
                write!(f, "type_mismatch: '{pointer}' is not {expected}")
            }
            ScoreError::DimensionMismatch { primary, shadow } => {
                write!(f, "dimension_mismatch: primary has {primary} dimensions, shadow {shadow}")
            }
            ScoreError::BodyTooLarge => write!(f, "body_too_large: body exceeded max_body_bytes"),
            ScoreError::UnsupportedEncoding { encoding } => {
                write!(f, "unsupported_encoding: content-encoding '{encoding}'")
            }
            ScoreError::TooManyTokens { side, max } => {
                write!(f, "too_many_tokens: the {side} text has more than {max} tokens (max_tokens)")
            }
        }
    }
}

impl std::error::Error for ScoreError {}

/// The default divergence threshold: a pair diverges when its similarity is below it.
pub const DEFAULT_THRESHOLD: f64 = 0.85;

/// The default `max_tokens`: the most tokens either text of a `rouge_l` pair may have.
///
/// The LCS takes time in the product of the two lengths (length · length / 64 word operations), on Envoy's
/// main thread, and a pair cannot be cut into slices. One-off, in node's V8 (the scoring bench built for
/// wasm32): a pair of 2,000-token texts took 0.32 ms, 10,000 tokens 4.1 ms, 20,000 tokens 14.7 ms, 50,000
/// tokens 87 ms; in Envoy, a pair of ~1 MB texts (130,000 tokens each, under `max_body_bytes`' default) took
/// ~0.6 s. Ten thousand tokens (runs of letters and digits: about ten thousand words) is a long answer, and a
/// pair of them fits in one 10 ms slice.
pub const DEFAULT_MAX_TOKENS: usize = 10_000;
/// The largest `max_tokens` a rule may set: a pair may then hold the main thread ~0.1 s.
pub const MAX_MAX_TOKENS: usize = 50_000;

/// A compiled comparison: what to select and how to score it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorer {
    pub kind: Kind,
    /// RFC 6901 JSON pointer; `""` selects the whole body.
    pub pointer: String,
    pub tokenizer: Tokenizer,
    /// `rouge_l` only: a text with more tokens is not scored ([`ScoreError::TooManyTokens`]).
    pub max_tokens: usize,
}

impl Scorer {
    /// A scorer with the default tokenizer and `max_tokens`.
    pub fn new(kind: Kind, pointer: &str) -> Scorer {
        Scorer { kind, pointer: pointer.to_string(), tokenizer: Tokenizer::default(), max_tokens: DEFAULT_MAX_TOKENS }
    }

    /// Scores two raw response bodies. See the module docs of each kind for the exact semantics.
    pub fn score(&self, primary: &[u8], shadow: &[u8]) -> Result<f64, ScoreError> {
        match self.kind {
            Kind::Cosine => crate::cosine::score_bodies(primary, shadow, &self.pointer),
            Kind::RougeL => {
                let a = crate::pointer::select_text(primary, &self.pointer)?;
                let b = crate::pointer::select_text(shadow, &self.pointer)?;
                crate::rouge::rouge_l_bounded(&a, &b, self.tokenizer, self.max_tokens)
            }
            Kind::Exact => crate::exact::score_bodies(primary, shadow, &self.pointer),
        }
    }
}

/// Whether a similarity counts as divergent under `threshold`.
pub fn is_divergent(similarity: f64, threshold: f64) -> bool {
    similarity < threshold
}
