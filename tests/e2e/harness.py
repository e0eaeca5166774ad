"""End-to-end harness: the pinned Envoy and scriptable model servers, on loopback only.

The fixtures that use it, and the report hook, are in conftest.py.

Each test environment (`Env`) starts its own model servers and one Envoy from a SHIPPED config file
(envoy/envoy.yaml, envoy/envoy-two-shadows.yaml). The config is copied to a temporary file with only three
kinds of change: ports (Envoy's listener and admin bind port 0, so the kernel picks ports no other process
holds; each model server and the sample sink get a port found free by binding port 0), the wasm path (made
absolute), and a short `stats_flush_interval` so histograms show up quickly. A test that needs a variant
(shorter timeouts, the fault-injection build) says so through `Env.start(derive=..., wasm=...)`, so every
difference from the shipped file is written in the test. Readiness is polled with a deadline, never slept
for. Only processes started here are stopped, by their PID.

Environments are shared per module: each test uses its own paths and asserts deltas, and `Env.settle()`
waits until the compare service has nothing pending, so one test's pairs never land in the next one's.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENVOY = Path(os.environ.get("SHADOW_COMPARE_ENVOY", REPO / ".venv" / "bin" / "envoy"))
WASM = REPO / "target" / "wasm32-wasip1" / "release" / "shadow_compare.wasm"
# The same filter with test-only fault switches (`make wasm-fault`, src/wasm/fault.rs): never deployed.
FAULT_WASM = REPO / "target" / "fault" / "wasm32-wasip1" / "release" / "shadow_compare.wasm"
CLI = REPO / "target" / "release" / "shadow-compare"
MODEL_SERVER = Path(__file__).resolve().with_name("model_server.py")
ENVOY_YAML = REPO / "envoy" / "envoy.yaml"
TWO_SHADOWS_YAML = REPO / "envoy" / "envoy-two-shadows.yaml"
SAMPLED_YAML = REPO / "envoy" / "envoy-sampled.yaml"

# The ports the shipped configs use, by what they are.
LISTENER_PORT, ADMIN_PORT = 8080, 9901
# The `sample_sink` cluster: `shadow-compare collect` listens here in a deployment.
SINK_PORT = 9902
MODEL_PORTS = {"primary": 8001, "shadow": 8002, "shadow2": 8003}

PRIMARY = "production_model"
SHADOW = "shadow_model"
SHADOW_B = "shadow_model_b"
# envoy-sampled.yaml: the plain clusters that carry the requests outside the sample.
PRIMARY_DIRECT = "production_model_direct"
SHADOW_DIRECT = "shadow_model_direct"

# Histograms reach the admin endpoint only at a stats flush; 5 s by default, too slow for tests.
TEST_FLUSH_INTERVAL = "0.5s"
START_DEADLINE_S = 60.0
LOG_LINES_ON_FAILURE = 300


def stat(rule: str, shadow: str, metric: str) -> str:
    """Full admin name of a per-rule, per-shadow stat (see src/stats.rs)."""
    return f"wasmcustom.shadow_compare.rule.{rule}.shadow.{shadow}.{metric}"


def reason_stat(rule: str, shadow: str, reason: str) -> str:
    return f"wasmcustom.shadow_compare.rule.{rule}.shadow.{shadow}.reason.{reason}.compare_errors"


def global_stat(metric: str) -> str:
    return f"wasmcustom.shadow_compare.{metric}"


# ---------------------------------------------------------------------------------------------- ports

_issued_ports: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now, never handed out twice in this test run."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _issued_ports:
            _issued_ports.add(port)
            return port
    raise RuntimeError("no free loopback port after 100 tries")


# ---------------------------------------------------------------------------------------------- HTTP


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
    """One request on a fresh connection to 127.0.0.1:port; `seconds` is the client-side latency."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        start = time.monotonic()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        seconds = time.monotonic() - start
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, seconds)
    finally:
        conn.close()


