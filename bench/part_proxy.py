"""Part B: what the filter costs the primary path, what the compare service can score, and Envoy's memory.

Everything on 127.0.0.1. Two bench upstreams (benches/upstream.rs: production and shadow, canned bodies)
and six Envoys, all running at once on their own ports:
  a  envoy/envoy.yaml routing to production only: no mirror, no wasm
  b  envoy/envoy.yaml mirroring to the shadow, no wasm
  b2 the same config as b, in a process of its own: the A/A control. Two identical Envoys measured the same
     way still differ (one-off: 8 interleaved rounds gave b2/b throughput 1.051, 1.018, 0.994 and 0.979
     in four runs), so b2/b shows how large a ratio this run can tell from noise
  w  b + the least a wasm capture can be (bench/floor_filter: one no-op callback, for response body chunks) on
     both upstream clusters: what any wasm capture pays before its own code runs, so w/b says what of c/b is left
     to win
  c  envoy/envoy.yaml as shipped: mirroring, capture filters on both clusters, the compare service
  d  envoy/envoy-sampled.yaml as shipped: every request mirrored, a sample captured and scored
Load comes from wrk. For each kind of request (embed, generate, classify) and each load (paced, saturation)
the six Envoys are measured back to back, in an order that rotates every round, and restarted before
each round; the tables give medians over rounds and the ratios of medians.

The compare service's capacity: during c's saturation runs the stats tell pairs scored, dropped and the
highest backlog seen, and /proc tells the CPU time of Envoy's main thread, where the service runs. On this
machine the proxy's own work takes the cores before the service is saturated, so two more Envoys, e and f,
measure the service alone: c's config with the fault-injection build, whose compare service pauses scoring on
cue. The drain probe pauses it, saturates the proxy until the backlog is full, resumes it, and times how fast
the backlog drains while the main thread has nothing else to do: e at the default `main_thread_percent` (50),
f at 100. Next to it, a Python /compare service (bench/py_compare_service.py, FastAPI + uvicorn, one
process) is saturated with the same pairs of bodies.
"""

import copy
import json
import os
import shutil
import subprocess
import threading
import time

import yaml

from common import (
    GENERATED, ROOT, Processes, fmt, fmt_ratio, http, median, port_free, ratio, rel, show_cmd, table, wait_until,
)

CONFIGS = ("a", "b", "b2", "w", "c", "d")
# The configs with shadow-compare in them, each measured against b.
CANDIDATES = ("c", "d")
# b again: its ratios to b are what noise alone gives.
CONTROL = "b2"
# The configs without wasm.
PLAIN = ("a", "b", CONTROL)
# b + the floor filter on both upstream clusters, no compare service: the floor under c.
FLOOR = "w"
CONFIG_NAMES = {
    "a": "a: no mirror, no wasm",
    "b": "b: mirror, no wasm",
    "b2": "b2: b again (A/A control)",
    "w": "w: mirror + a no-op wasm filter",
    "c": "c: mirror + shadow-compare",
    "d": "d: mirror + shadow-compare on a sample",  # the sample's percent is added from the file
}
# The shipped file each config starts from (a and b then drop what they do not have).
CONFIG_FILES = {"a": "envoy/envoy.yaml", "b": "envoy/envoy.yaml", "b2": "envoy/envoy.yaml", "w": "envoy/envoy.yaml",
                "c": "envoy/envoy.yaml", "d": "envoy/envoy-sampled.yaml"}
KINDS = {  # request path -> the rule's kind in envoy/envoy.yaml
    "embed": "cosine",
    "generate": "rouge_l",
    "classify": "exact",
}
# Capacity probe, on c only: 2,000-token texts (rule "generate" by prefix) cost the compare service more per
# pair than the proxy can deliver, so its sustained rate, drops and backlog show.
PROBES = {"generate_long": "rouge_l"}
LABELS = {"embed": "cosine (1,536 dims)", "generate": "rouge_l (500 tokens)", "classify": "exact",
          "generate_long": "rouge_l (2,000 tokens)"}
# The drain probe's Envoys: config -> main_thread_percent. Each starts from c's config with the fault-injection
# build and DRAIN_MAX_BACKLOG; they take no other load.
DRAIN = {"e": 50, "f": 100}
# Captures shed from half of it: ~8,000 pairs, a drain long enough to time with 20 ms polls.
DRAIN_MAX_BACKLOG = 16_000
DRAIN_NAMES = {w: f"{w}: c scoring alone, main_thread_percent {p}" for w, p in DRAIN.items()}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- setup


def find_wrk(log):
    """wrk from Debian's package: installed here when missing and we are root, else a clear message."""
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing Debian's package (apt-get update && apt-get install -y wrk)")
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL)
        wrk = shutil.which("wrk")
        if wrk:
            return wrk
    raise RuntimeError("Part B needs wrk: install it with `apt-get install -y wrk` (Debian/Ubuntu), then re-run")


def ports_from(base, tries=10):
    """The bench's ports: the first block of 100 from `base` on whose ports nothing listens."""
    for block in range(base, base + 100 * tries, 100):
        ports = {
            "primary": block + 1, "shadow": block + 2, "sink": block + 3, "python": block + 10,
            **{f"listen_{c}": block + 80 + i for i, c in enumerate(CONFIGS + tuple(DRAIN))},
            **{f"admin_{c}": block + 90 + i for i, c in enumerate(CONFIGS + tuple(DRAIN))},
        }
        if all(port_free(p) for p in ports.values()):
            return ports
    raise RuntimeError(f"no free block of ports on 127.0.0.1 from {base} (choose another: --port-base)")


