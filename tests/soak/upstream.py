"""A fast canned model server for the soak test: asyncio, HTTP/1.1 keep-alive, one process per role.

    python3 tests/soak/upstream.py --port 18001 --role primary|shadow

Answers POST/GET /<rule>... with the canned body of that rule (ANSWERS below). The shadow also obeys the
request's `x-soak-fault` header, which the load generator sets and the mirror carries:
  503        answer 503
  reset      send the headers and part of the body, then reset the connection (RST)
  slow       answer after --slow-ms (longer than the route timeout: Envoy gives up first)
  diverge    answer a different body (a divergent pair, so samples flow)
The primary ignores it. GET /healthz answers 200. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import struct

EMBEDDING = [round(0.01 * i - 0.3, 2) for i in range(64)]
ANSWERS = {
    "embed": {"embedding": EMBEDDING},
    "generate": {"text": "the shadow model answers every question with care, precision and a short summary"},
    "classify": {"label": "cat", "score": 0.93},
}
DIVERGENT = {
    "embed": {"embedding": [-x for x in EMBEDDING]},
    "generate": {"text": "a completely different answer"},
    "classify": {"label": "dog", "score": 0.51},
}


def body_for(rule: str, divergent: bool = False) -> bytes:
    table = DIVERGENT if divergent else ANSWERS
    return json.dumps(table.get(rule, {"ok": True}), separators=(",", ":")).encode()


def response(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(status, "Status")
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Conn(asyncio.Protocol):
    role = "primary"
    slow_s = 6.0

    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""
        self.busy = False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        self.next_request()

    def next_request(self):
        # Envoy never pipelines on HTTP/1.1, but a slow answer must still hold back what follows it.
        while not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            parts = lines[0].split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            self.handle(path, headers)

    def handle(self, path: str, headers: dict):
        if path == "/healthz":
            return self.transport.write(response(200, b"ok"))
        rule = path.strip("/").split("/")[0]
        fault = headers.get("x-soak-fault", "") if self.role == "shadow" else ""
        if fault == "503":
            self.transport.write(response(503, b'{"error":"overloaded"}'))
        elif fault == "reset":
            data = response(200, body_for(rule))
            self.transport.write(data[: len(data) - 10])
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
        elif fault == "slow":
            self.busy = True
            asyncio.get_running_loop().call_later(self.slow_s, self.finish_slow, response(200, body_for(rule)))
        else:
            self.transport.write(response(200, body_for(rule, divergent=fault == "diverge")))

    def finish_slow(self, data: bytes):
        self.busy = False
        if not self.transport.is_closing():
            self.transport.write(data)
            self.next_request()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--role", choices=["primary", "shadow"], required=True)
    p.add_argument("--slow-ms", type=int, default=6000)
    args = p.parse_args()
    Conn.role, Conn.slow_s = args.role, args.slow_ms / 1000
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Conn, "127.0.0.1", args.port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"soak upstream {args.role} on 127.0.0.1:{args.port}", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
