//! Helpers shared by the CLI tests: a canned admin endpoint, the `collect` server, raw HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_shadow-compare");

/// The canned `/stats?format=json` of tests/fixtures/report_stats.json.
pub fn fixture_stats() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report_stats.json")).unwrap()
}

/// An admin endpoint on a free loopback port answering every request with `body`, for at most
/// `max_requests` requests (a report makes two: buckets, then quantiles). Returns its base URL.
pub fn fake_admin(body: String, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sc-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `collect`; killed when dropped.
pub struct Collect {
    pub child: Child,
    pub addr: String,
}

impl Collect {
    /// Starts `collect` on a free port (port 0) and reads the address it announces.
    pub fn start(db: &Path, extra: &[&str]) -> Collect {
        let mut child = Command::new(BIN)
            .args(["collect", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Collect { child, addr }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// POSTs `body` to /samples on a new connection; returns (status, body).
    pub fn post(&self, body: &str) -> (u16, String) {
        let mut s = self.connect();
        write!(s, "POST /samples HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
        read_response(&mut s)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = self.connect();
        write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
        read_response(&mut s)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Collect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one response with a content-length body (what `collect` sends).
pub fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// A valid sample with the given identity and similarity.
pub fn sample(request_id: &str, rule: &str, shadow: &str, similarity: Option<f64>, request_body: &str) -> serde_json::Value {
    serde_json::json!({
        "request_id": request_id, "rule": rule, "shadow": shadow, "kind": "rouge_l",
        "similarity": similarity, "divergent": similarity.is_none_or(|s| s < 0.85),
        "error": similarity.map_or(Some("invalid_json"), |_| None),
        "primary_status": 200, "shadow_status": 200, "primary_latency_ms": 120.5, "shadow_latency_ms": 310.0,
        "timestamp_ms": 1_760_000_000_000u64, "method": "POST", "path": "/generate",
        "primary_body": format!("{{\"text\": \"the cat sat on the mat ({request_id})\"}}"),
        "shadow_body": format!("{{\"text\": \"a dog lay on the rug <b>{request_id}</b>\"}}"),
        "request_body": request_body, "truncated": false
    })
}

/// Runs the CLI; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}
