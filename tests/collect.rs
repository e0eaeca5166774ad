//! `shadow-compare collect`, run as a server: good and bad records, limits, and a restart that keeps
//! every stored row.

mod common;

use common::{fake_admin, fixture_stats, read_response, run, sample, temp_dir, Collect};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn stores_good_records_rejects_bad_ones_and_survives_a_restart() {
    let dir = temp_dir("collect");
    let db = dir.join("samples.db");
    let server = Collect::start(&db, &[]);

    assert_eq!(server.get("/healthz"), (200, r#"{"status":"ok"}"#.to_string()));
    let (status, body) = server.post(&sample("r-1", "generate", "v2", Some(0.2), "hello").to_string());
    assert_eq!((status, body.as_str()), (200, r#"{"id":1}"#));

    let cases: [(serde_json::Value, &str); 4] = [
        (
            {
                let mut v = sample("r-x", "generate", "v2", Some(0.2), "");
                v.as_object_mut().unwrap().remove("shadow_status");
                v
            },
            "missing field `shadow_status`",
        ),
        (
            {
                let mut v = sample("r-x", "generate", "v2", Some(0.2), "");
                v["similarity"] = "low".into();
                v
            },
            "similarity: invalid type: string \\\"low\\\"",
        ),
        (
            {
                let mut v = sample("r-x", "generate", "v2", Some(0.2), "");
                v["headers"] = serde_json::json!({});
                v
            },
            "headers: unknown field `headers`",
        ),
        (
            {
                let mut v = sample("r-x", "generate", "v2", Some(0.2), "");
                v["kind"] = "bleu".into();
                v
            },
            "kind: unknown variant `bleu`",
        ),
    ];
    for (record, reason) in cases {
        let (status, body) = server.post(&record.to_string());
        assert_eq!(status, 400, "{body}");
        assert!(body.starts_with(&format!(r#"{{"error":"{reason}"#)), "{body} should name: {reason}");
    }
    let (status, body) = server.post("{not json");
    assert_eq!(status, 400);
    assert!(body.contains("key must be a string"), "{body}");

    // Over the 1 MiB limit: refused from the Content-Length alone, before any of the body is sent.
    let mut conn = server.connect();
    write!(conn, "POST /samples HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", (1 << 20) + 1).unwrap();
    assert_eq!(read_response(&mut conn), (413, r#"{"error":"request body too large"}"#.to_string()));
    // The same for a chunked body that grows past the limit.
    let mut conn = server.connect();
    write!(conn, "POST /samples HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n100001\r\n").unwrap();
    assert_eq!(read_response(&mut conn).0, 413);
    assert_eq!(server.get("/nothing-here").0, 404);
    assert_eq!(server.get("/samples").0, 405);

    // Keep-alive: two requests on one connection, the second chunked with Expect: 100-continue.
    let mut conn = server.connect();
    let body = sample("r-2", "generate", "v2", Some(0.9), "hello there").to_string();
    write!(conn, "POST /samples HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    assert_eq!(read_response(&mut conn), (200, r#"{"id":2}"#.to_string()));
    let body = sample("r-3", "generate", "v2", None, "").to_string();
    let (a, b) = body.split_at(10);
    write!(conn, "POST /samples HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n").unwrap();
    let mut cont = [0u8; 25];
    conn.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    write!(conn, "{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len()).unwrap();
    assert_eq!(read_response(&mut conn), (200, r#"{"id":3}"#.to_string()));
    drop(conn);

    // Killed, not stopped: what was answered 200 is on disk.
    server.stop();
    let server = Collect::start(&db, &[]);
    let (status, body) = server.post(&sample("r-4", "generate", "v2", Some(0.5), "hi").to_string());
    assert_eq!((status, body.as_str()), (200, r#"{"id":4}"#));

    // Read back while the server runs (WAL: readers do not wait for the writer).
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let ids: Vec<String> = conn
        .prepare("SELECT request_id FROM samples ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, ["r-1", "r-2", "r-3", "r-4"]);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let (sim, err): (Option<f64>, Option<String>) =
        conn.query_row("SELECT similarity, error FROM samples WHERE request_id = 'r-3'", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((sim, err.as_deref()), (None, Some("invalid_json")));
    let indexes: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'samples_rule_shadow_time'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexes, 1);
    drop(conn);

    // And through the report: the stored samples of generate/v2, most divergent first.
    let admin = fake_admin(fixture_stats(), 2);
    let (code, out, err) = run(&["report", "--admin", &admin, "--db", db.to_str().unwrap(), "--min-pairs", "500", "--max-divergence", "0.02"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains("    samples                4 stored, 3 divergent"), "{out}");
    assert!(out.contains("      1. similarity 0.200  r-1  POST /generate  status 200/200  latency 120.5/310.0 ms"), "{out}");
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connections_are_limited_and_slow_requests_time_out() {
    let dir = temp_dir("collect-limits");
    let server = Collect::start(&dir.join("s.db"), &["--max-connections", "2"]);
    // Two idle connections hold both slots (accepted in order), so the third is turned away.
    let mut first = server.connect();
    let _second = server.connect();
    let mut third = server.connect();
    let (status, body) = read_response(&mut third);
    assert_eq!((status, body.as_str()), (503, r#"{"error":"too many connections"}"#));

    // A request that never finishes its head is answered 408 when the 10 s request deadline passes.
    let started = Instant::now();
    write!(first, "POST /samples HTTP/1.1\r\nhost: x\r\n").unwrap();
    let (status, _) = read_response(&mut first);
    assert_eq!(status, 408);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(20), "{waited:?}");
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_64_and_an_unopenable_database_69() {
    let (code, _, err) = run(&["collect"]);
    assert_eq!(code, 64);
    assert!(err.contains("--db is required"), "{err}");
    assert_eq!(run(&["collect", "--db", "x.db", "--max-connections", "0"]).0, 64);
    assert_eq!(run(&["collect", "--db", "x.db", "--bogus", "1"]).0, 64);
    let (code, _, err) = run(&["collect", "--db", "/nonexistent-dir/for/sure/s.db", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 69, "{err}");
}
