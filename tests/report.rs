//! `shadow-compare report` against a canned admin endpoint: exit codes as a rollout gate sees them.

mod common;

use common::{fake_admin, fixture_stats, run};

#[test]
fn exit_codes_follow_the_gate() {
    let admin = fake_admin(fixture_stats(), 8);
    let (code, out, err) = run(&["report", "--admin", &admin]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("  shadow v2: NOT READY: divergence upper bound 0.0122 exceeds 0.0100\n"), "{out}");
    assert!(out.ends_with("verdict: NOT READY (exit 1)\n"), "{out}");
    assert_eq!(run(&["report", "--admin", &admin, "--max-divergence", "0.02"]).0, 2);
    assert_eq!(run(&["report", "--admin", &admin, "--max-divergence=0.02", "--min-pairs", "500"]).0, 0);
    // With v2 named the baseline, embed/base is the only candidate (its excess over v2 is negative), and
    // generate/v2 is a baseline without candidates.
    assert_eq!(run(&["report", "--admin", &admin, "--baseline", "v2", "--max-divergence", "0.02"]).0, 0);
}

#[test]
fn json_is_one_document_with_the_exit_code() {
    let admin = fake_admin(fixture_stats(), 2);
    let (code, out, _) = run(&["report", "--admin", &admin, "--format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["verdict"].as_str(), v["exit_code"].as_u64()), (Some("not_ready"), Some(1)));
    assert_eq!(v["rules"].as_array().map(Vec::len), Some(3));
}

#[test]
fn usage_errors_exit_64() {
    for args in [
        &["report"][..],
        &["report", "--admin", "127.0.0.1:9901"],
        &["report", "--admin", "http://127.0.0.1:9", "--format", "xml"],
        &["report", "--admin", "http://127.0.0.1:9", "--max-divergence", "2"],
        &["report", "--admin", "http://127.0.0.1:9", "--min-pairs", "0"],
        &["report", "--admin", "http://127.0.0.1:9", "--samples", "3"],
        &["report", "--admin", "http://127.0.0.1:9", "--colour", "red"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(err.contains("usage: shadow-compare report"), "{err}");
    }
}

#[test]
fn unreadable_data_exits_69() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, _, err) = run(&["report", "--admin", &format!("http://{free}")]);
    assert_eq!(code, 69);
    assert!(err.contains("connecting to"), "{err}");
    let empty = fake_admin(r#"{"stats": []}"#.to_string(), 2);
    let (code, _, err) = run(&["report", "--admin", &empty]);
    assert_eq!(code, 69);
    assert!(err.contains("is the compare service loaded?"), "{err}");
    let admin = fake_admin(fixture_stats(), 2);
    let (code, _, err) = run(&["report", "--admin", &admin, "--db", "/nonexistent-dir/samples.db"]);
    assert_eq!(code, 69, "{err}");
}
