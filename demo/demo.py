"""`make demo`: shadow-compare working end to end on this machine, in about a minute.

Starts the example model servers (demo/models.py, a production and a shadow version), then Envoy with the
shipped envoy/envoy.yaml, waits until everything is ready, sends a bounded workload through Envoy, and prints
the comparison table from `shadow-compare watch --once`. Everything it started is stopped again, by PID,
also on Ctrl-C and on errors.

  python demo/demo.py           run the demo and stop
  python demo/demo.py --up      leave it running: prints curl commands to try and how to stop it
  python demo/demo.py --down    stop what --up left running

It builds nothing: `make demo` / `make demo-up` build the .wasm and the CLI and install the pinned Envoy
into .venv first. Only 127.0.0.1 is used. The documented ports (8080 users, 9901 admin, 8001 production,
8002 shadow) are used when free; a busy one is replaced by a free port, and the output says so.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import models

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = REPO / "demo" / ".run"
PIDS_FILE = RUN_DIR / "pids.json"
# The environment may point elsewhere (as the e2e harness allows): SHADOW_COMPARE_ENVOY, SHADOW_COMPARE_CLI.
ENVOY = Path(os.environ.get("SHADOW_COMPARE_ENVOY", REPO / ".venv" / "bin" / "envoy"))
WASM = REPO / "target" / "wasm32-wasip1" / "release" / "shadow_compare.wasm"
CLI = Path(os.environ.get("SHADOW_COMPARE_CLI", REPO / "target" / "release" / "shadow-compare"))
MODELS = REPO / "demo" / "models.py"
CONFIG = REPO / "envoy" / "envoy.yaml"

# The ports envoy/envoy.yaml uses, by what they are. `samples` is where the compare service sends
# divergence samples: this demo runs `shadow-compare collect` there (never someone else's collector).
DEFAULT_PORTS = {"listener": 8080, "admin": 9901, "production": 8001, "shadow": 8002, "samples": 9902}
# Histograms reach the admin endpoint at each stats flush (5 s by default); the demo flushes every second.
# Merged over the shipped file with --config-yaml, so the file itself runs unchanged.
CONFIG_OVERLAY = "stats_flush_interval: 1s"

REQUESTS = 300
CONCURRENCY = 4
# Paced so the run takes a few seconds: long enough to watch it live from another terminal.
RATE = 50
SEED = 7
START_DEADLINE_S = 30.0
SETTLE_DEADLINE_S = 30.0


class DemoError(Exception):
    """A failure to report in one line (plus a log excerpt), not with a traceback."""


def say(msg: str = ""):
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------ ports


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port (SO_REUSEADDR, as Envoy binds, so TIME_WAIT is no obstacle)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(taken: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise DemoError("no free loopback port found")


def choose_ports() -> tuple[dict[str, int], list[str]]:
    """The documented ports where free, others where not; and a note per replaced port."""
    ports, notes = {}, []
    taken = set(DEFAULT_PORTS.values())
    for name, port in DEFAULT_PORTS.items():
        if port_is_free(port):
            ports[name] = port
        else:
            ports[name] = free_port(taken)
            taken.add(ports[name])
            notes.append(f"port {port} ({name}) is busy on this machine: using {ports[name]} instead")
    return ports, notes


def render_config(ports: dict[str, int]) -> Path:
    """envoy/envoy.yaml itself when every default port is free, else a copy with only the ports changed."""
    if ports == DEFAULT_PORTS:
        return CONFIG
    text = CONFIG.read_text()
    for name, default in DEFAULT_PORTS.items():
        pattern = re.compile(rf"(port_value:\s*){default}\b")
        if len(pattern.findall(text)) != 1:
            raise DemoError(f"{CONFIG.relative_to(REPO)} no longer has exactly one port_value {default}")
        text = pattern.sub(rf"\g<1>{ports[name]}", text)
    path = RUN_DIR / "envoy.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------ HTTP


def request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """One request to 127.0.0.1:port; reuses `conn` (keep-alive) when given."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if own:
            c.close()


