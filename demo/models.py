"""Example model servers for the shadow-compare demo: a production and a shadow version of three models.

Standard library only, deterministic (the same input always gets the same answer and latency), loopback by
default. One process serves one version of all three models:

  POST /embed     {"text": "..."}    -> {"embedding": [384 floats], "dims": 384, "model": "..."}
  POST /generate  {"prompt": "..."}  -> {"text": "...", "model": "..."}
  POST /classify  {"text": "..."}    -> {"label": "positive|neutral|negative", "score": 0.42, "model": "..."}
  GET  /healthz                      -> ok

How the shadow differs from production, so that it really disagrees some of the time:
  embed     int8-quantised output (tiny differences everywhere) and a retrained vocabulary for a few words
            (CHANGED_VOCABULARY: texts with one of them land elsewhere and fall below the 0.99 cosine rule);
  generate  paraphrases some answers: synonyms in one sentence (usually still above the 0.85 ROUGE-L rule),
            or synonyms plus the last sentence moved first (below it);
  classify  a higher decision threshold (0.35 instead of 0.25), so borderline texts flip to "neutral".
The shadow is also a little slower. Run: python demo/models.py --role production|shadow --port 8001
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLES = ("production", "shadow")
DIMS = 384

# ------------------------------------------------------------------------------------------ text helpers

TOKEN = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def digest(*parts: str) -> bytes:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()


def pick(options: list, *key: str):
    """A deterministic choice among `options` for `key`."""
    return options[int.from_bytes(digest(*key)[:4], "little") % len(options)]


def fraction(*key: str) -> float:
    """A deterministic number in [0, 1) for `key`."""
    return int.from_bytes(digest(*key)[4:8], "little") / 2**32


def encode(obj) -> bytes:
    """The exact bytes a model answers with (the demo prints them as expected curl output)."""
    return json.dumps(obj).encode()


# ------------------------------------------------------------------------------------------ embeddings

# Words whose token the shadow's retrained vocabulary maps elsewhere.
CHANGED_VOCABULARY = {"refund", "password", "invoice", "warranty", "shipping"}


def feature_vector(version: str, feature: str) -> list[float]:
    """A dense pseudo-random direction for one feature, in [-1, 1] per dimension."""
    raw = hashlib.shake_128(f"{version}\x1f{feature}".encode()).digest(DIMS)
    return [(b - 127.5) / 127.5 for b in raw]


def embed(text: str, role: str) -> list[float]:
    """A hashed bag of words and bigrams projected to 384 dense dimensions, L2-normalised; the shadow's
    vocabulary differs for a few words, and its output is int8-quantised."""
    tokens = ["<s>"] + tokenize(text)
    features = [(t, 1.0) for t in tokens] + [(f"{a} {b}", 0.5) for a, b in zip(tokens, tokens[1:])]
    v = [0.0] * DIMS
    for feature, weight in features:
        changed = role == "shadow" and any(w in CHANGED_VOCABULARY for w in feature.split(" "))
        for i, x in enumerate(feature_vector("v2" if changed else "v1", feature)):
            v[i] += weight * x
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    v = [x / norm for x in v]
    if role == "shadow":
        scale = max(abs(x) for x in v) / 127 or 1.0
        v = [round(x / scale) * scale for x in v]
    return [round(x, 5) for x in v]


# ------------------------------------------------------------------------------------------ generation

TEMPLATES = [
    ["Thanks for getting in touch about {topic}.",
     "I have checked your account and {action}.",
     "You should see the update within {eta}."],
    ["Sorry to hear about the trouble with {topic}.",
     "Our support team has looked into it and {action}.",
     "If anything still looks wrong after {eta}, reply to this message and we will take another look."],
    ["Summary: the customer is asking about {topic}.",
     "The recommended next step is to confirm that {action}.",
     "Expected resolution time is {eta}."],
]
ACTIONS = [
    "the refund has been issued to your original payment method",
    "a replacement has been sent out by express shipping",
    "a password reset link is on its way to your email",
    "the invoice has been corrected and sent again",
    "the order has been moved to the front of the queue",
    "your warranty claim has been approved",
]
ETAS = ["two business days", "24 hours", "the next billing cycle", "a week"]

# The shadow's paraphrases: whole phrases first, so longer matches win.
SYNONYMS = [
    ("Thanks for getting in touch", "Thank you for contacting us"),
    ("Sorry to hear about", "We apologise for"),
    ("I have checked", "I reviewed"),
    ("looked into it", "investigated"),
    ("should see the update", "will see the change"),
    ("has been issued", "was processed"),
    ("has been sent out", "was shipped"),
    ("is on its way", "was sent"),
    ("take another look", "check again"),
    ("recommended", "suggested"),
    ("Expected resolution time is", "It should be resolved in"),
    ("trouble", "problem"),
]


# What a support answer can be about, in the order they are looked for.
TOPICS = ["refund", "invoice", "password", "warranty", "subscription", "payment", "order", "delivery",
          "package", "battery", "screen", "app", "account", "address", "plan", "device", "setup", "email"]


def topic(prompt: str) -> str:
    words = set(tokenize(prompt))
    found = [t for t in TOPICS if t in words]
    return "your " + " and ".join(found[:2]) if found else "your request"


def paraphrase(sentence: str) -> str:
    for old, new in SYNONYMS:
        sentence = sentence.replace(old, new)
    return sentence


def generate(prompt: str, role: str) -> str:
    """A templated support answer; the shadow rewrites some of them."""
    sentences = [s.format(topic=topic(prompt), action=pick(ACTIONS, "action", prompt),
                          eta=pick(ETAS, "eta", prompt))
                 for s in pick(TEMPLATES, "template", prompt)]
    if role == "shadow":
        u = fraction("paraphrase", prompt)
        if u < 0.30:
            sentences[0] = paraphrase(sentences[0])
        elif u < 0.55:
            sentences = [paraphrase(s) for s in sentences]
            sentences = sentences[-1:] + sentences[:-1]
    return " ".join(sentences)


# ------------------------------------------------------------------------------------------ classification

POSITIVE = {"great": 2.0, "love": 2.0, "excellent": 2.0, "perfect": 2.0, "happy": 1.5, "helpful": 1.5,
            "fast": 1.0, "quick": 1.0, "easy": 1.0, "good": 1.0, "works": 1.0, "thanks": 0.5}
NEGATIVE = {"terrible": 2.0, "disappointed": 2.0, "broken": 2.0, "crashed": 2.0, "wrong": 1.5,
            "missing": 1.5, "slow": 1.0, "late": 1.0, "never": 1.0, "error": 1.0, "cancel": 1.0,
            "refund": 0.5}
THRESHOLD = {"production": 0.25, "shadow": 0.35}


def sentiment_score(text: str) -> float:
    tokens = tokenize(text)
    if not tokens:
        return 0.0
    total = sum(POSITIVE.get(t, 0.0) - NEGATIVE.get(t, 0.0) for t in tokens)
    return round(total / math.sqrt(len(tokens)), 3)


def classify(text: str, role: str) -> tuple[str, float]:
    score = sentiment_score(text)
    threshold = THRESHOLD[role]
    if score >= threshold:
        return "positive", score
    if score <= -threshold:
        return "negative", score
    return "neutral", score


# ------------------------------------------------------------------------------------------ the models

MODEL_NAMES = {
    "production": {"embed": "embed-v1", "generate": "textgen-v1", "classify": "classifier-v1"},
    "shadow": {"embed": "embed-v2-int8", "generate": "textgen-v2", "classify": "classifier-v2"},
}
# Milliseconds: a fixed cost plus a cost per input token; the shadow is about a third slower.
COST_MS = {"embed": (2.0, 0.05), "generate": (5.0, 0.10), "classify": (1.0, 0.02)}


def answer(path: str, request: dict, role: str) -> dict:
    """What model `path` answers to `request`, as a JSON object. Raises ValueError on a bad request."""
    model = MODEL_NAMES[role]
    if path == "/embed":
        text = request.get("text", request.get("input"))
        if not isinstance(text, str):
            raise ValueError('expected {"text": "..."}')
        return {"embedding": embed(text, role), "dims": DIMS, "model": model["embed"]}
    if path == "/generate":
        prompt = request.get("prompt")
        if not isinstance(prompt, str):
            raise ValueError('expected {"prompt": "..."}')
        return {"text": generate(prompt, role), "model": model["generate"]}
    if path == "/classify":
        text = request.get("text")
        if not isinstance(text, str):
            raise ValueError('expected {"text": "..."}')
        label, score = classify(text, role)
        return {"label": label, "score": score, "model": model["classify"]}
    raise KeyError(path)


def latency_ms(path: str, text: str, role: str) -> float:
    """A deterministic, realistic-looking service time: log-normal noise and a rare slow request."""
    fixed, per_token = COST_MS[path.strip("/")]
    ms = fixed + per_token * len(tokenize(text))
    if role == "shadow":
        ms = ms * 1.35 + 0.5
    rng = random.Random(digest("latency", role, path, text))
    ms *= rng.lognormvariate(0.0, 0.25)
    if rng.random() < 0.01:
        ms *= 4
    return ms


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to each.
    disable_nagle_algorithm = True
    role = "production"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            return self._send(200, b"ok", "text/plain")
        if self.path == "/":
            return self._send(200, encode({"role": self.role, "models": MODEL_NAMES[self.role]}))
        self._send(404, encode({"error": f"no route {self.path}"}))

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path not in ("/embed", "/generate", "/classify"):
            return self._send(404, encode({"error": f"no model at {path}"}))
        try:
            request = json.loads(raw or b"{}")
            if not isinstance(request, dict):
                raise ValueError("expected a JSON object")
            body = answer(path, request, self.role)
        except ValueError as e:
            return self._send(400, encode({"error": str(e)}))
        text = request.get("text") or request.get("prompt") or request.get("input") or ""
        time.sleep(latency_ms(path, str(text), self.role) / 1000.0)
        self._send(200, encode(body))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args(argv)
    handler = type("RoleHandler", (Handler,), {"role": args.role})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    print(f"{args.role} models listening on {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
