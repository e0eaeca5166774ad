"""A scriptable upstream "model" for end-to-end tests.

The test decides, per request, what each side answers: the request body is JSON with one key per role,
e.g. {"primary": {"body": {"embedding": [1, 0]}}, "shadow": {"status": 503}}. A server started with
--role shadow answers with the "shadow" entry. Fields of an entry (all optional):
  status        HTTP status (default 200)
  body          JSON value to send (default {}); "raw" (a string) or "raw_b64" send exact bytes instead
  delay_ms      sleep before answering
  encoding      "gzip" or "deflate": compress the body and set content-encoding; "br" sets it uncompressed
  chunked       send the body with chunked transfer encoding, in chunks of this many bytes
  reset_after   send headers and this many body bytes, then reset the connection
  repeat        repeat the raw body string this many times (for huge bodies)
A request whose body is not such JSON (or a GET) gets {"role": ROLE}. Every request's method, path and
headers are kept; GET /_seen returns them (and clears the list). GET /healthz answers 200.
"""

import argparse
import base64
import gzip
import json
import socket
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN = []
SEEN_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately: without this, Nagle's algorithm adds ~40 ms per answer.
    disable_nagle_algorithm = True
    role = "primary"

    def log_message(self, *args):
        pass

    def _read_body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _remember(self):
        if self.path.startswith("/_seen") or self.path == "/healthz":
            return
        with SEEN_LOCK:
            SEEN.append({"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            del SEEN[:-1000]

    def do_GET(self):
        if self.path == "/healthz":
            return self._send(200, b"ok", [])
        if self.path.startswith("/_seen"):
            with SEEN_LOCK:
                data = json.dumps(SEEN).encode()
                SEEN.clear()
            return self._send(200, data, [("content-type", "application/json")])
        self._remember()
        self._answer({})

    def do_POST(self):
        raw = self._read_body()
        self._remember()
        try:
            spec = json.loads(raw)
        except ValueError:
            spec = {}
        self._answer(spec.get(self.role, {}) if isinstance(spec, dict) else {})

    do_PUT = do_POST
    do_DELETE = do_POST
    do_PATCH = do_POST

    def _answer(self, entry):
        if entry.get("delay_ms"):
            time.sleep(entry["delay_ms"] / 1000.0)
        if "raw_b64" in entry:
            body = base64.b64decode(entry["raw_b64"])
        elif "raw" in entry:
            body = entry["raw"].encode() * int(entry.get("repeat", 1))
        else:
            body = json.dumps(entry.get("body", {"role": self.role})).encode()
        headers = [("content-type", "application/json")]
        encoding = entry.get("encoding")
        if encoding == "gzip":
            body = gzip.compress(body)
        elif encoding == "deflate":
            body = zlib.compress(body)
        if encoding:
            headers.append(("content-encoding", encoding))
        status = int(entry.get("status", 200))
        if "reset_after" in entry:
            return self._reset(status, body, headers, int(entry["reset_after"]))
        if entry.get("chunked"):
            return self._send_chunked(status, body, headers, int(entry["chunked"]))
        self._send(status, body, headers)

    def _send(self, status, body, headers):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, status, body, headers, size):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), size):
            part = body[i:i + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self, status, body, headers, after):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:after])
        self.wfile.flush()
        # SO_LINGER 0: close() sends RST instead of FIN, a real reset in the middle of the body.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of new connections from Envoy overflows it, the
    # kernel drops SYNs, and Envoy's 1 s connect timeout fires before the retransmission. That would be a
    # fault of the test server, not of the shadow a test scripts.
    request_queue_size = 128
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--role", choices=["primary", "shadow", "shadow2"], required=True)
    args = p.parse_args()
    Handler.role = args.role
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"model_server {args.role} on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
