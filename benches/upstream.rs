//! A fast canned "model server" for `bench/run.py`: the upstream must never be the bottleneck.
//!
//!     cargo bench --bench upstream -- --port 18301 --role primary --dir bench/generated/upstream
//!
//! HTTP/1.1 with keep-alive, one thread per connection (std only). `POST|GET /<name>...` answers 200 with
//! the bytes of `<dir>/<role>_<name>.json` read at startup (`embed`, `generate`, `generate_long`,
//! `classify`); `/healthz` answers `ok`; anything else 404. `--role sink` needs no files and answers 200 `{}`
//! to everything. Request bodies (content-length or chunked) are read and discarded. Runs until killed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

const PATHS: [&str; 4] = ["embed", "generate", "generate_long", "classify"];

fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Serves one keep-alive connection until the peer closes it or sends something unreadable.
fn serve(stream: TcpStream, answers: &HashMap<String, Vec<u8>>, not_found: &[u8]) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        let mut chunked = false;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        if chunked {
            skip_chunked(&mut reader)?;
        } else {
            std::io::copy(&mut (&mut reader).take(length as u64), &mut std::io::sink())?;
        }
        let name = path.trim_start_matches('/').split(['/', '?']).next().unwrap_or("");
        let answer = answers.get(name).map(Vec::as_slice).unwrap_or(not_found);
        writer.write_all(answer)?;
        if close {
            return Ok(());
        }
    }
}

fn skip_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        std::io::copy(&mut reader.take(size as u64 + 2), &mut std::io::sink())?;
        if size == 0 {
            return Ok(());
        }
    }
}

fn main() {
    let mut port = 18301u16;
    let mut role = String::from("primary");
    let mut dir = String::from("bench/generated/upstream");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(port),
            "--role" => role = args.next().unwrap_or(role),
            "--dir" => dir = args.next().unwrap_or(dir),
            "--bench" => {}
            other => {
                eprintln!("usage: upstream [--port P] [--role primary|shadow|sink] [--dir DIR]  (unknown argument '{other}')");
                std::process::exit(2);
            }
        }
    }
    let mut answers = HashMap::new();
    // A sink (where the compare service posts divergence samples) takes anything and answers 200 `{}`.
    let sink = role == "sink";
    for name in PATHS.iter().filter(|_| !sink) {
        let file = format!("{dir}/{role}_{name}.json");
        match std::fs::read(&file) {
            Ok(body) => answers.insert(name.to_string(), response("200 OK", &body)),
            Err(e) => {
                eprintln!("upstream: {file}: {e} (generate it with: python bench/gen_inputs.py)");
                std::process::exit(1);
            }
        };
    }
    answers.insert("healthz".to_string(), response("200 OK", b"ok"));
    let answers = Arc::new(answers);
    let not_found: Arc<[u8]> = if sink { response("200 OK", b"{}") } else { response("404 Not Found", b"{}") }.into();
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("upstream: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("upstream {role} on 127.0.0.1:{port}");
    for stream in listener.incoming().flatten() {
        let answers = Arc::clone(&answers);
        let not_found = Arc::clone(&not_found);
        std::thread::spawn(move || {
            let _ = serve(stream, &answers, &not_found);
        });
    }
}