def poll(what: str, check, deadline_s: float, interval: float = 0.1, on_timeout=None):
    """Calls check() until it returns something other than None, or raises DemoError at the deadline."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            value = check()
            if value is not None:
                return value
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        if time.monotonic() > deadline:
            detail = f" (last error: {last})" if last else ""
            raise DemoError(f"timed out after {deadline_s:.0f} s waiting for {what}{detail}"
                            + (f"\n{on_timeout()}" if on_timeout else ""))
        time.sleep(interval)


# ------------------------------------------------------------------------------------------ processes


# Envoy stops when its parent process exits (it gets SIGTERM then), so Envoy runs under this small keeper,
# which outlives `--up` and passes SIGTERM/SIGINT on to Envoy. Stopping the keeper's PID stops Envoy.
ENVOY_KEEPER = """\
import signal, subprocess, sys
envoy = subprocess.Popen(sys.argv[1:])
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda *_: envoy.send_signal(signal.SIGTERM))
sys.exit(envoy.wait())
"""


class Processes:
    """What this run started: stopped by PID in reverse order of start, never by name."""

    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], log: Path) -> subprocess.Popen:
        with log.open("wb") as out:
            # Detached from the terminal (setsid): Ctrl-C reaches only this script, which then stops them cleanly.
            proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc, log))
        return proc

    def check_alive(self):
        for name, proc, log in self.procs:
            if proc.poll() is not None:
                raise DemoError(f"{name} exited with code {proc.returncode}; its log ({rel(log)}):\n{tail(log)}")

    def stop(self):
        for name, proc, _ in reversed(self.procs):
            stop_pid(proc.pid, lambda p=proc: p.poll() is not None)
            proc.poll()
        self.procs.clear()


def stop_pid(pid: int, exited, timeout: float = 10.0):
    """SIGTERM, then SIGKILL if still running after `timeout`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exited():
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    out = path.read_text(errors="replace").splitlines()
    return "\n".join("    " + line for line in out[-lines:])


# ------------------------------------------------------------------------------------------ starting


def check_prerequisites():
    missing = [rel(p) for p in (ENVOY, WASM, CLI) if not p.exists()]
    if missing:
        raise DemoError(f"missing {', '.join(missing)}: run `make demo` (it builds them and installs Envoy)")


SAMPLES_DB = RUN_DIR / "samples.db"


def start_all(procs: Processes, ports: dict[str, int]) -> Path:
    RUN_DIR.mkdir(exist_ok=True)
    for role in ("production", "shadow"):
        procs.start(f"{role} model server",
                    [sys.executable, str(MODELS), "--role", role, "--port", str(ports[role])],
                    RUN_DIR / f"models-{role}.log")
    for old in RUN_DIR.glob("samples.db*"):
        old.unlink()
    procs.start("sample collector",
                [str(CLI), "collect", "--db", str(SAMPLES_DB), "--listen", f"127.0.0.1:{ports['samples']}"],
                RUN_DIR / "collect.log")
    config = render_config(ports)
    envoy_log = RUN_DIR / "envoy.log"
    procs.start("Envoy", [
        sys.executable, "-c", ENVOY_KEEPER, str(ENVOY), "-c", str(config), "--config-yaml", CONFIG_OVERLAY,
        "--concurrency", "2",
        # Other Envoys may run on this machine: let this one pick a shared-memory base id nobody holds.
        "--use-dynamic-base-id", "--base-id-path", str(RUN_DIR / "envoy.base-id"),
        "--log-level", "warning", "--component-log-level", "wasm:info",
    ], envoy_log)

    def up(role):
        procs.check_alive()
        status, _ = request(ports[role], "GET", "/healthz", timeout=1)
        return True if status == 200 else None

    for role in ("production", "shadow", "samples"):
        poll(f"the {role} server on :{ports[role]}", lambda r=role: up(r), START_DEADLINE_S)

    def envoy_ready():
        procs.check_alive()
        status, body = request(ports["admin"], "GET", "/ready", timeout=1)
        return True if status == 200 and body.strip() == b"LIVE" else None

    poll("Envoy to be ready", envoy_ready, START_DEADLINE_S, on_timeout=lambda: tail(envoy_log))

    # Requests before the first health check passes would get "no healthy upstream".
    def clusters_healthy():
        procs.check_alive()
        _, body = request(ports["admin"], "GET", "/clusters", timeout=1)
        text = body.decode()
        flags = re.findall(r"^(production_model|shadow_model)::[^:]+:\d+::health_flags::(\S+)$", text, re.M)
        healthy = {c for c, f in flags if f == "healthy"}
        return True if healthy == {"production_model", "shadow_model"} else None

    poll("both clusters to pass their health check", clusters_healthy, START_DEADLINE_S,
         on_timeout=lambda: tail(envoy_log))
    return config


# ------------------------------------------------------------------------------------------ workload

EMBED_QUERIES = [
    "how do I {verb} my {noun}", "{noun} not working after the update", "where can I find my {noun}",
    "change the {noun} on my account", "{noun} {issue}", "is there a fee to {verb} a {noun}",
]
EMBED_VERBS = ["reset", "update", "cancel", "download", "check", "replace"]
# Weighted: a few of these are in the shadow's changed vocabulary (models.CHANGED_VOCABULARY).
EMBED_NOUNS = ["account", "order", "subscription", "battery", "screen", "app", "payment method", "address",
               "email", "plan", "device", "password", "invoice", "refund", "warranty", "shipping label"]
