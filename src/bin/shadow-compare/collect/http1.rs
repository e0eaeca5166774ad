//! Just enough HTTP/1.1 to receive samples: one request at a time from a connection, a body by
//! Content-Length or chunked, keep-alive, `Expect: 100-continue`, and hard limits on every read.
//!
//! Every read runs against a deadline (not only a per-read timeout), so a client that trickles one byte
//! at a time still loses its connection when the deadline passes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What one request may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request line plus headers.
    pub max_head_bytes: usize,
    pub max_body_bytes: usize,
    /// From the first byte of a request to the last byte of its body.
    pub request_timeout: Duration,
    /// Waiting on a kept-alive connection for the next request.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A TCP stream whose reads fail once `deadline` has passed.
pub struct DeadlineStream {
    stream: TcpStream,
    pub deadline: Instant,
}

impl DeadlineStream {
    pub fn new(stream: TcpStream) -> DeadlineStream {
        DeadlineStream { stream, deadline: Instant::now() }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
}

/// Why a request could not be read. Each has the status to answer with (then close), except a
/// connection that is already gone.
#[derive(Debug)]
pub enum ReadError {
    /// The connection closed or failed mid-request: nobody to answer.
    Gone,
    TimedOut,
    Bad(String),
    HeadTooLarge,
    BodyTooLarge,
    LengthRequired,
    NotImplemented(String),
}

impl ReadError {
    /// The status and the reason to send, or `None` when nobody is listening.
    pub fn response(&self) -> Option<(u16, String)> {
        match self {
            ReadError::Gone => None,
            ReadError::TimedOut => Some((408, "request not received in time".to_string())),
            ReadError::Bad(why) => Some((400, why.clone())),
            ReadError::HeadTooLarge => Some((431, "request head too large".to_string())),
            ReadError::BodyTooLarge => Some((413, "request body too large".to_string())),
            ReadError::LengthRequired => Some((411, "a body needs Content-Length or chunked encoding".to_string())),
            ReadError::NotImplemented(what) => Some((501, what.clone())),
        }
    }
}

fn io_error(e: io::Error) -> ReadError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ReadError::TimedOut,
        _ => ReadError::Gone,
    }
}

/// Reads one CRLF- (or LF-) terminated line of at most `budget` bytes, without the terminator.
fn read_line(reader: &mut BufReader<DeadlineStream>, budget: usize, too_long: fn() -> ReadError) -> Result<String, ReadError> {
    let mut buf = Vec::new();
    let limit = u64::try_from(budget).unwrap_or(u64::MAX).saturating_add(1);
    let n = reader.by_ref().take(limit).read_until(b'\n', &mut buf).map_err(io_error)?;
    if n == 0 {
        return Err(ReadError::Gone);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n > budget { too_long() } else { ReadError::Gone });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| ReadError::Bad("request head is not UTF-8".to_string()))
}

/// Reads the next request. `writer` is the same connection, for `100 Continue`.
pub fn read_request(reader: &mut BufReader<DeadlineStream>, writer: &mut impl Write, limits: &Limits) -> Result<Request, ReadError> {
    let mut budget = limits.max_head_bytes;
    let line = read_line(reader, budget, || ReadError::HeadTooLarge)?;
    budget = budget.saturating_sub(line.len() + 2);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad("malformed request line".to_string()));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::NotImplemented(format!("unsupported protocol version '{version}'"))),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
        return Err(ReadError::Bad("malformed request line".to_string()));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, budget, || ReadError::HeadTooLarge)?;
        budget = budget.saturating_sub(line.len() + 2);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad("malformed header line".to_string()));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ReadError::Bad("malformed header name".to_string()));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &'static str| header_values(&headers, name);
    let connection: Vec<String> = header("connection").flat_map(|v| v.split(',')).map(|t| t.trim().to_ascii_lowercase()).collect();
    let keep_alive = if http10 {
        connection.iter().any(|t| t == "keep-alive")
    } else {
        !connection.iter().any(|t| t == "close")
    };

    let lengths: Vec<&str> = header("content-length").collect();
    let chunked = match header("transfer-encoding").last() {
        None => false,
        Some(te) if te.eq_ignore_ascii_case("chunked") => true,
        Some(te) => return Err(ReadError::NotImplemented(format!("transfer-encoding '{te}' is not supported"))),
    };
    if chunked && !lengths.is_empty() {
        return Err(ReadError::Bad("both content-length and transfer-encoding".to_string()));
    }
    let length = match lengths.as_slice() {
        [] => None,
        [first, rest @ ..] => {
            if rest.iter().any(|l| l != first) {
                return Err(ReadError::Bad("conflicting content-length headers".to_string()));
            }
            if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ReadError::Bad("content-length is not a number".to_string()));
            }
            Some(first.parse::<u64>().map_err(|_| ReadError::BodyTooLarge)?)
        }
    };
    if length.is_some_and(|l| l > limits.max_body_bytes as u64) {
        return Err(ReadError::BodyTooLarge);
    }
    let has_body = chunked || length.is_some_and(|l| l > 0);
    if has_body && header("expect").any(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(io_error)?;
        writer.flush().map_err(io_error)?;
    }
    let body = match (chunked, length) {
        (true, _) => read_chunked(reader, limits)?,
        (false, Some(n)) => {
            let mut body = Vec::with_capacity(n as usize);
            reader.by_ref().take(n).read_to_end(&mut body).map_err(io_error)?;
            if body.len() as u64 != n {
                return Err(ReadError::Gone);
            }
            body
        }
        (false, None) if method == "POST" || method == "PUT" => return Err(ReadError::LengthRequired),
        (false, None) => Vec::new(),
    };
    let path = target.split_once('?').map_or(target, |(p, _)| p).to_string();
    Ok(Request { method: method.to_string(), path, headers, body, keep_alive })
}

fn header_values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn read_chunked(reader: &mut BufReader<DeadlineStream>, limits: &Limits) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, 1024, || ReadError::Bad("chunk size line too long".to_string()))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| ReadError::Bad("malformed chunk size".to_string()))?;
        if size == 0 {
            // Trailers, ignored, up to the blank line.
            let mut budget = limits.max_head_bytes;
            loop {
                let t = read_line(reader, budget, || ReadError::HeadTooLarge)?;
                if t.is_empty() {
                    return Ok(body);
                }
                budget = budget.saturating_sub(t.len() + 2);
            }
        }
        if body.len() as u64 + size > limits.max_body_bytes as u64 {
            return Err(ReadError::BodyTooLarge);
        }
        let before = body.len();
        reader.by_ref().take(size).read_to_end(&mut body).map_err(io_error)?;
        if (body.len() - before) as u64 != size {
            return Err(ReadError::Gone);
        }
        if !read_line(reader, 2, || ReadError::Bad("chunk not followed by CRLF".to_string()))?.is_empty() {
            return Err(ReadError::Bad("chunk not followed by CRLF".to_string()));
        }
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a complete response with a JSON body.
pub fn write_response(w: &mut impl Write, status: u16, extra_headers: &[(&str, &str)], body: &str, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        reason_phrase(status),
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body.as_bytes())?;
    w.flush()
}