def poll(what: str, check, timeout: float, interval: float = 0.05):
    """Calls `check()` until it returns a non-None value or the deadline passes (then AssertionError).

    `check` may return None to mean "not yet"; its last exception or value is put in the failure message.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value is not None:
                return value
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------- configs


def render_config(src: Path, ports: dict[int, int], flush_interval: str | None = TEST_FLUSH_INTERVAL,
                  wasm: Path | None = None) -> dict:
    """The shipped config `src` with its ports mapped through `ports`, the wasm path made absolute (or
    replaced by `wasm`) and, if given, a test-only stats flush interval. Any other change is the caller's,
    on the returned dict."""
    cfg = yaml.safe_load(src.read_text())

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "port_value":
                    if value not in ports:
                        raise ValueError(f"{src.name}: port {value} has no test port")
                    node[key] = ports[value]
                elif key == "filename" and isinstance(value, str) and value.endswith(".wasm"):
                    path = wasm or (Path(value) if Path(value).is_absolute() else REPO / value)
                    node[key] = str(path.resolve())
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(cfg)
    if flush_interval:
        cfg["stats_flush_interval"] = flush_interval
    return cfg


def write_config(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def clusters(cfg: dict) -> dict[str, dict]:
    return {c["name"]: c for c in cfg["static_resources"]["clusters"]}


def capture_config(cluster: dict) -> dict:
    """The capture filter's `config` block on a cluster (the wasm filter among its upstream filters)."""
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    for f in options["http_filters"]:
        if f["name"] == "envoy.filters.http.wasm":
            return f["typed_config"]["config"]
    raise KeyError(f"cluster {cluster['name']} has no wasm filter")


def compare_config(cfg: dict) -> dict:
    """The compare service's plugin configuration (parsed JSON) from the bootstrap extension."""
    for ext in cfg.get("bootstrap_extensions", []):
        if ext["name"] == "envoy.bootstrap.wasm":
            return json.loads(ext["typed_config"]["config"]["configuration"]["value"])
    raise KeyError("no envoy.bootstrap.wasm extension")


def set_compare_config(cfg: dict, **changes) -> dict:
    """Changes top-level fields of the compare service's configuration in `cfg`; returns the new value."""
    for ext in cfg.get("bootstrap_extensions", []):
        if ext["name"] == "envoy.bootstrap.wasm":
            value = ext["typed_config"]["config"]["configuration"]
            plugin = json.loads(value["value"]) | changes
            value["value"] = json.dumps(plugin)
            return plugin
    raise KeyError("no envoy.bootstrap.wasm extension")


def main_route(cfg: dict) -> dict:
    """The `route` action of the first route of the first listener (the one the shipped configs mirror on)."""
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]


def require_wasm(wasm: Path = WASM, make_target: str = "wasm"):
    if not wasm.is_file():
        pytest.fail(f"{wasm.relative_to(REPO)} is missing: build it with `make {make_target}`", pytrace=False)
    if not ENVOY.exists():
        pytest.fail(f"{ENVOY} is missing: install it with `make venv`", pytrace=False)


# ---------------------------------------------------------------------------------------------- processes