EMBED_ISSUES = ["keeps failing", "is missing", "shows an error", "was charged twice", "looks wrong"]

REVIEW_OPENINGS = [
    "The delivery was fast and the support team was great.", "I love how easy the new app is.",
    "Excellent service, thanks.", "The package arrived late and the box was broken.",
    "Terrible experience, the app crashed twice.", "I am disappointed, my order is still missing.",
    "The order arrived today.", "I changed my address last week.", "The invoice lists three items.",
    "Setup was quick.", "It works, mostly.", "Support was helpful but slow.",
]
REVIEW_ADDITIONS = [
    "I would like a refund.", "Please cancel my subscription.", "Everything else is good.",
    "The screen looks perfect.", "There is an error on the second page.", "I have never had this problem.",
    "Thanks for the quick reply.", "The battery lasts two days.", "My payment went through.",
    "Customer service answered within an hour.",
]
PROMPTS = [
    "Reply to a customer who says: {review}", "Summarize the ticket: {query}",
    "Write a short answer for: {query}", "Reply to this message: {review}",
]


def review(rng: random.Random) -> str:
    parts = [rng.choice(REVIEW_OPENINGS)] + rng.sample(REVIEW_ADDITIONS, rng.choice([0, 1, 1, 2]))
    return " ".join(parts)


def query(rng: random.Random) -> str:
    return rng.choice(EMBED_QUERIES).format(verb=rng.choice(EMBED_VERBS), noun=rng.choice(EMBED_NOUNS),
                                            issue=rng.choice(EMBED_ISSUES))