def walk(node, fn):
    fn(node)
    if isinstance(node, dict):
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


def sample_percent(cfg):
    """The default of `shadow_compare.capture_percent` in a sampled config: the percent of requests scored."""
    found = []

    def look(node):
        if isinstance(node, dict) and node.get("runtime_key") == "shadow_compare.capture_percent":
            found.append(node["default_value"]["numerator"])

    walk(cfg, look)
    if len(found) != 1:
        raise RuntimeError(f"{CONFIG_FILES['d']}: expected one route sampled by shadow_compare.capture_percent")
    return found[0]


def envoy_config(base, which, ports, wasm, floor_wasm=None):
    """A shipped config with the bench's ports and .wasm copy; a, b and b2 drop the wasm, a the mirror too; w loads
    `floor_wasm` in the capture filters' places and drops the compare service."""
    cfg = copy.deepcopy(base)
    cfg["admin"]["address"]["socket_address"]["port_value"] = ports[f"admin_{which}"]
    for listener in cfg["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["port_value"] = ports[f"listen_{which}"]
    # Production and shadow go to the bench upstreams; any other cluster (the divergence-sample sink) to a sink.
    upstream_port = {"production_model": ports["primary"], "shadow_model": ports["shadow"],
                     "production_model_direct": ports["primary"], "shadow_model_direct": ports["shadow"]}
    for cluster in cfg["static_resources"]["clusters"]:
        for ep in cluster["load_assignment"]["endpoints"]:
            for lb in ep["lb_endpoints"]:
                port = upstream_port.get(cluster["name"], ports["sink"])
                lb["endpoint"]["address"]["socket_address"]["port_value"] = port
        if which in PLAIN:
            cluster.pop("typed_extension_protocol_options", None)

    def fix(node):
        if isinstance(node, dict):
            if str(node.get("filename", "")).endswith(".wasm"):
                node["filename"] = floor_wasm if which == FLOOR else wasm
            if which == "a":
                node.pop("request_mirror_policies", None)

    walk(cfg, fix)
    if which in PLAIN or which == FLOOR:
        cfg.pop("bootstrap_extensions", None)
    return cfg


def drain_config(base, which, ports, fault_wasm):
    """c's config for a drain probe Envoy: the fault-injection build, a larger backlog, its share of the main
    thread."""
    cfg = envoy_config(base, which, ports, fault_wasm)
    found = []

    def fix(node):
        if isinstance(node, dict) and node.get("root_id") == "compare":
            conf = json.loads(node["configuration"]["value"])
            conf.update(max_backlog=DRAIN_MAX_BACKLOG, main_thread_percent=DRAIN[which])
            node["configuration"]["value"] = json.dumps(conf)
            found.append(node)

    walk(cfg, fix)
    if len(found) != 1:
        raise RuntimeError(f"{CONFIG_FILES['c']}: expected one compare service")
    return cfg


def lua_script(path, body, delay_ms, url_path):
    """A wrk script: POST `body`, optional pause between a connection's requests, JSON summary at the end."""
    delay = f"function delay() return {delay_ms} end\n" if delay_ms else ""
    with open(path, "w") as f:
        f.write(
            f'wrk.method = "POST"\nwrk.path = "{url_path}"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body}]==]\n{delay}"
            "function done(summary, latency, requests)\n"
            "  local e = summary.errors\n"
            '  io.write(string.format("BENCHJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, '
            '\\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50\\": %d, \\"p90\\": %d, '
            '\\"p99\\": %d, \\"p999\\": %d, \\"max\\": %d}\\n", summary.requests, summary.duration, e.connect, '
            "e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90), "
            "latency:percentile(99), latency:percentile(99.9), latency.max))\n"
            "end\n"
        )
    return path


# ---------------------------------------------------------------- measuring


class Wrk:
    def __init__(self, exe):
        self.exe = exe
        self.commands = {}

    def run(self, label, url, script, seconds, conns, threads=1, timeout_s=2):
        argv = [self.exe, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", f"{timeout_s}s", "-s", script,
                url]
        self.commands.setdefault(label, show_cmd(argv))
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        for line in out.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                res = json.loads(line[len("BENCHJSON "):])
                res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
                res["errors"] = sum(res[k] for k in ("connect", "read", "write", "status", "timeout"))
                return res
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")


def wasm_memories(pid):
    """The resident MiB of each wasm VM's linear memory, largest first. V8 reserves 8 GiB of address space per
    wasm memory (guard regions for bounds checks); the part in use is the writable mapping just before the
    reservation, so /proc/PID/smaps tells each VM's memory apart from the rest of Envoy's."""
    maps, current = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and "-" in fields[0] and not fields[0].endswith(":"):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                current = {"lo": lo, "hi": hi, "perms": fields[1], "named": len(fields) > 5, "rss_kib": 0}
                maps.append(current)
            elif fields[0] == "Rss:" and current is not None:
                current["rss_kib"] = int(fields[1])
    out = []
    for before, reservation in zip(maps, maps[1:]):
        if (reservation["perms"] == "---p" and reservation["hi"] - reservation["lo"] >= 4 << 30
                and before["hi"] == reservation["lo"] and before["perms"].startswith("rw") and not before["named"]):
            out.append(before["rss_kib"] / 1024)
    return sorted(out, reverse=True)


def proc_status(pid):
    """VmRSS and VmHWM of a process, in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def cpu_seconds(pid, tid=None):
    """User + system CPU seconds of a process (all threads), or of one of its threads."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_ns(pid, tid):
    """The CPU time of one thread in ns (/proc schedstat): /proc's stat counts in 10 ms ticks, too coarse for
    a drain that can take less than 100 ms."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


def admin_stats(admin_port):
    """Integer stats whose name mentions shadow_compare, by name."""
    status, body = http("GET", f"http://127.0.0.1:{admin_port}/stats?filter=shadow_compare")
    out = {}
    if status != 200:
        return out
    for line in body.decode(errors="replace").splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


def sum_stats(stats, suffix):
    return sum(v for k, v in stats.items() if k.startswith("wasmcustom.shadow_compare.rule.") and k.endswith(suffix))


class GaugePoller:
    """Polls c's backlog and pending gauges during a run and keeps the highest values seen, and how long the
    admin endpoint took to answer: it runs on the main thread too, so a busy compare service delays it."""

    def __init__(self, admin_port, period=0.2):
        self.admin_port, self.period = admin_port, period
        self.max_backlog = self.max_pending = 0
        self.max_admin_ms = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.wait(self.period):
            t0 = time.monotonic()
            s = admin_stats(self.admin_port)
            self.max_admin_ms = max(self.max_admin_ms, (time.monotonic() - t0) * 1000)
            self.max_backlog = max(self.max_backlog, s.get("wasmcustom.shadow_compare.backlog", 0))
            self.max_pending = max(self.max_pending, s.get("wasmcustom.shadow_compare.pending", 0))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the run


def run(args, bins, wasms, log):
    wasm, floor_wasm = wasms["shipped"], wasms["floor"]
    wrk = Wrk(find_wrk(log))
    v = subprocess.run([wrk.exe, "-v"], capture_output=True, text=True)
    wrk_version = [line.split(" Copyright")[0] for line in (v.stdout + v.stderr).splitlines()[:1]]
    ports = ports_from(args.port_base)
    work = os.path.join(GENERATED, "proxy")
    logs = os.path.join(work, "logs")
    shutil.rmtree(logs, ignore_errors=True)  # Envoy appends to its --log-path: start each run afresh
    os.makedirs(logs, exist_ok=True)
    bodies_dir = os.path.join(GENERATED, "upstream")
    bases = {}
    for which in CONFIGS:
        with open(os.path.join(ROOT, CONFIG_FILES[which])) as f:
            bases[which] = yaml.safe_load(f)
    percent = sample_percent(bases["d"])
    config_names = {**CONFIG_NAMES, "d": f"{CONFIG_NAMES['d']} ({percent}%)"}
    envoy_exe = os.path.join(ROOT, ".venv", "bin", "envoy")
    # "<path>/envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL": keep what follows "version:".
    envoy_version = "envoy " + subprocess.run([envoy_exe, "--version"], capture_output=True, text=True).stdout.split(
        "version:")[-1].strip()

    def body(name):
        with open(os.path.join(bodies_dir, name)) as f:
            return f.read()

    scripts = {}
    for path in list(KINDS) + list(PROBES):
        req = body(f"request_{path}.json")
        scripts[(path, "paced")] = lua_script(os.path.join(work, f"{path}-paced.lua"), req, args.pace_ms, f"/{path}")
        scripts[(path, "sat")] = lua_script(os.path.join(work, f"{path}-sat.lua"), req, 0, f"/{path}")
        pair = '{"primary": %s, "shadow": %s}' % (body(f"primary_{path}.json"), body(f"shadow_{path}.json"))
        kind = KINDS.get(path) or PROBES[path]
        scripts[(path, "python")] = lua_script(os.path.join(work, f"{path}-python.lua"), pair, 0, f"/compare/{kind}")

    procs = Processes()
    envoys = {}
    commands = {}
    try:
        for role in ("primary", "shadow", "sink"):
            argv = [bins["upstream"], "--port", str(ports[role]), "--role", role, "--dir", bodies_dir]
            commands.setdefault("upstream", show_cmd(argv))
            p = procs.start(argv, os.path.join(logs, f"upstream-{role}.log"))
            wait_until(lambda: http("GET", f"http://127.0.0.1:{ports[role]}/healthz")[0] == 200, 20,
                       f"upstream {role}", p)
        def start_envoys(workers):
            """One Envoy per config with `workers` worker threads; returns them once each answers every path."""
            def name(which):
                return f"envoy-{which}" if workers == 2 else f"envoy-{which}-{workers}w"

            started = {}
            for which in CONFIGS:
                cfg_path = os.path.join(work, f"envoy-{which}.yaml")
                with open(cfg_path, "w") as f:
                    yaml.safe_dump(envoy_config(bases[which], which, ports, wasm, floor_wasm), f, sort_keys=False)
                argv = [envoy_exe, "-c", cfg_path, "--concurrency", str(workers), "--disable-hot-restart",
                        "--log-level", "warn", "--log-path", os.path.join(logs, f"{name(which)}.log")]
                commands.setdefault(name(which).replace("-", "_"), show_cmd(argv))
                started[which] = procs.start(argv, os.path.join(logs, f"{name(which)}.out"))
            for which in CONFIGS:
                admin = ports[f"admin_{which}"]
                log_path = os.path.join(logs, f"{name(which)}.log")
                wait_until(lambda: http("GET", f"http://127.0.0.1:{admin}/ready")[0] == 200, 90,
                           f"envoy {which}", started[which], log_path)
                for path in KINDS:
                    url = f"http://127.0.0.1:{ports[f'listen_{which}']}/{path}"
                    wait_until(lambda: http("POST", url, b"{}")[0] == 200, 30, f"envoy {which} /{path}",
                               started[which], log_path)
            return started

        envoys = start_envoys(2)
        for which in DRAIN:
            cfg_path = os.path.join(work, f"envoy-{which}.yaml")
            with open(cfg_path, "w") as f:
                yaml.safe_dump(drain_config(bases["c"], which, ports, wasms["fault"]), f, sort_keys=False)
            log_path = os.path.join(logs, f"envoy-{which}.log")
            argv = [envoy_exe, "-c", cfg_path, "--concurrency", "2", "--disable-hot-restart", "--log-level", "warn",
                    "--log-path", log_path]
            commands.setdefault(f"envoy_{which}", show_cmd(argv))
            envoys[which] = procs.start(argv, os.path.join(logs, f"envoy-{which}.out"))
            wait_until(lambda: http("GET", f"http://127.0.0.1:{ports[f'admin_{which}']}/ready")[0] == 200, 90,
                       f"envoy {which}", envoys[which], log_path)
        log(f"  upstreams and Envoys {', '.join(CONFIGS + tuple(DRAIN))} up ({envoy_version})")
        rss_idle = {which: proc_status(envoys[which].pid) for which in CONFIGS}

        def warm_up():
            """Connection pools, V8's tiers, the allocators' arenas; what c dropped meanwhile."""
            before = admin_stats(ports["admin_c"])
            for which in CONFIGS:
                for path in KINDS:
                    wrk.run("warmup", f"http://127.0.0.1:{ports[f'listen_{which}']}", scripts[(path, "sat")], 1, 8)
            drain(ports["admin_c"])
            return {p: rule_delta(before, admin_stats(ports["admin_c"]), p, ".dropped") for p in KINDS}

        warmup_dropped = warm_up()
        if any(warmup_dropped.values()):
            log(f"  c dropped pairs during the warm-up: {warmup_dropped}")

        # The Python /compare service, saturated with the same pairs of bodies once per path in every round, right
        # after c's runs of that round: the ratio of the two is measured under the same load on the machine.
        argv = [os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(ROOT, "bench", "py_compare_service.py"),
                "--port", str(ports["python"])]
        commands["python_service"] = show_cmd(argv)
        py = procs.start(argv, os.path.join(logs, "python-service.log"))
        wait_until(lambda: http("GET", f"http://127.0.0.1:{ports['python']}/healthz")[0] == 200, 60,
                   "python /compare service", py, os.path.join(logs, "python-service.log"))
        py_url = f"http://127.0.0.1:{ports['python']}"
        for path in KINDS:
            wrk.run("warmup", py_url, scripts[(path, "python")], 1, 2)

        results = {}  # (path, mode, config) -> [per-round wrk result]
        capacity = {path: [] for path in list(KINDS) + list(PROBES)}
        drains = {(path, which): [] for path in capacity for which in DRAIN}
        py_results = {path: [] for path in capacity}
        rss = {c: [] for c in CONFIGS}
        for r in range(args.rounds):
            if r > 0:
                # Fresh processes every round: if two Envoys with one config differ for as long as they live (where
                # the scheduler put their threads, memory layout), medians over rounds cannot remove a difference
                # that every round shares. Restarted, any such difference varies from round to round instead.
                for which in CONFIGS:
                    procs.stop(envoys[which])
                envoys.update(start_envoys(2))
                warm_up()
            order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
            for path in KINDS:
                for mode in ("paced", "sat"):
                    for which in order:
                        url = f"http://127.0.0.1:{ports[f'listen_{which}']}"
                        seconds = args.paced_seconds if mode == "paced" else args.sat_seconds
                        conns = args.paced_conns if mode == "paced" else args.sat_conns
                        pid = envoys[which].pid
                        cpu0, main0 = cpu_seconds(pid), cpu_seconds(pid, pid)
                        if which == "c" and mode == "sat":
                            res = measure_compare(wrk, url, scripts[(path, mode)], seconds, conns, pid,
                                                  ports["admin_c"], path)
                            capacity[path].append(res)
                        elif which in CANDIDATES:
                            admin = ports[f"admin_{which}"]
                            before = admin_stats(admin)
                            res = wrk.run(mode, url, scripts[(path, mode)], seconds, conns)
                            # Leftover scoring is the config's own cost (in its CPU figure, read after this),
                            # and must not overlap the next run. measure_compare drains the same way.
                            drain(admin)
                            after = admin_stats(admin)
                            res["dropped"] = rule_delta(before, after, path, ".dropped")
                            res["pairs"] = rule_delta(before, after, path, ".pairs")
                        else:
                            res = wrk.run(mode, url, scripts[(path, mode)], seconds, conns)
                        res["envoy_cpu_us_per_req"] = (cpu_seconds(pid) - cpu0) / max(1, res["requests"]) * 1e6
                        res["main_cpu_us_per_req"] = (cpu_seconds(pid, pid) - main0) / max(1, res["requests"]) * 1e6
                        results.setdefault((path, mode, which), []).append(res)
                    log(f"  round {r + 1}/{args.rounds} /{path} {mode}: " + ", ".join(
                        f"{w} {results[(path, mode, w)][-1]['rps']:,.0f} rps p99 "
                        f"{results[(path, mode, w)][-1]['p99'] / 1000:.2f} ms" for w in CONFIGS))
            for path in PROBES:
                res = measure_compare(wrk, f"http://127.0.0.1:{ports['listen_c']}", scripts[(path, "sat")],
                                      args.sat_seconds, args.sat_conns, envoys["c"].pid, ports["admin_c"], path,
                                      drain_s=30)
                capacity[path].append(res)
                log(f"  round {r + 1}/{args.rounds} capacity probe /{path} on c: {res['pairs_per_s']:,.0f} pairs/s, "
                    f"{res['dropped']} dropped, backlog up to {res['max_backlog']}")
            for path in capacity:
                for which in DRAIN:
                    request = body(f"request_{path}.json")
                    res = measure_drain(wrk, f"http://127.0.0.1:{ports[f'listen_{which}']}", scripts[(path, "sat")],
                                        args.sat_seconds, args.sat_conns, envoys[which].pid,
                                        ports[f"admin_{which}"], path, request.encode())
                    drains[(path, which)].append(res)
                    log(f"  round {r + 1}/{args.rounds} drain /{path} on {which}: {res['pairs']:,} pairs at "
                        f"{res['pairs_per_s']:,.0f} pairs/s, main thread {100 * res['main_busy']:.0f}% busy, "
                        f"slowest admin /stats {res['max_admin_ms']:.0f} ms")
            for path in capacity:
                cpu0 = cpu_seconds(py.pid)
                if path in PROBES:  # about a second per pair: one connection, a longer run, a longer timeout
                    res = wrk.run("python_probe", py_url, scripts[(path, "python")], max(4, args.service_seconds), 1,
                                  timeout_s=20)
                else:
                    res = wrk.run("python", py_url, scripts[(path, "python")], args.service_seconds, args.service_conns)
                res["cpu_s"] = cpu_seconds(py.pid) - cpu0
                py_results[path].append(res)
                log(f"  round {r + 1}/{args.rounds} python /compare {LABELS[path]}: {res['rps']:,.1f} pairs/s")
            for which in CONFIGS:
                rss[which].append({**proc_status(envoys[which].pid), "wasm": wasm_memories(envoys[which].pid)})
        procs.stop(py)
        for which in DRAIN:
            procs.stop(envoys.pop(which))
        final_stats = admin_stats(ports["admin_c"])
        rss_one_worker = memory_with_one_worker(args, wrk, scripts, ports, procs, envoys, start_envoys, log)
    finally:
        procs.stop_all()

    out = report(args, results, capacity, drains, rss, rss_idle, py_results, final_stats, wrk, commands,
                 envoy_version, wrk_version, config_names, percent, rss_one_worker)
    out["warmup_dropped"] = warmup_dropped
    return out


def memory_with_one_worker(args, wrk, scripts, ports, procs, envoys, start_envoys, log):
    """What one worker costs in memory: each config again with one worker thread, given the same load as one
    round (a warm-up, then a saturation run per path, and c's capacity probe), then VmRSS. Compared with the
    two-worker Envoys after their first round, the difference is one worker's share."""
    for which in CONFIGS:
        procs.stop(envoys[which])
    started = start_envoys(1)
    out = {}
    for which in CONFIGS:
        url = f"http://127.0.0.1:{ports[f'listen_{which}']}"
        paths = list(KINDS) + (list(PROBES) if which == "c" else [])
        for path in paths:
            wrk.run("warmup", url, scripts[(path, "sat")], 1, 8)
        for path in paths:
            wrk.run("sat", url, scripts[(path, "sat")], args.sat_seconds, args.sat_conns)
            if which in CANDIDATES:
                drain(ports[f"admin_{which}"], 30 if path in PROBES else 5)
        out[which] = proc_status(started[which].pid)
        procs.stop(started[which])
    log("  one worker: VmRSS " + ", ".join(f"{w} {out[w]['VmRSS']:.1f} MiB" for w in CONFIGS))
    return out


def rule_delta(before, after, path, suffix):
    """How much the per-rule stats ending in `suffix` rose, summed over shadows, for the rule serving `path`."""
    rule = "generate" if path == "generate_long" else path
    prefix = f"wasmcustom.shadow_compare.rule.{rule}."
    return sum(v - before.get(k, 0) for k, v in after.items() if k.startswith(prefix) and k.endswith(suffix))


def measure_compare(wrk, url, script, seconds, conns, pid, admin_port, path, drain_s=5.0):
    """A saturation run on c that also reads what the compare service did meanwhile, until it has scored
    what it was given (the wall time includes that drain)."""
    before = admin_stats(admin_port)
    main0, all0 = cpu_seconds(pid, pid), cpu_seconds(pid)
    t0 = time.monotonic()
    with GaugePoller(admin_port) as poller:
        res = wrk.run("sat", url, script, seconds, conns)
        drain(admin_port, drain_s)
    wall = time.monotonic() - t0
    main1, all1 = cpu_seconds(pid, pid), cpu_seconds(pid)
    after = admin_stats(admin_port)

    def delta(suffix):
        return rule_delta(before, after, path, suffix)

    res.update({
        "pairs": delta(".pairs"),
        "dropped": delta(".dropped"),
        "compare_errors": delta(".compare_errors"),
        "shadow_missing": delta(".shadow_missing"),
        "max_backlog": poller.max_backlog,
        "max_pending": poller.max_pending,
        "max_admin_ms": poller.max_admin_ms,
        "wall_s": wall,
        "main_cpu_s": main1 - main0,
        "envoy_cpu_s": all1 - all0,  # includes the drain: scoring is part of what c costs
    })
    res["pairs_per_s"] = res["pairs"] / wall
    return res


def measure_drain(wrk, url, script, seconds, conns, pid, admin_port, path, request_body, deadline_s=60.0):
    """On a drain probe Envoy (fault-injection build): pauses the compare service's scoring, saturates the proxy
    until the backlog is full (captures shed from half of it), resumes, and times the drain with the main thread
    to itself: pairs scored per second (least squares over 20 ms polls of the pairs counter while a backlog is
    left), the main thread's CPU over that time, and the slowest answer of the admin endpoint meanwhile. A
    drain seen by fewer than three polls with a backlog left gives only a lower bound: the pairs over the time
    between the poll before the first pair was scored and the first with no backlog."""
    backlog = "wasmcustom.shadow_compare.backlog"
    http("POST", f"{url}/{path}/__fault/compare-stall", request_body)
    # The stall is in force once its own pair waits unscored.
    wait_until(lambda: admin_stats(admin_port).get(backlog, 0) >= 1, 10, "the drain probe's stall")
    wrk.run("drain", url, script, seconds, conns)
    time.sleep(0.3)  # the captures' last batches
    http("POST", f"{url}/{path}/__fault/compare-resume", request_body)
    polls = []  # (time, main-thread CPU ns, pairs scored, backlog, admin ms)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        t0, cpu0 = time.monotonic(), thread_cpu_ns(pid, pid)
        s = admin_stats(admin_port)
        t1, cpu1 = time.monotonic(), thread_cpu_ns(pid, pid)
        # Time and CPU both at the middle of the request: a slow answer then shifts neither against the other.
        polls.append(((t0 + t1) / 2, (cpu0 + cpu1) / 2, rule_delta({}, s, path, ".pairs"), s.get(backlog, 0),
                      (t1 - t0) * 1000))
        if polls[-1][3] == 0 and len(polls) > 1:
            break
        time.sleep(0.02)
    # From the poll before the first pair was scored to the first with no backlog.
    start = next((i - 1 for i in range(1, len(polls)) if polls[i][2] > polls[i - 1][2]), 0)
    span = polls[start:]
    (t_a, cpu_a, pairs_a, backlog_a, _), (t_b, cpu_b, pairs_b, _, _) = span[0], span[-1]
    # The slope over the polls that still saw a backlog: the first and last poll cut the drain anywhere in a poll.
    inner = [p for p in span if p[3] > 0]
    lower_bound = len(inner) < 3
    if not lower_bound:
        mean_t = sum(p[0] for p in inner) / len(inner)
        mean_n = sum(p[2] for p in inner) / len(inner)
        rate = sum((p[0] - mean_t) * (p[2] - mean_n) for p in inner) / sum((p[0] - mean_t) ** 2 for p in inner)
    else:
        rate = (pairs_b - pairs_a) / (t_b - t_a) if t_b > t_a else 0.0
    return {
        "pairs": pairs_b - pairs_a, "backlog": backlog_a, "drain_s": t_b - t_a, "polls": len(span),
        "pairs_per_s": rate, "lower_bound": lower_bound, "main_cpu_s": (cpu_b - cpu_a) / 1e9,
        "main_busy": (cpu_b - cpu_a) / 1e9 / (t_b - t_a) if t_b > t_a else 0.0,
        "max_admin_ms": max(p[4] for p in span),
    }


def drain(admin_port, deadline_s=5.0):
    """Waits until c's compare service has taken every record from its queue (the records counter holds
    still) and scored them (no backlog, no pending pair), so its work does not run into the next run."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        s = admin_stats(admin_port)
        records = s.get("wasmcustom.shadow_compare.records")
        idle = s.get("wasmcustom.shadow_compare.backlog", 0) == 0 and s.get("wasmcustom.shadow_compare.pending", 0) == 0
        if idle and records == last:
            return
        last = records
        time.sleep(0.1)


# ---------------------------------------------------------------- tables


def at_least(drain, text):
    """A drain rate, marked when some round's drain was too short to time (see `measure_drain`)."""
    return f"≥ {text}" if drain["lower_bound"] else text


def report(args, results, capacity, drains, rss, rss_idle, py_results, final_stats, wrk, commands, envoy_version,
           wrk_version, config_names, percent, rss_one_worker):
    med = {}
    for key, runs in results.items():
        med[key] = {m: median([r[m] for r in runs]) for m in ("p50", "p99", "p999", "rps", "envoy_cpu_us_per_req",
                                                             "main_cpu_us_per_req")}
        med[key]["errors"] = sum(r["errors"] for r in runs)
        med[key]["dropped"] = sum(r["dropped"] for r in runs) if key[2] in CANDIDATES else None
        med[key]["pairs"] = sum(r["pairs"] for r in runs) if key[2] in CANDIDATES else None
        med[key]["n"] = len(runs)

    def against(x, b):
        return {"p50": ratio(x["p50"], b["p50"]), "p99": ratio(x["p99"], b["p99"]),
                "p999": ratio(x["p999"], b["p999"]), "rps": ratio(x["rps"], b["rps"]),
                "cpu": ratio(x["envoy_cpu_us_per_req"], b["envoy_cpu_us_per_req"])}

    lat_rows, ratio_rows, goals, control, floor = [], [], [], [], []
    for path in KINDS:
        for mode in ("paced", "sat"):
            for which in CONFIGS:
                m = med[(path, mode, which)]
                lat_rows.append([f"/{path}", mode, config_names[which], fmt(m["rps"]), fmt(m["p50"] / 1000, 3),
                                 fmt(m["p99"] / 1000, 3), fmt(m["p999"] / 1000, 3),
                                 f'{fmt(m["envoy_cpu_us_per_req"])} ({fmt(m["main_cpu_us_per_req"])})',
                                 m["errors"], "—" if m["pairs"] is None else m["pairs"],
                                 "—" if m["dropped"] is None else m["dropped"], m["n"]])
            a, b = med[(path, mode, "a")], med[(path, mode, "b")]
            control.append({"path": path, "mode": mode, **against(med[(path, mode, CONTROL)], b)})
            fl, full = med[(path, mode, FLOOR)], med[(path, mode, "c")]
            floor.append({"path": path, "mode": mode, **against(fl, b),
                          "cpu_over_b": fl["envoy_cpu_us_per_req"] - b["envoy_cpu_us_per_req"],
                          "c_cpu_over_b": full["envoy_cpu_us_per_req"] - b["envoy_cpu_us_per_req"]})
            for w in CANDIDATES:
                x = med[(path, mode, w)]
                xb_p99, xb_rps = ratio(x["p99"], b["p99"]), ratio(x["rps"], b["rps"])
                ratio_rows.append([f"/{path}", mode, w, fmt_ratio(ratio(x["p50"], b["p50"])), fmt_ratio(xb_p99),
                                   fmt_ratio(ratio(x["p999"], b["p999"])), fmt_ratio(xb_rps),
                                   fmt_ratio(ratio(x["p50"], a["p50"])), fmt_ratio(ratio(x["p99"], a["p99"])),
                                   fmt_ratio(ratio(x["p999"], a["p999"])), fmt_ratio(ratio(x["rps"], a["rps"]))])
                if mode == "paced":
                    goals.append((f"/{path} paced: ({w})/(b) p99 ≤ 1.05", xb_p99, xb_p99 is not None and xb_p99 <= 1.05))
                else:
                    goals.append((f"/{path} saturation: ({w})/(b) throughput ≥ 0.95", xb_rps,
                                   xb_rps is not None and xb_rps >= 0.95))
                    goals.append((f"/{path} saturation: ({w})/(b) p99 ≤ 1.05", xb_p99,
                                   xb_p99 is not None and xb_p99 <= 1.05))

    latency_table = table(["path", "load", "config", "req/s", "p50 ms", "p99 ms", "p99.9 ms",
                           "Envoy CPU µs/req (main thread)", "errors", "pairs scored", "pairs dropped", "rounds"],
                          lat_rows)
    ratio_table = table(["path", "load", "x", "x/b p50", "x/b p99", "x/b p99.9", "x/b req/s", "x/a p50", "x/a p99",
                         "x/a p99.9", "x/a req/s"], ratio_rows)
    goal_table = table(["goal", "measured", ""], [[g, fmt_ratio(v), "met" if ok else "NOT met"] for g, v, ok in goals])
    control_table = table(["path", "load", "b2/b p50", "b2/b p99", "b2/b p99.9", "b2/b req/s", "b2/b Envoy CPU µs/req"],
                          [[f"/{c['path']}", c["mode"], *(fmt_ratio(c[k]) for k in ("p50", "p99", "p999", "rps", "cpu"))]
                           for c in control])
    floor_table = table(["path", "load", "w/b p50", "w/b p99", "w/b p99.9", "w/b req/s",
                         "Envoy CPU µs/req over b: w", "c"],
                        [[f"/{f['path']}", f["mode"], *(fmt_ratio(f[k]) for k in ("p50", "p99", "p999", "rps")),
                          fmt(f["cpu_over_b"]), fmt(f["c_cpu_over_b"])] for f in floor])

    cap_rows, cap_results = [], []
    for path, kind in {**KINDS, **PROBES}.items():
        runs = capacity[path]
        pairs = sum(r["pairs"] for r in runs)
        wall = sum(r["wall_s"] for r in runs)
        main_cpu = sum(r["main_cpu_s"] for r in runs)
        env_cpu = sum(r["envoy_cpu_s"] for r in runs)
        reqs = sum(r["requests"] for r in runs)
        dropped = sum(r["dropped"] for r in runs)
        scored_rate = median([r["pairs_per_s"] for r in runs])
        per_pair_us = main_cpu / pairs * 1e6 if pairs else None
        drain = {}
        for which in DRAIN:
            d = drains[(path, which)]
            d_pairs, d_cpu = sum(r["pairs"] for r in d), sum(r["main_cpu_s"] for r in d)
            drain[which] = {
                "pairs_per_s": median([r["pairs_per_s"] for r in d]), "pairs": d_pairs,
                "main_busy": median([r["main_busy"] for r in d]),
                "main_cpu_us_per_pair": d_cpu / d_pairs * 1e6 if d_pairs else None,
                "max_admin_ms": max(r["max_admin_ms"] for r in d), "backlog": median([r["backlog"] for r in d]),
                "drain_s": median([r["drain_s"] for r in d]), "rounds": len(d),
                "lower_bound": any(r["lower_bound"] for r in d),
            }
        default, whole = drain["e"], drain["f"]
        pr = py_results[path]
        py_rate = median([r["rps"] for r in pr])
        py_cpu_us = sum(r["cpu_s"] for r in pr) / max(1, sum(r["requests"] for r in pr)) * 1e6
        py_errors = sum(r["errors"] for r in pr)
        cap_results.append({
            "path": path, "kind": kind, "label": LABELS[path], "pairs_per_s_at_saturation": scored_rate, "pairs": pairs, "dropped": dropped,
            "max_backlog": max(r["max_backlog"] for r in runs), "max_pending": max(r["max_pending"] for r in runs),
            "max_admin_ms": max(r["max_admin_ms"] for r in runs),
            "main_thread_busy": main_cpu / wall if wall else None, "main_cpu_us_per_pair": per_pair_us,
            "envoy_cpu_us_per_request": env_cpu / reqs * 1e6 if reqs else None, "drain": drain,
            "python_pairs_per_s": py_rate, "python_cpu_us_per_pair": py_cpu_us, "python_errors": py_errors,
            "compare_errors": sum(r["compare_errors"] for r in runs),
        })
        cap_rows.append([
            f"{LABELS[path]}, /{path}", fmt(scored_rate), dropped, fmt(100 * main_cpu / wall, 0) + "%",
            at_least(default, fmt(default["pairs_per_s"])), fmt(100 * default["main_busy"], 0) + "%",
            at_least(whole, fmt(whole["pairs_per_s"])), fmt(100 * whole["main_busy"], 0) + "%",
            fmt(whole["main_cpu_us_per_pair"]), fmt(max(default["max_admin_ms"], whole["max_admin_ms"]), 0),
            fmt(py_rate), fmt(py_cpu_us), at_least(whole, fmt_ratio(ratio(whole["pairs_per_s"], py_rate))),
            at_least(default, fmt_ratio(ratio(default["pairs_per_s"], py_rate))),
        ])
    cap_table = table([
        "kind, path", "c at saturation: pairs scored/s", "dropped", "main thread busy",
        f"drain, {DRAIN['e']}% (default): pairs/s", "main thread busy", f"drain, {DRAIN['f']}%: pairs/s",
        "main thread busy", "main-thread µs/pair", "slowest admin /stats during drains, ms",
        "Python pairs/s (1 process)", "Python CPU µs/pair", f"{DRAIN['f']}% / Python",
        f"{DRAIN['e']}% / Python"], cap_rows)

    rss_rows = []
    rss_med = {}
    for which in CONFIGS:
        rss_med[which] = {k: median([x[k] for x in rss[which]]) for k in ("VmRSS", "VmHWM")}
        rss_med[which]["idle_VmRSS"] = rss_idle[which]["VmRSS"]
        rss_rows.append([config_names[which], fmt(rss_idle[which]["VmRSS"], 1), fmt(rss_med[which]["VmRSS"], 1),
                         fmt(rss_med[which]["VmHWM"], 1), fmt(rss_med[which]["VmRSS"] - rss_med["a"]["VmRSS"], 1),
                         len(rss[which])])
    rss_table = table(["config", "VmRSS after start, MiB", "VmRSS after load, MiB", "VmHWM MiB",
                       "VmRSS after load − a, MiB", "samples"], rss_rows)

    # Per wasm VM, after the last round's load: the compare service's VM is the largest under full capture.
    vm_rows, vms = [], {}
    for which in CANDIDATES:
        last = rss[which][-1]
        mems = last["wasm"]
        total = sum(mems)
        vms[which] = {"count": len(mems), "largest": mems[0] if mems else None,
                      "others_above_1_mib": [m for m in mems[1:] if m >= 1.0], "linear_total": total,
                      "outside_over_b": last["VmRSS"] - rss[CONFIGS[1]][-1]["VmRSS"] - total, "all": mems}
        v = vms[which]
        vm_rows.append([config_names[which], v["count"], fmt(v["largest"], 1),
                        ", ".join(fmt(m, 1) for m in v["others_above_1_mib"]) or "—", fmt(total, 1),
                        fmt(v["outside_over_b"], 1)])
    vm_table = table(["config", "wasm VMs", "largest linear memory, MiB", "others of 1 MiB or more, MiB",
                      "all linear memory, MiB", "VmRSS − b − linear memory, MiB"], vm_rows)

    # Per worker: two workers after round 1 against one worker after the same load.
    worker_rows, per_worker = [], {}
    for which in CONFIGS:
        two, one = rss[which][0]["VmRSS"], rss_one_worker[which]["VmRSS"]
        per_worker[which] = {"one_worker": one, "two_workers": two, "per_worker": two - one}
        worker_rows.append([config_names[which], fmt(one, 1), fmt(two, 1), fmt(two - one, 1)])
    for which in CANDIDATES:
        w, b = per_worker[which], per_worker["b"]
        w["filter_per_worker"] = w["per_worker"] - b["per_worker"]
        w["filter_fixed"] = (w["one_worker"] - b["one_worker"]) - w["filter_per_worker"]
    worker_table = table(["config", "VmRSS, 1 worker, MiB", "VmRSS, 2 workers, MiB", "one more worker, MiB"],
                         worker_rows)

    return {
        "latency_table": latency_table, "ratio_table": ratio_table, "goal_table": goal_table,
        "control_table": control_table, "control": control, "floor_table": floor_table, "floor": floor,
        "capacity_table": cap_table, "rss_table": rss_table, "worker_table": worker_table, "vm_table": vm_table,
        "vms": vms,
        "per_worker": per_worker,
        "goals": [{"goal": g, "value": v, "met": ok} for g, v, ok in goals],
        "capacity": cap_results, "rss": rss_med,
        "drain_settings": {"max_backlog": DRAIN_MAX_BACKLOG, "percent": DRAIN},
        "medians": {"|".join(k): v for k, v in med.items()}, "config_names": config_names,
        "sample_percent": percent,
        "wrk_commands": wrk.commands, "commands": commands, "envoy_version": envoy_version,
        "wrk_version": wrk_version[0] if wrk_version else "",
        "final_compare_stats": {k: v for k, v in final_stats.items() if v},
        "settings": {k: getattr(args, k) for k in ("rounds", "paced_seconds", "paced_conns", "pace_ms", "sat_seconds",
                                                    "sat_conns", "service_seconds", "service_conns")},
    }