def stop_process(proc: subprocess.Popen, timeout: float = 10.0):
    """SIGTERM, then SIGKILL after `timeout`: only this PID, which this harness started."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = LOG_LINES_ON_FAILURE, start: int = 0) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    with path.open("rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    out = text.splitlines()
    cut = len(out) - lines
    return ("\n".join([f"... ({cut} earlier lines cut)"] + out[-lines:]) if cut > 0 else "\n".join(out))


class ModelServer:
    """tests/e2e/model_server.py in one role, on a free port."""

    def __init__(self, role: str, workdir: Path):
        self.role = role
        self.log = workdir / f"model-{role}.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        for _ in range(3):
            self.port = free_port()
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, str(MODEL_SERVER), "--port", str(self.port), "--role", role],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            try:
                poll(f"model server {role} on :{self.port}", self._healthy, timeout=15)
                return
            except AssertionError:
                # Most likely someone took the port between probing and binding: try another one.
                stop_process(self.proc)
        raise RuntimeError(f"model server {role} did not start; see {self.log}:\n{tail(self.log, 40)}")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"exited with {self.proc.returncode}")
        return True if http_request(self.port, "GET", "/healthz", timeout=2).status == 200 else None

    def seen(self) -> list[dict]:
        """Requests this server received since the last call (method, path, lowercased headers)."""
        return http_request(self.port, "GET", "/_seen").json()

    def stop(self):
        if self.proc:
            stop_process(self.proc)


class Collector:
    """`shadow-compare collect`, the sample sink, on a free loopback port, storing into `db`."""

    def __init__(self, workdir: Path, name: str = "collect"):
        self.db = workdir / f"{name}.db"
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        if not CLI.is_file():
            pytest.fail(f"{CLI.relative_to(REPO)} is missing: build it with `make cli`", pytrace=False)
        for _ in range(3):
            self.port = free_port()
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [str(CLI), "collect", "--listen", f"127.0.0.1:{self.port}", "--db", str(self.db)],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            try:
                poll(f"collect on :{self.port}", self._healthy, timeout=15)
                return
            except AssertionError:
                stop_process(self.proc)
        raise RuntimeError(f"collect did not start; see {self.log}:\n{tail(self.log, 40)}")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"exited with {self.proc.returncode}")
        return True if http_request(self.port, "GET", "/healthz", timeout=2).status == 200 else None

    def stop(self):
        if self.proc:
            stop_process(self.proc)


class Blackhole:
    """A loopback port that is listened on but never answers a SYN: a shadow whose connect times out.

    A listening socket with backlog 0 that never calls accept(): Linux queues one completed connection
    (backlog + 1), which the first filler takes; once the accept queue is full, further SYNs are dropped
    (`ListenOverflows`), so a connecting client sees nothing until its own connect timeout. `verify()`
    checks that the kernel really behaves so before a test relies on it.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        _issued_ports.add(self.port)
        self.fillers: list[socket.socket] = []
        for _ in range(2):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(c)

    def verify(self, timeout: float = 0.3) -> bool:
        """True when a fresh connect gets no answer within `timeout` (the SYN was dropped)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(timeout)
            try:
                probe.connect(("127.0.0.1", self.port))
            except (TimeoutError, socket.timeout):
                return True
            return False

    def close(self):
        """Closes the listener (and fillers): from now on the port refuses connections."""
        for c in self.fillers:
            c.close()
        self.fillers.clear()
        self.sock.close()


class Envoy:
    """One Envoy process from a rendered config; the listener and admin ports are read back from Envoy."""

    def __init__(self, cfg: dict, workdir: Path, name: str):
        self.name = name
        self.workdir = workdir
        self.config_path = write_config(cfg, workdir / f"{name}.yaml")
        self.log = workdir / f"{name}.log"
        self.admin_address_path = workdir / f"{name}.admin"
        self.base_id_path = workdir / f"{name}.base-id"
        self.proc: subprocess.Popen | None = None
        self.admin_port = 0
        self.port = 0

    def command(self, *extra: str) -> list[str]:
        return [
            str(ENVOY), "-c", str(self.config_path),
            "--concurrency", "2",
            # A base id no other Envoy on this machine holds (colleagues run their own): Envoy picks it
            # and writes it to --base-id-path.
            "--use-dynamic-base-id", "--base-id-path", str(self.base_id_path),
            "--component-log-level", "wasm:debug",
            *extra,
        ]

    def start(self, deadline_s: float = START_DEADLINE_S) -> "Envoy":
        self.proc = self._spawn(self.command("--admin-address-path", str(self.admin_address_path)))

        def ready():
            if self.proc.poll() is not None:
                raise EnvoyExited(self.proc.returncode)
            text = self.admin_address_path.read_text().strip() if self.admin_address_path.exists() else ""
            if not text:
                return None
            self.admin_port = int(text.rsplit(":", 1)[1])
            if http_request(self.admin_port, "GET", "/ready", timeout=2).status != 200:
                return None
            listeners = json.loads(self.admin("/listeners?format=json"))["listener_statuses"]
            return listeners[0]["local_address"]["socket_address"]["port_value"]

        try:
            self.port = poll(f"Envoy {self.name} /ready", ready, timeout=deadline_s, interval=0.1)
        except (AssertionError, EnvoyExited) as e:
            self.stop()
            raise RuntimeError(f"Envoy {self.name} did not become ready: {e}\n{tail(self.log, 60)}") from None
        return self

    def run_to_exit(self, *extra: str, timeout: float = START_DEADLINE_S) -> int:
        """Runs Envoy expecting it to exit by itself (a bad config, or --mode validate); its exit code."""
        self.proc = self._spawn(self.command(*extra))
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"Envoy {self.name} was still running after {timeout}s") from None

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        # Envoy logs to stderr, unbuffered, straight into the log file. (`--log-path` buffers, flushed every
        # 10 s by default: a failing test would not see the lines that explain it.)
        with self.log.open("ab") as out:
            return subprocess.Popen(args, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        """Envoy's own PID (the .venv launcher execs the binary, so it is the one started here)."""
        return self.proc.pid

    def output(self) -> str:
        """Everything Envoy wrote (its log and its stdout)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self):
        if self.proc:
            stop_process(self.proc)

    # -- admin ------------------------------------------------------------------------------------

    def admin(self, path: str) -> str:
        r = http_request(self.admin_port, "GET", path)
        if r.status != 200:
            raise AssertionError(f"admin {path}: HTTP {r.status}: {r.body[:200]!r}")
        return r.body.decode()

    def stats(self, prefix: str = "wasmcustom.shadow_compare", kind: str = "All") -> dict[str, int]:
        """Counters and gauges (or only `kind`: "Counters", "Gauges") whose name contains `prefix`."""
        query = urllib.parse.urlencode({"format": "json", "type": kind, "filter": _regex_escape(prefix)})
        doc = json.loads(self.admin("/stats?" + query))
        return {s["name"]: s["value"] for s in doc["stats"] if "value" in s}

    def counters(self, prefix: str = "wasmcustom.shadow_compare") -> dict[str, int]:
        return self.stats(prefix, "Counters")

    def value(self, name: str) -> int:
        """A counter or gauge; 0 if Envoy does not show it (yet)."""
        return self.stats(name).get(name, 0)

    def histogram(self, name: str) -> list[tuple[float, float, int]]:
        """The cumulative buckets of a histogram as Envoy keeps them: (lower_bound, width, count).

        Envoy stores histogram samples in log-linear bins with two significant digits (libcircllhist):
        values below 100 are exact to the integer, 100-999 to 10, 1000-9999 to 100. Empty until the
        first stats flush after a sample.
        """
        doc = json.loads(self.admin(
            "/stats?format=json&usedonly&histogram_buckets=detailed&filter=" + urllib.parse.quote(_regex_escape(name))))
        for entry in doc["stats"]:
            histograms = entry.get("histograms")
            for h in histograms.get("details", []) if isinstance(histograms, dict) else []:
                if h["name"] == name:
                    # Bounds are computed in floating point (110.00000000000001): round away the noise.
                    return [(round(b["lower_bound"], 6), round(b["width"], 6), b["count"]) for b in h.get("totals", [])]
        return []

    def wait_for_stat(self, name: str, value: int, timeout: float = 10.0) -> int:
        """Polls a counter or gauge until it equals `value`; fails with the last value seen."""
        seen = []

        def check():
            v = self.value(name)
            seen.append(v)
            return v if v == value else None

        try:
            return poll(f"{name} == {value}", check, timeout)
        except AssertionError:
            raise AssertionError(f"{name}: expected {value}, last seen {seen[-1] if seen else 'nothing'} "
                                 f"after {timeout}s") from None

    def wait_for_histogram_count(self, name: str, count: int, timeout: float = 10.0) -> list:
        """Polls until a histogram holds `count` samples in total (stats flushes are periodic)."""
        def check():
            buckets = self.histogram(name)
            return buckets if sum(c for _, _, c in buckets) >= count else None
        return poll(f"{name} to hold {count} samples", check, timeout)

    def prometheus(self) -> str:
        return self.admin("/stats/prometheus")


class EnvoyExited(Exception):
    def __init__(self, code):
        super().__init__(f"Envoy exited with code {code}")
        self.code = code


def _regex_escape(name: str) -> str:
    # The admin `filter` is a regex; stat names only hold [A-Za-z0-9_.-].
    return name.replace(".", r"\.")


def histogram_delta(before: list, after: list) -> dict[tuple[float, float], int]:
    """Samples added between two readings of `Envoy.histogram`, by (lower_bound, width)."""
    counts: dict[tuple[float, float], int] = {}
    for lower, width, count in after:
        counts[(lower, width)] = counts.get((lower, width), 0) + count
    for lower, width, count in before:
        counts[(lower, width)] = counts.get((lower, width), 0) - count
    return {k: v for k, v in counts.items() if v}


def bin_of(value: int) -> tuple[float, float]:
    """The (lower_bound, width) of the bin Envoy files an integer histogram sample under: two significant
    digits, so 7 -> (7, 0.1), 83 -> (83, 1), 422 -> (420, 10), 1667 -> (1600, 100), 10000 -> (10000, 1000),
    and 0 -> (0, 0)."""
    if value == 0:
        return (0.0, 0.0)
    if value < 10:
        return (float(value), 0.1)
    width = 10 ** (len(str(value)) - 2)
    return (float(value // width * width), float(width))


# ---------------------------------------------------------------------------------------------- environments


@dataclass
class Env:
    """Model servers and one Envoy in front of them."""
    name: str
    workdir: Path
    envoy: Envoy | None = None
    servers: dict[str, ModelServer] = field(default_factory=dict)
    collector: Collector | None = None
    # The compare service's configuration as this Envoy runs it (after `derive`).
    compare: dict = field(default_factory=dict)

    @classmethod
    def start(cls, name: str, workdir: Path, config: Path, roles: tuple[str, ...],
              down: tuple[str, ...] = (), ports: dict[str, int] | None = None, collect: bool = False,
              wasm: Path | None = None, derive=None) -> "Env":
        """Starts a model server per role in `roles` and Envoy from `config`. Roles in `down` get a port
        with nothing listening (a shadow that is down); `ports` maps a role to a port the caller provides
        (e.g. a `Blackhole`). The sample sink is `shadow-compare collect` if `collect`, else a port with
        nothing listening (samples are then counted as failed). `wasm` replaces the filter build;
        `derive(cfg)` may change the rendered config before Envoy starts."""
        env = cls(name, workdir)
        try:
            port_map = {LISTENER_PORT: 0, ADMIN_PORT: 0}
            for role in roles:
                env.servers[role] = ModelServer(role, workdir)
                port_map[MODEL_PORTS[role]] = env.servers[role].port
            for role in down:
                port_map[MODEL_PORTS[role]] = free_port()
            for role, port in (ports or {}).items():
                port_map[MODEL_PORTS[role]] = port
            if collect:
                env.collector = Collector(workdir)
            port_map[SINK_PORT] = env.collector.port if env.collector else free_port()
            cfg = render_config(config, port_map, wasm=wasm)
            if derive:
                derive(cfg)
            env.compare = compare_config(cfg)
            env.envoy = Envoy(cfg, workdir, f"envoy-{name}").start()
        except BaseException:
            env.stop()
            raise
        return env

    @property
    def port(self) -> int:
        return self.envoy.port

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
        return http_request(self.port, method, path, body, headers, timeout)

    def post(self, path: str, spec: dict, headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
        """POSTs a model-server script: `spec` says what each role answers (see model_server.py)."""
        h = {"content-type": "application/json", **(headers or {})}
        return self.request("POST", path, json.dumps(spec).encode(), h, timeout)

    def settle(self, timeout: float = 15.0):
        """Waits until the compare service has no request pending, no pair waiting to be scored, and no
        record has arrived for a moment: whatever a test sent has been counted."""
        state = {"records": -1, "since": time.monotonic()}

        def quiet():
            s = self.envoy.stats()
            records = s.get(global_stat("records"), 0)
            now = time.monotonic()
            if records != state["records"]:
                state["records"], state["since"] = records, now
                return None
            busy = s.get(global_stat("pending"), 0) or s.get(global_stat("backlog"), 0)
            return True if not busy and now - state["since"] >= 0.3 else None

        poll(f"{self.name} to settle", quiet, timeout)

    def stop(self):
        if self.envoy:
            self.envoy.stop()
        for server in self.servers.values():
            server.stop()
        if self.collector:
            self.collector.stop()

    def logs(self) -> list[tuple[str, Path]]:
        out = []
        if self.envoy:
            out.append((f"Envoy log ({self.name})", self.envoy.log))
        for role, server in self.servers.items():
            out.append((f"model server {role} ({self.name})", server.log))
        if self.collector:
            out.append((f"collect ({self.name})", self.collector.log))
        return out