def workload(n: int, seed: int = SEED) -> list[tuple[str, dict]]:
    """`n` requests spread over the three models, with varied, reproducible inputs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = ("/embed", "/generate", "/classify")[i % 3]
        if kind == "/embed":
            out.append((kind, {"text": query(rng)}))
        elif kind == "/generate":
            out.append((kind, {"prompt": rng.choice(PROMPTS).format(review=review(rng), query=query(rng))}))
        else:
            out.append((kind, {"text": review(rng)}))
    return out


class Progress:
    """A plain-text progress bar: redrawn in place on a terminal, a few lines otherwise."""

    def __init__(self, total: int):
        self.total, self.done, self.failed = total, 0, 0
        self.start = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.lock = threading.Lock()
        self.last_quarter = -1

    def step(self, ok: bool):
        with self.lock:
            self.done += 1
            self.failed += 0 if ok else 1
            if self.tty:
                self._draw(end="\n" if self.done == self.total else "")
            elif self.done * 4 // self.total != self.last_quarter:
                self.last_quarter = self.done * 4 // self.total
                self._draw(end="\n")

    def _draw(self, end: str):
        width = 40
        filled = width * self.done // self.total
        rate = self.done / max(time.monotonic() - self.start, 1e-6)
        failed = f"  {self.failed} failed" if self.failed else ""
        prefix = "\r" if self.tty else ""
        sys.stdout.write(f"{prefix}  [{'#' * filled}{'.' * (width - filled)}] {self.done:>4}/{self.total}"
                         f"  {rate:5.0f} req/s{failed}{end}")
        sys.stdout.flush()


def send_workload(port: int, items: list[tuple[str, dict]], concurrency: int, rate: float) -> dict:
    """Sends `items` through Envoy with `concurrency` keep-alive connections, at most `rate` per second
    (0: as fast as they go); a tally of statuses."""
    progress = Progress(len(items))
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(enumerate(items))
    local = threading.local()

    started = time.monotonic()

    def one(item):
        i, (path, body) = item
        if rate > 0:
            wait = started + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        data = json.dumps(body).encode()
        try:
            status, _ = request(port, "POST", path, data, conn=conn)
        except (OSError, http.client.HTTPException):
            # A kept-alive connection the server closed meanwhile: once more on a fresh one.
            conn.close()
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                status, _ = request(port, "POST", path, data, conn=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
                status = 0
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
        progress.step(status == 200)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, queue))
    return {"statuses": statuses, "seconds": time.monotonic() - started}


# ------------------------------------------------------------------------------------------ results


def admin_json(admin_port: int, regex: str, histograms: bool = False) -> dict:
    q = {"format": "json", "filter": regex}
    if histograms:
        q["histogram_buckets"] = "cumulative"
    status, body = request(admin_port, "GET", "/stats?" + urllib.parse.urlencode(q))
    if status != 200:
        raise ValueError(f"admin /stats answered {status}")
    return json.loads(body)


def settle(admin_port: int):
    """Waits until every response has been paired and scored and the histograms hold every pair."""
    state = {"records": -1, "since": time.monotonic()}

    def done():
        doc = admin_json(admin_port, r"^wasmcustom\.shadow_compare\.", histograms=True)
        values = {s["name"]: s["value"] for s in doc["stats"] if "value" in s}
        g = lambda m: values.get(f"wasmcustom.shadow_compare.{m}", 0)  # noqa: E731
        if g("records") != state["records"]:
            state["records"], state["since"] = g("records"), time.monotonic()
            return None
        if g("pending") or g("backlog") or time.monotonic() - state["since"] < 0.5:
            return None
        pairs = sum(v for k, v in values.items() if k.endswith(".pairs"))
        latency_samples = 0
        for entry in doc["stats"]:
            for h in entry.get("histograms", []) if isinstance(entry.get("histograms"), list) else []:
                if h["name"].endswith(".primary_latency_ms") and h.get("buckets"):
                    latency_samples += h["buckets"][-1]["cumulative"]
        # Histograms appear at the next stats flush: wait until they hold every scored pair.
        return True if latency_samples >= pairs else None

    poll("the compare service to score every pair", done, SETTLE_DEADLINE_S, interval=0.25)


def table(admin_port: int) -> str:
    r = subprocess.run([str(CLI), "watch", "--admin", f"http://127.0.0.1:{admin_port}", "--once"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise DemoError(f"shadow-compare watch --once failed: {r.stderr.strip()}")
    return r.stdout


LEGEND = """\
  pairs       primary and shadow both answered, compared by the rule's metric
  divergent   share of pairs below the rule's threshold (embed: cosine < 0.99, generate: ROUGE-L < 0.85,
              classify: a different label)
  median sim  1 - median(distance_bp) / 10000 (Envoy's own quantile); most pairs agree (int8 rounding moves
              a cosine by about 0.00001), so it is ~1: the divergent share is the news
  p50/p99 ms  upstream latency of each side over the paired requests; the shadow is slower by design, and
              never slows users down (its answer is compared, then dropped)
  missing     one side never answered in time; errors: shadow 5xx/resets plus pairs that could not be scored
  predict     a fourth rule in envoy.yaml that this workload does not use (no pairs)"""


def summary(run: dict, n: int):
    statuses = ", ".join(f"{count} x {code or 'connection error'}" for code, count in sorted(run["statuses"].items()))
    say(f"  {n} requests in {run['seconds']:.1f} s; users got: {statuses} (all from production)")


# ------------------------------------------------------------------------------------------ --up / --down


def curl_examples() -> list[tuple[str, str, dict]]:
    """(path, what to notice, request) to try after --up; expected outputs come from demo/models.py."""
    return [
        ("/classify", "clear cases agree: the shadow says positive too",
         {"text": "The delivery was fast and the support team was great."}),
        ("/classify", "a borderline case: the shadow's higher threshold says neutral, so this pair is divergent",
         {"text": "The invoice lists three items. Everything else is good."}),
        ("/generate", "a templated answer; the shadow paraphrases some of them",
         {"prompt": "Reply to a customer who says: my invoice looks wrong"}),
        ("/embed", "384 numbers (abbreviated here); 'password' is in the shadow's changed vocabulary",
         {"text": "how do I reset my password"}),
    ]


def expected(path: str, body: dict, role: str = "production") -> str:
    out = json.loads(models.encode(models.answer(path, body, role)))
    if path == "/embed":
        head = ", ".join(str(x) for x in out["embedding"][:3])
        return f'{{"embedding": [{head}, ... {models.DIMS - 3} more], "dims": {out["dims"]}, "model": "{out["model"]}"}}'
    return json.dumps(out)


def print_up_instructions(ports: dict[str, int]):
    base = f"http://127.0.0.1:{ports['listener']}"
    say("\nIt keeps running. Try it: users get production's answer; the shadow's is compared, then dropped.\n")
    for path, note, body in curl_examples():
        status, got = request(ports["listener"], "POST", path, json.dumps(body).encode())
        want = expected(path, body)
        # Check the printed expectation against this very run (embeddings are printed abbreviated).
        same = status == 200 and (got.decode() == want or path == "/embed"
                                  and json.loads(got) == models.answer(path, body, "production"))
        say(f"  # {note}")
        say(f"  curl -s {base}{path} -H 'content-type: application/json' -d {shlex.quote(json.dumps(body))}")
        say(f"  {want}" + ("" if same else f"\n  (!) but this run answered {status}: {got[:200]!r}"))
        if path == "/classify":
            say(f"  (the shadow answered {expected(path, body, 'shadow')})")
        say()
    admin = f"http://127.0.0.1:{ports['admin']}"
    say("Watch the comparison live (Ctrl-C to quit):")
    say(f"  {rel(CLI)} watch --admin {admin}")
    say("The promotion verdict, with the sampled divergent pairs as examples:")
    say(f"  {rel(CLI)} report --admin {admin} --db {rel(SAMPLES_DB)}")
    say("The same numbers as Prometheus metrics:")
    say(f"  curl -s {admin}/stats/prometheus | grep '^shadow_compare_'")
    say("Stop everything:")
    say("  python3 demo/demo.py --down")
    say(f"Logs: {rel(RUN_DIR)}/")


def write_pids(procs: Processes, ports: dict[str, int]):
    entries = [{"name": name, "pid": p.pid, "cmdline": proc_cmdline(p.pid)} for name, p, _ in procs.procs]
    PIDS_FILE.write_text(json.dumps({"ports": ports, "processes": entries}, indent=2) + "\n")


def proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def running_from_pid_file() -> list[dict]:
    """Processes listed in the PID file that still run the same command line (a reused PID is not ours)."""
    if not PIDS_FILE.exists():
        return []
    try:
        entries = json.loads(PIDS_FILE.read_text())["processes"]
    except (ValueError, KeyError):
        return []
    return [e for e in entries if e.get("cmdline") and proc_cmdline(e["pid"]) == e["cmdline"]]


def down() -> int:
    alive = running_from_pid_file()
    if not alive:
        say("Nothing to stop: no demo started with --up is running.")
    for e in reversed(alive):
        stop_pid(e["pid"], lambda pid=e["pid"]: proc_cmdline(pid) != e["cmdline"])
        say(f"stopped {e['name']} (pid {e['pid']})")
    PIDS_FILE.unlink(missing_ok=True)
    return 0


# ------------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--up", action="store_true", help="leave the demo running")
    mode.add_argument("--down", action="store_true", help="stop a demo started with --up")
    parser.add_argument("--requests", type=int, default=REQUESTS, help=f"requests to send (default {REQUESTS})")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help=f"(default {CONCURRENCY})")
    parser.add_argument("--rate", type=float, default=RATE,
                        help=f"requests per second at most, 0 for no limit (default {RATE})")
    args = parser.parse_args()
    if args.down:
        return down()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 64 or not 0 <= args.rate <= 100_000:
        parser.error("--requests must be 1..100000, --concurrency 1..64 and --rate 0..100000")

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, through the `finally` that stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    procs = Processes()
    keep = False
    try:
        check_prerequisites()
        if running_from_pid_file():
            raise DemoError("a demo started with --up is still running: stop it with `python demo/demo.py --down`")
        ports, notes = choose_ports()
        for note in notes:
            say(f"note: {note}")
        say("Starting the model servers (demo/models.py) and Envoy (envoy/envoy.yaml)...")
        t0 = time.monotonic()
        config = start_all(procs, ports)
        say(f"  ready in {time.monotonic() - t0:.1f} s: users -> :{ports['listener']} -> production :{ports['production']},"
            f" mirrored to shadow :{ports['shadow']}; admin :{ports['admin']}"
            + ("" if config == CONFIG else f" (config with changed ports: {rel(config)})"))

        pace = f", {args.rate:g}/s" if args.rate else ""
        say(f"Sending {args.requests} requests over /embed, /generate and /classify ({args.concurrency} at a time{pace})...")
        run = send_workload(ports["listener"], workload(args.requests), args.concurrency, args.rate)
        summary(run, args.requests)
        settle(ports["admin"])
        say(f"\nWhat the shadow would have done (shadow-compare watch --admin http://127.0.0.1:{ports['admin']} --once):\n")
        say(table(ports["admin"]))
        say(LEGEND)
        sent = admin_json(ports["admin"], r"^wasmcustom\.shadow_compare\.samples\.sent$")["stats"]
        say(f"\n{sent[0]['value'] if sent else 0} divergent pairs were sampled (redacted, at most 10 a second)"
            f" into {rel(SAMPLES_DB)} by `shadow-compare collect`.")
        if args.up:
            write_pids(procs, ports)
            print_up_instructions(ports)
            keep = True
        else:
            say("\nStopping everything this demo started. `make demo-up` leaves it running to explore.")
        return 0
    except DemoError as e:
        say(f"\ndemo failed: {e}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    finally:
        if not keep:
            procs.stop()


if __name__ == "__main__":
    sys.exit(main())
