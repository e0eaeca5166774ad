//! Divergence samples: the record the compare service POSTs, checked field by field, and the SQLite
//! file `collect` writes them to and `report --db` reads them from.
//!
//! One table, `samples`, one row per POST, indexed on (rule, shadow, timestamp_ms) for the per-shadow
//! queries of the report. WAL mode: `report` reads while `collect` writes, and a killed `collect` loses
//! nothing it had answered 200 for.

use rusqlite::{params, Connection, OpenFlags};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::Path;
use std::time::Duration;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS samples (
    id                 INTEGER PRIMARY KEY,
    received_ms        INTEGER NOT NULL,
    request_id         TEXT    NOT NULL,
    rule               TEXT    NOT NULL,
    shadow             TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    similarity         REAL,
    divergent          INTEGER NOT NULL,
    error              TEXT,
    primary_status     INTEGER NOT NULL,
    shadow_status      INTEGER NOT NULL,
    primary_latency_ms REAL    NOT NULL,
    shadow_latency_ms  REAL    NOT NULL,
    timestamp_ms       INTEGER NOT NULL,
    method             TEXT    NOT NULL,
    path               TEXT    NOT NULL,
    primary_body       TEXT    NOT NULL,
    shadow_body        TEXT    NOT NULL,
    request_body       TEXT    NOT NULL,
    truncated          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_rule_shadow_time ON samples (rule, shadow, timestamp_ms);
";

/// The scorer that produced a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    Cosine,
    RougeL,
    Exact,
}

impl SampleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Cosine => "cosine",
            SampleKind::RougeL => "rouge_l",
            SampleKind::Exact => "exact",
        }
    }
}

/// One sample, exactly as the compare service sends it: every field required (nullable ones as
/// `null`), no others.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub request_id: String,
    pub rule: String,
    pub shadow: String,
    pub kind: SampleKind,
    #[serde(deserialize_with = "present")]
    pub similarity: Option<f64>,
    pub divergent: bool,
    #[serde(deserialize_with = "present")]
    pub error: Option<String>,
    pub primary_status: u16,
    pub shadow_status: u16,
    pub primary_latency_ms: f64,
    pub shadow_latency_ms: f64,
    pub timestamp_ms: u64,
    pub method: String,
    pub path: String,
    pub primary_body: String,
    pub shadow_body: String,
    pub request_body: String,
    pub truncated: bool,
}

/// A nullable field that must still be present: `deserialize_with` turns off serde's "missing Option
/// means None", so a record without `similarity` is rejected rather than read as an error sample.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

impl Sample {
    /// Parses and checks one POST body. The error names the field: `similarity: invalid type: ...`,
    /// `missing field `rule``, `unknown field `foo``, `rule: ...`.
    pub fn parse(body: &[u8]) -> Result<Sample, String> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let sample: Sample = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            }
        })?;
        sample.check()?;
        Ok(sample)
    }

    fn check(&self) -> Result<(), String> {
        if self.request_id.is_empty() {
            return Err("request_id: must not be empty".to_string());
        }
        // Rule and cluster names come from the filter's config, whose alphabet is closed.
        for (field, name) in [("rule", &self.rule), ("shadow", &self.shadow)] {
            if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(format!("{field}: '{name}' is not a rule or cluster name (1 to 64 of A-Z a-z 0-9 _ -)"));
            }
        }
        for (field, ms) in [("primary_latency_ms", self.primary_latency_ms), ("shadow_latency_ms", self.shadow_latency_ms)] {
            if !(ms >= 0.0 && ms.is_finite()) {
                return Err(format!("{field}: {ms} is not a duration in milliseconds"));
            }
        }
        if i64::try_from(self.timestamp_ms).is_err() {
            return Err(format!("timestamp_ms: {} is out of range", self.timestamp_ms));
        }
        Ok(())
    }
}

/// A sample as stored, with its row id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    pub id: i64,
    pub sample: Sample,
}

/// Per-sample values the correlation needs: similarity and lengths in characters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LengthSeries {
    pub similarity: Vec<f64>,
    pub request_len: Vec<f64>,
    pub primary_len: Vec<f64>,
}

/// Samples stored for one (rule, shadow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub stored: u64,
    pub divergent: u64,
}

pub struct Store {
    conn: Connection,
}

/// At most this many of the newest samples go into a correlation.
pub const MAX_CORRELATION_SAMPLES: u32 = 100_000;

impl Store {
    /// Opens (creating if needed) the file `collect` writes.
    pub fn open_rw(path: &Path) -> Result<Store, String> {
        let conn = Connection::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        let store = Store { conn };
        store.setup().map_err(|e| format!("preparing {}: {e}", path.display()))?;
        Ok(store)
    }

