//! `collect`: the sink the compare service sends divergence samples to.
//!
//!   POST /samples   one sample (JSON) → 200 {"id": N} | 400 {"error": "<field>: <why>"} | 413 | 503
//!   GET  /healthz   200 {"status": "ok"}
//!
//! One thread per connection, at most `--max-connections` of them (more are answered 503 and closed);
//! every request is read against deadlines and size limits (see `http1.rs`). Samples go to SQLite
//! (`sample_store.rs`); a row is committed before its 200 leaves, so a restart loses nothing answered.

mod http1;

use crate::args::Args;
use crate::sample_store::{Sample, Store};
use http1::{DeadlineStream, Limits, Request};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Usage errors (bad flags), as in sysexits.h.
pub const EXIT_USAGE: u8 = 64;
/// Cannot listen or open the database.
pub const EXIT_UNAVAILABLE: u8 = 69;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9902";
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

pub const USAGE: &str = "shadow-compare collect --db FILE [--listen ADDR] [--max-connections N] [--max-body-bytes N]";

struct Server {
    store: Mutex<Store>,
    limits: Limits,
    active: AtomicUsize,
    max_connections: usize,
}

pub fn run(argv: &[String]) -> Result<ExitCode, String> {
    let usage = |msg: String| {
        eprintln!("shadow-compare collect: {msg}\nusage: {USAGE}");
        Ok(ExitCode::from(EXIT_USAGE))
    };
    let args = match Args::parse(argv, &["listen", "db", "max-connections", "max-body-bytes"]) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    if let Some(p) = &args.positional {
        return usage(format!("unexpected argument '{p}'"));
    }
    let Some(db) = args.get("db").map(PathBuf::from) else { return usage("--db is required".to_string()) };
    let listen = args.get("listen").unwrap_or(DEFAULT_LISTEN);
    let mut limits = Limits::default();
    let max_connections = match args.get("max-connections").map(|v| v.parse::<usize>()) {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(Ok(n)) if (1..=10_000).contains(&n) => n,
        Some(_) => return usage("--max-connections must be a number from 1 to 10000".to_string()),
    };
    match args.get("max-body-bytes").map(|v| v.parse::<usize>()) {
        None => {}
        Some(Ok(n)) if (1024..=(256 << 20)).contains(&n) => limits.max_body_bytes = n,
        Some(_) => return usage("--max-body-bytes must be a number from 1024 to 268435456".to_string()),
    }

    let store = match Store::open_rw(&db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shadow-compare collect: {e}");
            return Ok(ExitCode::from(EXIT_UNAVAILABLE));
        }
    };
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("shadow-compare collect: cannot listen on {listen}: {e}");
            return Ok(ExitCode::from(EXIT_UNAVAILABLE));
        }
    };
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The first line of output, so a script (or a test using port 0) learns the real address.
    println!("listening on http://{addr}, storing samples in {}", db.display());
    std::io::stdout().flush().map_err(|e| e.to_string())?;

    let server = Arc::new(Server { store: Mutex::new(store), limits, active: AtomicUsize::new(0), max_connections });
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                eprintln!("shadow-compare collect: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        accept(&server, stream);
    }
    Ok(ExitCode::SUCCESS)
}

/// Decrements the connection count however the connection's thread ends.
struct Slot(Arc<Server>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept(server: &Arc<Server>, mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(server.limits.request_timeout));
    if server.active.fetch_add(1, Ordering::SeqCst) >= server.max_connections {
        server.active.fetch_sub(1, Ordering::SeqCst);
        let _ = http1::write_response(&mut stream, 503, &[("retry-after", "1")], r#"{"error":"too many connections"}"#, false);
        return;
    }
    let slot = Slot(Arc::clone(server));
    let spawned = std::thread::Builder::new().name("collect-conn".to_string()).spawn(move || {
        let server = Arc::clone(&slot.0);
        serve(&server, stream);
        drop(slot);
    });
    if let Err(e) = spawned {
        // The closure (and its slot) was dropped with the error, so the count is already right.
        eprintln!("shadow-compare collect: cannot start a connection thread: {e}");
    }
}

/// Answers requests on one connection until it closes, errs, idles out or asks to close.
fn serve(server: &Server, stream: TcpStream) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(DeadlineStream::new(stream));
    loop {
        reader.get_mut().deadline = Instant::now() + server.limits.idle_timeout;
        match std::io::BufRead::fill_buf(&mut reader) {
            Ok([]) | Err(_) => return,
            Ok(_) => {}
        }
        reader.get_mut().deadline = Instant::now() + server.limits.request_timeout;
        let request = match http1::read_request(&mut reader, &mut writer, &server.limits) {
            Ok(r) => r,
            Err(e) => {
                if let Some((status, why)) = e.response() {
                    eprintln!("shadow-compare collect: {status} to {peer}: {why}");
                    let _ = http1::write_response(&mut writer, status, &[], &error_body(&why), false);
                }
                return;
            }
        };
        let (status, allow, body) = route(server, &request, &peer);
        let extra: &[(&str, &str)] = match allow {
            Some(a) => &[("allow", a)],
            None => &[],
        };
        if http1::write_response(&mut writer, status, extra, &body, request.keep_alive).is_err() || !request.keep_alive {
            return;
        }
    }
}

fn error_body(why: &str) -> String {
    serde_json::json!({ "error": why }).to_string()
}

/// The status, an `Allow` header for 405, and the body.
fn route(server: &Server, req: &Request, peer: &str) -> (u16, Option<&'static str>, String) {
    match (req.path.as_str(), req.method.as_str()) {
        ("/samples", "POST") => match Sample::parse(&req.body) {
            Err(why) => {
                eprintln!("shadow-compare collect: 400 to {peer}: {why}");
                (400, None, error_body(&why))
            }
            Ok(sample) => {
                let received_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                let stored = match server.store.lock() {
                    Ok(store) => store.insert(&sample, received_ms),
                    Err(_) => Err("the sample store is unavailable".to_string()),
                };
                match stored {
                    Ok(id) => (200, None, serde_json::json!({ "id": id }).to_string()),
                    Err(why) => {
                        eprintln!("shadow-compare collect: 500: {why}");
                        (500, None, error_body(&why))
                    }
                }
            }
        },
        ("/samples", _) => (405, Some("POST"), error_body("use POST")),
        ("/healthz", "GET") => (200, None, r#"{"status":"ok"}"#.to_string()),
        ("/healthz", _) => (405, Some("GET"), error_body("use GET")),
        _ => (404, None, error_body("not found: the sample sink serves POST /samples and GET /healthz")),
    }
}