    /// Opens an existing file for reading only (`report --db`).
    pub fn open_ro(path: &Path) -> Result<Store, String> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| format!("reading {}: {e}", path.display()))?;
        if version != SCHEMA_VERSION {
            return Err(format!(
                "{} is not a shadow-compare sample file (schema version {version}, expected {SCHEMA_VERSION})",
                path.display()
            ));
        }
        Ok(Store { conn })
    }

    fn setup(&self) -> Result<(), String> {
        let sql = |e: rusqlite::Error| e.to_string();
        self.conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        // WAL: readers do not block the writer; NORMAL sync is durable across a crash of this process
        // (a power loss may drop the last transactions, never corrupt the file).
        let mode: String = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal mode is '{mode}', WAL is needed"));
        }
        self.conn.execute_batch("PRAGMA synchronous = NORMAL;").map_err(sql)?;
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(format!("schema version {version} is newer than this build's ({SCHEMA_VERSION})"));
        }
        self.conn.execute_batch(SCHEMA).map_err(sql)?;
        self.conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};")).map_err(sql)
    }

    /// Stores one sample; returns its row id.
    pub fn insert(&self, s: &Sample, received_ms: i64) -> Result<i64, String> {
        let timestamp = i64::try_from(s.timestamp_ms).map_err(|e| e.to_string())?;
        self.conn
            .execute(
                "INSERT INTO samples (received_ms, request_id, rule, shadow, kind, similarity, divergent, error,
                    primary_status, shadow_status, primary_latency_ms, shadow_latency_ms, timestamp_ms, method, path,
                    primary_body, shadow_body, request_body, truncated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    received_ms,
                    s.request_id,
                    s.rule,
                    s.shadow,
                    s.kind.as_str(),
                    s.similarity,
                    s.divergent,
                    s.error,
                    s.primary_status,
                    s.shadow_status,
                    s.primary_latency_ms,
                    s.shadow_latency_ms,
                    timestamp,
                    s.method,
                    s.path,
                    s.primary_body,
                    s.shadow_body,
                    s.request_body,
                    s.truncated,
                ],
            )
            .map_err(|e| format!("storing the sample: {e}"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// How many samples (and divergent ones) are stored for a rule and shadow.
    pub fn tally(&self, rule: &str, shadow: &str) -> Result<Tally, String> {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(divergent), 0) FROM samples WHERE rule = ?1 AND shadow = ?2",
                params![rule, shadow],
                |r| Ok(Tally { stored: r.get::<_, i64>(0)?.max(0) as u64, divergent: r.get::<_, i64>(1)?.max(0) as u64 }),
            )
            .map_err(|e| format!("counting samples: {e}"))
    }

    /// The `limit` most divergent samples: lowest similarity first, unscorable ones (no similarity)
    /// last, newest first among equals.
    pub fn top_divergent(&self, rule: &str, shadow: &str, limit: u32) -> Result<Vec<StoredSample>, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, request_id, rule, shadow, kind, similarity, divergent, error, primary_status, shadow_status,
                    primary_latency_ms, shadow_latency_ms, timestamp_ms, method, path, primary_body, shadow_body,
                    request_body, truncated
                 FROM samples WHERE rule = ?1 AND shadow = ?2 AND divergent = 1
                 ORDER BY similarity IS NULL, similarity ASC, timestamp_ms DESC, id DESC LIMIT ?3",
            )
            .map_err(|e| format!("reading samples: {e}"))?;
        let rows = stmt
            .query_map(params![rule, shadow, limit], |r| {
                let kind: String = r.get(4)?;
                let kind = match kind.as_str() {
                    "cosine" => SampleKind::Cosine,
                    "rouge_l" => SampleKind::RougeL,
                    _ => SampleKind::Exact,
                };
                Ok(StoredSample {
                    id: r.get(0)?,
                    sample: Sample {
                        request_id: r.get(1)?,
                        rule: r.get(2)?,
                        shadow: r.get(3)?,
                        kind,
                        similarity: r.get(5)?,
                        divergent: r.get(6)?,
                        error: r.get(7)?,
                        primary_status: r.get(8)?,
                        shadow_status: r.get(9)?,
                        primary_latency_ms: r.get(10)?,
                        shadow_latency_ms: r.get(11)?,
                        timestamp_ms: r.get::<_, i64>(12)?.max(0) as u64,
                        method: r.get(13)?,
                        path: r.get(14)?,
                        primary_body: r.get(15)?,
                        shadow_body: r.get(16)?,
                        request_body: r.get(17)?,
                        truncated: r.get(18)?,
                    },
                })
            })
            .map_err(|e| format!("reading samples: {e}"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| format!("reading samples: {e}"))
    }

    /// Similarity and body lengths (characters) of the newest scored samples of a rule and shadow.
    pub fn length_series(&self, rule: &str, shadow: &str) -> Result<LengthSeries, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT similarity, length(request_body), length(primary_body) FROM samples
                 WHERE rule = ?1 AND shadow = ?2 AND similarity IS NOT NULL
                 ORDER BY timestamp_ms DESC LIMIT ?3",
            )
            .map_err(|e| format!("reading samples: {e}"))?;
        let mut series = LengthSeries::default();
        let mut rows = stmt.query(params![rule, shadow, MAX_CORRELATION_SAMPLES]).map_err(|e| format!("reading samples: {e}"))?;
        while let Some(r) = rows.next().map_err(|e| format!("reading samples: {e}"))? {
            let sim: f64 = r.get(0).map_err(|e| e.to_string())?;
            let req: i64 = r.get(1).map_err(|e| e.to_string())?;
            let prim: i64 = r.get(2).map_err(|e| e.to_string())?;
            series.similarity.push(sim);
            series.request_len.push(req as f64);
            series.primary_len.push(prim as f64);
        }
        Ok(series)
    }

    /// How many samples are stored in all.
    #[cfg(test)]
    pub fn count(&self) -> Result<u64, String> {
        self.conn
            .query_row("SELECT COUNT(*) FROM samples", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| format!("counting samples: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn good() -> serde_json::Value {
        serde_json::json!({
            "request_id": "r-1", "rule": "embed", "shadow": "v2", "kind": "cosine", "similarity": 0.5,
            "divergent": true, "error": null, "primary_status": 200, "shadow_status": 200,
            "primary_latency_ms": 12.5, "shadow_latency_ms": 20.0, "timestamp_ms": 1_700_000_000_000u64,
            "method": "POST", "path": "/embed", "primary_body": "{\"a\":1}", "shadow_body": "{\"a\":2}",
            "request_body": "", "truncated": false
        })
    }

    fn parse_with(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Result<Sample, String> {
        let mut v = good();
        if let Some(m) = v.as_object_mut() {
            edit(m);
        }
        Sample::parse(v.to_string().as_bytes())
    }

    #[test]
    fn a_good_record_parses() {
        let s = parse_with(|_| {}).unwrap();
        assert_eq!((s.kind, s.similarity, s.primary_status), (SampleKind::Cosine, Some(0.5), 200));
        let s = parse_with(|m| {
            m.insert("similarity".into(), serde_json::Value::Null);
            m.insert("error".into(), "invalid_json".into());
        })
        .unwrap();
        assert_eq!((s.similarity, s.error.as_deref()), (None, Some("invalid_json")));
    }

    #[test]
    fn errors_name_the_field() {
        let err = |e: Result<Sample, String>| e.unwrap_err();
        assert!(err(Sample::parse(b"not json")).starts_with("expected ident"));
        assert!(err(parse_with(|m| {
            m.remove("rule");
        }))
        .starts_with("missing field `rule`"));
        assert!(err(parse_with(|m| {
            m.remove("similarity");
        }))
        .starts_with("missing field `similarity`"));
        assert!(err(parse_with(|m| {
            m.insert("colour".into(), 1.into());
        }))
        .starts_with("colour: unknown field `colour`"));
        assert!(err(parse_with(|m| {
            m.insert("similarity".into(), "high".into());
        }))
        .starts_with("similarity: invalid type: string \"high\""));
        assert!(err(parse_with(|m| {
            m.insert("kind".into(), "bleu".into());
        }))
        .starts_with("kind: unknown variant `bleu`"));
        assert!(err(parse_with(|m| {
            m.insert("timestamp_ms".into(), 1.5.into());
        }))
        .starts_with("timestamp_ms: invalid type: floating point"));
        assert!(err(parse_with(|m| {
            m.insert("primary_status".into(), 70_000.into());
        }))
        .starts_with("primary_status: invalid value: integer `70000`"));
        assert_eq!(
            err(parse_with(|m| {
                m.insert("shadow".into(), "a.b".into());
            })),
            "shadow: 'a.b' is not a rule or cluster name (1 to 64 of A-Z a-z 0-9 _ -)"
        );
        assert_eq!(
            err(parse_with(|m| {
                m.insert("shadow_latency_ms".into(), (-1.0).into());
            })),
            "shadow_latency_ms: -1 is not a duration in milliseconds"
        );
    }

    #[test]
    fn stores_and_reads_back_in_divergence_order() {
        let dir = std::env::temp_dir().join(format!("sc-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.db");
        let _ = std::fs::remove_file(&path);
        let store = Store::open_rw(&path).unwrap();
        for (i, sim) in [Some(0.9), Some(0.1), None, Some(0.5)].into_iter().enumerate() {
            let mut s = Sample::parse(good().to_string().as_bytes()).unwrap();
            s.similarity = sim;
            s.request_id = format!("r-{i}");
            s.request_body = "x".repeat(i);
            store.insert(&s, 1).unwrap();
        }
        let mut agreeing = Sample::parse(good().to_string().as_bytes()).unwrap();
        agreeing.divergent = false;
        store.insert(&agreeing, 1).unwrap();
        drop(store);
        let store = Store::open_ro(&path).unwrap();
        assert_eq!(store.count().unwrap(), 5);
        assert_eq!(store.tally("embed", "v2").unwrap(), Tally { stored: 5, divergent: 4 });
        let top: Vec<String> = store.top_divergent("embed", "v2", 3).unwrap().into_iter().map(|s| s.sample.request_id).collect();
        assert_eq!(top, ["r-1", "r-3", "r-0"]);
        let series = store.length_series("embed", "v2").unwrap();
        assert_eq!(series.similarity.len(), 4);
        assert!(Store::open_ro(&dir.join("absent.db")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
