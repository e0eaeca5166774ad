"""`make bench`: measure shadow-compare and write BENCHMARKS.md.

  Part A (--part scoring)  pairs/s of the Rust scoring core next to rouge-score / json + numpy, same inputs
  Part B (--part proxy)    what the filter costs the primary path (Envoys a, b, b2, w, c, d under wrk), the compare
                           service's scoring capacity (a backlog drained on Envoys e and f) next to a Python
                           /compare service, Envoy's memory

Both parts interleave their contenders round by round and report medians and ratios of medians: these
machines are shared and noisy. A full run (both parts) writes BENCHMARKS.md at the repository root; a run
of one part writes bench/generated/BENCHMARKS-<part>.md unless --output says otherwise.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen_inputs  # noqa: E402
from common import GENERATED, ROOT, fmt, fmt_ratio, median, rel  # noqa: E402

WASM = os.path.join(ROOT, "target", "wasm32-wasip1", "release", "shadow_compare.wasm")
# The fault-injection build, whose compare service pauses scoring on cue: the drain probe's backlog.
FAULT_TARGET = os.path.join(ROOT, "target", "fault")
FAULT_WASM = os.path.join(FAULT_TARGET, "wasm32-wasip1", "release", "shadow_compare.wasm")
# The least a wasm capture can be (bench/floor_filter, its own crate without the SDK): Part B's config w.
FLOOR_MANIFEST = os.path.join(ROOT, "bench", "floor_filter", "Cargo.toml")
FLOOR_TARGET = os.path.join(ROOT, "target", "floor-filter")
FLOOR_WASM = os.path.join(FLOOR_TARGET, "wasm32-wasip1", "release", "floor_filter.wasm")
# The bench programs build in their own target directory: the library is a cdylib, whose files carry no
# hash, so sharing target/release with `make cli` would rebuild it on every switch of profile, and a
# another build could replace it under a running link. The bench profile's panic strategy is pinned to
# unwind (what bench targets need): were the release profile ever `panic = "abort"` again, the CLI built for
# the bench and the bench itself would collide on those files and fail to link (cargo issue 6313).
BENCH_TARGET_DIR = os.path.join("target", "bench")
BENCH_BUILD_ENV = dict(os.environ, CARGO_TARGET_DIR=BENCH_TARGET_DIR, CARGO_PROFILE_BENCH_PANIC="unwind")


def log(msg):
    print(msg, flush=True)


def build():
    """Builds the bench programs and copies them, and the three .wasm builds (shipped, fault-injection, floor), into
    bench/generated/, so that a rebuild of target/ during a run cannot swap a binary between rounds."""
    bin_dir = os.path.join(GENERATED, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    cmd = ["cargo", "bench", "--bench", "scoring", "--bench", "upstream", "--no-run",
           "--message-format=json-render-diagnostics"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=BENCH_BUILD_ENV)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("bench: building the bench programs failed")
    bins = {}
    for line in out.stdout.splitlines():
        msg = json.loads(line) if line.startswith("{") else {}
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] in (
            "scoring", "upstream"
        ):
            dest = os.path.join(bin_dir, msg["target"]["name"])
            shutil.copy2(msg["executable"], dest)
            bins[msg["target"]["name"]] = dest
    if set(bins) != {"scoring", "upstream"}:
        raise SystemExit(f"bench: cargo did not report both bench executables (got {sorted(bins)})")
    wasm = {}
    for name, built, copy, extra in (
        ("shipped", WASM, "shadow_compare.wasm", ["--lib"]),
        ("fault", FAULT_WASM, "shadow_compare-fault.wasm",
         ["--lib", "--features", "fault-injection", "--target-dir", FAULT_TARGET]),
        ("floor", FLOOR_WASM, "floor_filter.wasm", ["--manifest-path", FLOOR_MANIFEST, "--target-dir", FLOOR_TARGET]),
    ):
        cmd = ["cargo", "build", "--release", "--target", "wasm32-wasip1", *extra]
        if subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0 and os.path.exists(built):
            wasm[name] = os.path.join(GENERATED, copy)
            shutil.copy2(built, wasm[name])
    return bins, wasm


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return ((out.stdout or out.stderr).strip().splitlines() or [""])[0]
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def machine():
    cpu = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            if k in ("model name", "cpu MHz", "cache size") and k not in cpu:
                cpu[k] = v
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])

    def version(pkg):
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock").splitlines()]
    return {
        "cpu": cpu.get("model name", "?"),
        "cpu_mhz": cpu.get("cpu MHz", "?"),
        "cache": cpu.get("cache size", "?"),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "rustc": first_line(["rustc", "--version"]),
        "python": sys.version.split()[0],
        "numpy": version("numpy"),
        "rouge_score": version("rouge-score"),
        "nltk": version("nltk"),
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(not set)"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": dirty,
    }


def markdown(m, a, b, started, elapsed, argv):
    date = started.strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/run.py`) on {date}; total run time of `bench/run.py` "
        f"{elapsed:.0f} s (`{' '.join(argv)}`). Re-run it rather than editing this file.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']} ({m['cpu_mhz']} MHz, cache {m['cache']}), `nproc` = {m['nproc']}, "
        f"memory {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- load average at start: {' '.join(m['loadavg_start'])} (a shared machine: other builds run beside "
        "the bench, hence interleaved rounds and medians)",
        f"- {m['rustc']}; Python {m['python']}, numpy {m['numpy']}, rouge-score {m['rouge_score']}, "
        f"nltk {m['nltk']}, fastapi {m['fastapi']}, uvicorn {m['uvicorn']}; OPENBLAS_CORETYPE={m['openblas_coretype']}",
        f"- code: commit {m['commit']}"
        + (f", with uncommitted changes in {', '.join(m['uncommitted'])} (the working tree is what was measured)"
           if m["uncommitted"] else ""),
    ]
    if b:
        out.append(f"- {b['envoy_version']}; {b['wrk_version']}")
    out += ["", "## Summary", "", *summary(a, b)]
    out += [
        "",
        "## Commands",
        "",
        "```",
        "make bench                       # = make wasm wasm-fault cli bench-venv, then .venv/bin/python bench/run.py",
        ".venv/bin/python bench/run.py --part scoring   # Part A only",
        ".venv/bin/python bench/run.py --part proxy     # Part B only",
        "python3 bench/gen_inputs.py      # the inputs alone (fixed seed) into bench/generated/",
        "```",
        "",
        "The bench programs are built with `CARGO_TARGET_DIR=target/bench CARGO_PROFILE_BENCH_PANIC=unwind "
        "cargo bench --bench scoring --bench upstream --no-run` and run from a copy in `bench/generated/bin/` (so "
        "a rebuild during the run cannot change them); `CARGO_TARGET_DIR=target/bench "
        "CARGO_PROFILE_BENCH_PANIC=unwind cargo bench --bench scoring -- --input bench/generated/scoring.json "
        "--case rouge_l_100` runs the same program.",
    ]
    if a:
        out += [
            "",
            "## Part A: the scoring core, Rust next to Python",
            "",
            "Pairs per second on the same inputs (`bench/gen_inputs.py`, fixed seed: English-like text from "
            "templates with regular and irregular inflections, numbers and punctuation; the shadow text is a "
            "paraphrase: synonyms, changed inflections, dropped, inserted and reordered words; embeddings are "
            "unit vectors written by `json.dumps`, the shadow's perturbed).",
            "",
            "- Rust: `Scorer::score(primary_body, shadow_body)`, the filter's one entry point, on the raw bodies: "
            "JSON field selection and parsing included (`/text`, `/embedding`; exact compares the whole body by "
            "meaning). Each round is one process scoring for "
            f"{a['rust_seconds']} s after a warm-up pass.",
            "- Python: `RougeScorer(['rougeL'], use_stemmer=True).score(a, b)` on the texts (already taken out of "
            "the JSON); `json.loads` of both bodies + `np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))`; "
            f"`json.loads(a) == json.loads(b)`. Each round scores for {a['python_seconds']} s, except rouge_l_2000: "
            "3 pairs per round, 3 rounds (rouge-score needs about a second per pair there). "
            f"numpy {a['numpy']}.",
            f"- {a['rounds']} rounds (rouge_l_2000: 3), Rust and Python alternating which goes first; the table "
            "gives the median of each side's per-round rate and the ratio of the medians. `max abs Δ score`: the "
            "largest difference between the two sides' scores over every pair Python scored.",
            "",
            a["table"],
            "",
            f"Command of one Rust round: `{a['commands'].get('rust', '')}`",
        ]
    if b:
        s = b["settings"]
        drain = b["drain_settings"]
        out += [
            "",
            "## Part B: what the filter costs the primary path",
            "",
            "On 127.0.0.1: two bench upstreams (`benches/upstream.rs`, thread per connection, canned bodies: a "
            "1,536-dim embedding (34 KB), a 500-token text (3.5 KB), a small label; the shadow answers slightly "
            "differently) and six Envoys, all running at once, `--concurrency 2`, configs generated from "
            "`envoy/envoy.yaml` and `envoy/envoy-sampled.yaml` (ports and the .wasm path changed):",
            "",
            "- **a**: routes to production only: no mirror policy, no wasm (capture filters and compare service "
            "removed)",
            "- **b**: a + the mirror policy to the shadow cluster, no wasm",
            "- **b2**: b again, in a process of its own: the A/A control (see below)",
            "- **w**: b + the least a wasm capture can be (`bench/floor_filter`, written without the proxy-wasm "
            "SDK: one no-op callback for response body chunks, nothing else) in the capture filters' places on "
            "both clusters, and no compare service: the floor under c (see below)",
            "- **c**: the shipped config: mirror, capture filters on both clusters, the compare service",
            f"- **d**: `envoy/envoy-sampled.yaml` as shipped: every request mirrored as in b; a route picks "
            f"{b['sample_percent']}% of requests (runtime key `shadow_compare.capture_percent`) for the captured "
            "clusters, the rest go to plain copies of the clusters with no wasm",
            "",
            f"Load: wrk (`{b['wrk_version']}`), POST of a small request body. **paced**: {s['paced_conns']} "
            f"connections, each waiting {s['pace_ms']} ms between requests (wrk's `delay()`; wrk has no fixed-rate "
            f"mode, so the rate is near-fixed and is shown), {s['paced_seconds']} s per run. **sat** (saturation): "
            f"{s['sat_conns']} connections, no pause, {s['sat_seconds']} s per run. For each path and load the six "
            f"Envoys run back to back, the order rotating each round; {s['rounds']} rounds, each with the six "
            "Envoys freshly started and warmed up; medians over rounds. "
            "Latency is wrk's (client side, closed loop). Pairs scored and dropped: `shadow_compare.rule.<rule>.*.pairs` and `.dropped` "
            "over the run, summed over rounds. Envoy CPU µs/req: user+system CPU of the whole Envoy "
            "process (all threads) during the run, per request, and in brackets that of its main thread, where "
            "the compare service runs (for c and d it includes draining the scoring backlog after the run). "
            "wrk, the upstreams and the six Envoys share the machine's cores, so saturation "
            "throughput is a whole-machine number.",
            "",
            "### Latency and throughput (medians)",
            "",
            b["latency_table"],
            "",
            "### Ratios of medians",
            "",
            b["ratio_table"],
            "",
            "### Goals from the issue: (c)/(b) p99 ≤ 1.05 and throughput ≥ 0.95, and the same for (d)",
            "",
            b["goal_table"],
            "",
            "### A/A control: b2 against b",
            "",
            "b2 is b's config in a second Envoy process, measured in the same rounds as the others. Any distance "
            "of b2/b from 1.0 is this run's noise: the machine's cores shared by wrk, the upstreams and the Envoys, "
            "and any difference between two processes that lasts as long as they do (where the scheduler put "
            "their threads, memory layout; the Envoys are restarted every round, so such a difference changes "
            "from round to round rather than repeating in each). A ratio of c or d to b within that distance of 1.0 cannot be told from "
            "noise in this run; so a goal row's \"met\" or \"NOT met\" decided by less than that is not a "
            "finding.",
            "",
            b["control_table"],
            "",
            "### The floor: the least a wasm capture can be (w) against b",
            "",
            "w loads a wasm module in both upstream clusters' filter chains, where c has its capture filters. A "
            "capture must see the response body, and a proxy-wasm filter sees it only in `proxy_on_response_body`; "
            "the module exports that callback, which returns at once, and no other that Envoy calls per stream. "
            "So w/b is what any capture written as a proxy-wasm filter pays on this machine before its own code "
            "runs, and c's CPU over b minus w's is what is left for shadow-compare's code to win. Where w/b itself "
            "misses a goal by more than b2/b's distance from 1.0, no capture of this design can meet that goal on "
            "this machine.",
            "",
            b["floor_table"],
            "",
            "### The compare service's scoring capacity, next to a Python /compare service",
            "",
            "c's saturation runs push as many pairs as the proxy can; the compare service scores them on Envoy's "
            "main thread. One more run per round, on c only, sends 2,000-token texts (`/generate_long`, the "
            "`generate` rule by prefix): about 14 KB per body, where scoring costs more per pair than the proxy's "
            "work. Shown for c: pairs scored per second (from the start of the run until the service has scored "
            "all it was given), pairs dropped (`shadow_compare.rule.*.dropped`) and how busy the main thread was "
            "(its CPU time from /proc over wall time). On this 2-core machine the workers, wrk and the upstreams "
            "share the cores with the main thread, so c's rate says what this machine does at saturation, not "
            "what the service can score.",
            "",
            "The drain probe measures that, on two more Envoys with c's config and the fault-injection build "
            "(`make wasm-fault`: its compare service pauses scoring while a request to `…/__fault/compare-stall` "
            "is in force, until one to `…/__fault/compare-resume`; its scoring is the shipped code), "
            f"`max_backlog` {drain['max_backlog']:,}, and `main_thread_percent` {drain['percent']['e']} (e, the "
            f"default) or {drain['percent']['f']} (f). Once per kind and round: pause scoring, saturate the "
            "proxy as above until the captures shed (the backlog half full), resume, and poll the admin endpoint "
            "every 20 ms until the backlog is empty. Nothing else loads the machine meanwhile. Shown: the pairs "
            "scored per second (the least-squares slope of the pairs counter over the polls that saw a backlog, "
            "median over rounds; marked ≥ when a drain was too short for three such polls, and then the pairs over "
            "the whole span of the polls, a lower bound), how busy the main thread was and its CPU per pair during "
            "the drain (from /proc schedstat; scoring alone: no records arrive, and the polls' own admin requests), "
            "and the slowest admin `/stats` answer during any drain. The Python service "
            "(`bench/py_compare_service.py`: FastAPI + uvicorn, one process, receiving both responses in one "
            f"POST and scoring with rouge-score / numpy / json) is saturated by wrk with {s['service_conns']} "
            f"connections, {s['service_seconds']} s per run, once per kind in each round right after c's runs of "
            "that round (so both sides of a ratio are measured under the same load on this shared machine), "
            "median shown.",
            "",
            b["capacity_table"],
            "",
            *capacity_notes(b),
            "### Envoy memory (/proc/PID/status): after start-up, and at steady state after each round's load "
            "(medians over rounds)",
            "",
            b["rss_table"],
            "",
            "Per worker: after the runs above, each config is started again with one worker thread "
            "(`--concurrency 1`) and given the load of one round (a warm-up and a saturation run per path, and for "
            "c the capacity probe); its VmRSS is compared with the two-worker Envoy's after round 1. The difference "
            "is what one more worker costs. The split between per worker and once is approximate: the compare "
            "service's VM keeps the memory of the highest backlog it reached, which differs between the two runs.",
            "",
            b["worker_table"],
            "",
            *worker_notes(b),
            "Per wasm VM, after the last round's load (2 workers): each VM's linear memory, from /proc/PID/smaps (V8 "
            "reserves 8 GiB of address space per wasm memory; the part in use is the writable mapping right before "
            "the reservation). Each capture plugin has one VM per worker, one on the main thread and the base VM "
            "they are cloned from; the compare service a base VM and its instance. Under full capture the largest is "
            "the compare service's, which holds its backlog and pending pairs. The last column is the rest of what "
            "the config adds over b: V8, each VM's isolate and compiled module, Envoy's wasm machinery, and anything "
            "else that differs between the two Envoys.",
            "",
            b["vm_table"],
            "",
            "Commands (one of each):",
            "",
            "```",
            *[f"{k}: {v}" for k, v in b["commands"].items()],
            *[f"wrk {k}: {v}" for k, v in b["wrk_commands"].items() if k != "warmup"],
            "```",
        ]
    out.append("")
    return "\n".join(out)


def summary(a, b):
    """One line per target or goal of the issues, with the number that decides it."""
    lines = []
    if a:
        for r in a["results"]:
            if r["target"] is not None:
                lines.append(
                    f"- Part A, {r['case']}: Rust {fmt(r['rust_median'])} pairs/s, Python {fmt(r['python_median'])}: "
                    f"**{fmt_ratio(r['ratio'])}** (target ≥ {r['target']:,.0f}×): {'met' if r['met'] else 'NOT met'}"
                )
    if b:
        for g in b["goals"]:
            lines.append(f"- Part B, {g['goal']}: **{fmt_ratio(g['value'])}**: {'met' if g['met'] else 'NOT met'}")
        spread = [abs(c[k] - 1) for c in b["control"] for k in ("p99", "rps") if c[k] is not None]
        if spread:
            lines.append(
                "- Part B, A/A control (b2, a second b): its p99 and throughput ratios to b were within "
                f"{100 * max(spread):.1f}% of 1.0 (median {100 * median(spread):.1f}%): the noise floor of this run's "
                "ratios")
        sat_floor = [f for f in b["floor"] if f["mode"] == "sat"]
        lines.append(
            "- Part B, the floor (w: a wasm filter with one no-op callback on both clusters) at saturation: "
            "w/b throughput " + ", ".join(f"/{f['path']} **{fmt_ratio(f['rps'])}**" for f in sat_floor)
            + "; Envoy CPU per request over b " + ", ".join(f"{fmt(f['cpu_over_b'])} µs" for f in sat_floor)
            + ", against c's " + ", ".join(f"{fmt(f['c_cpu_over_b'])} µs" for f in sat_floor))
        for path in ("embed", "generate", "classify"):
            cpu = {w: b["medians"][f"{path}|sat|{w}"]["envoy_cpu_us_per_req"] for w in ("a", "b", "w", "c", "d")}
            lines.append(
                f"- Part B, /{path}: Envoy CPU per request at saturation a {fmt(cpu['a'])} µs, b {fmt(cpu['b'])} µs, "
                f"w {fmt(cpu['w'])} µs, c {fmt(cpu['c'])} µs, d {fmt(cpu['d'])} µs: shadow-compare adds "
                f"{fmt(cpu['c'] - cpu['b'])} µs per request over b, and {fmt(cpu['d'] - cpu['b'])} µs on a "
                f"{b['sample_percent']}% sample"
            )
        rss = b["rss"]
        lines.append("- Part B, Envoy VmRSS after load: " + ", ".join(
            f"{w} {fmt(rss[w]['VmRSS'], 1)} MiB" for w in ("a", "b", "w", "c", "d")))
        for c in b["capacity"]:
            e, f, py = c["drain"]["e"], c["drain"]["f"], c["python_pairs_per_s"]
            bound = "≥ " if e["lower_bound"] or f["lower_bound"] else ""
            lines.append(
                f"- Part B, compare service scoring {c['label']} alone: {bound}{fmt(f['pairs_per_s'])} pairs/s with "
                f"all of the main thread, {bound}{fmt_ratio(f['pairs_per_s'] / py)} the Python service's "
                f"{fmt(py)}; {bound}{fmt(e['pairs_per_s'])} pairs/s ({bound}{fmt_ratio(e['pairs_per_s'] / py)}) with "
                "the default half")
        vm = b["vms"]["c"]
        others = vm["others_above_1_mib"]
        lines.append(f"- Part B, wasm linear memory in c after load: {fmt(vm['largest'], 1)} MiB in the largest of "
                     f"its {vm['count']} VMs (the compare service's), "
                     f"{', '.join(fmt(m, 1) for m in others) or 'none'} MiB in the others above 1 MiB (the "
                     f"captures on the workers); {fmt(vm['outside_over_b'], 1)} MiB of c's VmRSS over b is outside "
                     "them")
        pw = b["per_worker"]["c"]
        lines.append(f"- Part B, memory of shadow-compare (c against b): {fmt(pw['filter_per_worker'], 1)} MiB per "
                     f"worker, {fmt(pw['filter_fixed'], 1)} MiB once")
    return lines


def worker_notes(b):
    pw = b["per_worker"]
    return [f"- {w}: shadow-compare adds {fmt(pw[w]['filter_per_worker'], 1)} MiB per worker (its two capture "
            f"VMs on each worker thread) and {fmt(pw[w]['filter_fixed'], 1)} MiB once (the compare service's VM on the "
            "main thread, with the memory its pairing table and backlog grew to), against b." for w in ("c", "d")] + [""]


def capacity_notes(b):
    notes = []
    if any(b.get("warmup_dropped", {}).values()):
        dropped = ", ".join(f"/{p} {n:,}" for p, n in b["warmup_dropped"].items() if n)
        notes.append(f"- During the 1 s warm-up runs right after start-up (8 connections), c dropped pairs "
                     f"({dropped}). Warm-up runs are not in the tables.")
    for c in b["capacity"]:
        if c["dropped"] == 0 and c["max_backlog"] == 0:
            at_saturation = (f"c dropped nothing and kept no backlog at the highest rate this machine's proxy reached "
                             f"({c['pairs_per_s_at_saturation']:,.0f} pairs/s)")
        else:
            dropped = f"{c['dropped']:,} pairs" if c["dropped"] else "nothing"
            at_saturation = (f"c dropped {dropped} at saturation, scoring "
                             f"{c['pairs_per_s_at_saturation']:,.0f} pairs/s (backlog up to {c['max_backlog']:,}, "
                             f"admin /stats up to {c['max_admin_ms']:,.0f} ms)")
        e, f = c["drain"]["e"], c["drain"]["f"]
        notes.append(
            f"- {c['label']}: {at_saturation}. Drains of ~{f['backlog']:,.0f} pairs took {f['drain_s']:.2f} s with "
            f"all of the main thread ({100 * f['main_busy']:.0f}% busy, admin /stats up to "
            f"{f['max_admin_ms']:,.0f} ms), and {e['drain_s']:.2f} s with half of it ({100 * e['main_busy']:.0f}% "
            f"busy, admin up to {e['max_admin_ms']:,.0f} ms)."
            + (" Too short to time with 20 ms polls: the rates shown are lower bounds, and the main thread's CPU "
               "per pair tells its capacity." if e["lower_bound"] or f["lower_bound"] else "")
        )
    return notes + [""]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["all", "scoring", "proxy"], default="all")
    p.add_argument("--output", help="where to write the report (default: see above)")
    g = p.add_argument_group("Part A")
    g.add_argument("--scoring-rounds", type=int, default=5)
    g.add_argument("--rust-seconds", type=float, default=0.3)
    g.add_argument("--python-seconds", type=float, default=0.6)
    g = p.add_argument_group("Part B")
    g.add_argument("--rounds", type=int, default=4)
    g.add_argument("--paced-seconds", type=int, default=4)
    g.add_argument("--paced-conns", type=int, default=4)
    g.add_argument("--pace-ms", type=int, default=4)
    g.add_argument("--sat-seconds", type=int, default=3)
    g.add_argument("--sat-conns", type=int, default=32)
    g.add_argument("--service-seconds", type=int, default=3)
    g.add_argument("--service-conns", type=int, default=4)
    g.add_argument("--port-base", type=int, default=18300)
    args = p.parse_args()
    # A SIGTERM (make interrupted, a CI time-out) unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    m = machine()
    log(f"machine: {m['cpu']}, nproc {m['nproc']}, {m['memory_gib']} GiB, load {' '.join(m['loadavg_start'])}")
    log(f"numpy {m['numpy']} (OPENBLAS_CORETYPE={m['openblas_coretype']}), rouge-score {m['rouge_score']}")
    if m["uncommitted"]:
        log(f"note: uncommitted changes in {', '.join(m['uncommitted'])}: the working tree is what gets measured")
    gen_inputs.main([])
    log("building the bench programs (cargo bench --no-run) ...")
    bins, wasm = build()

    a = b = None
    if args.part in ("all", "scoring"):
        import part_scoring

        log("Part A: scoring core, Rust vs Python")
        ta = time.monotonic()
        a = part_scoring.run(bins["scoring"], args.scoring_rounds, args.rust_seconds, args.python_seconds, log)
        log(f"Part A took {time.monotonic() - ta:.0f} s\n\n{a['table']}\n")
    if args.part in ("all", "proxy"):
        import part_proxy

        if set(wasm) != {"shipped", "fault", "floor"}:
            raise SystemExit("bench: Part B needs three .wasm builds (shipped, fault-injection, bench/floor_filter): "
                             f"only {sorted(wasm)} built; run `make wasm wasm-fault` and see the cargo output")
        log("Part B: Envoys a, b, b2, w, c, d under wrk, compare service capacity, RSS")
        tb = time.monotonic()
        b = part_proxy.run(args, bins, wasm, log)
        log(f"Part B took {time.monotonic() - tb:.0f} s\n")
        for key in ("latency_table", "ratio_table", "goal_table", "capacity_table", "rss_table"):
            log(b[key] + "\n")
    elapsed = time.monotonic() - t0
    argv = ["bench/run.py", *sys.argv[1:]]
    report = markdown(m, a, b, started, elapsed, argv)
    output = args.output or (os.path.join(ROOT, "BENCHMARKS.md") if args.part == "all"
                             else os.path.join(GENERATED, f"BENCHMARKS-{args.part}.md"))
    with open(output, "w") as f:
        f.write(report)
    with open(os.path.join(GENERATED, f"results-{args.part}.json"), "w") as f:
        json.dump({"machine": m, "scoring": a, "proxy": b, "elapsed_s": elapsed}, f, indent=1, default=str)
    log(f"wrote {rel(output)} ({elapsed:.0f} s in all)")


if __name__ == "__main__":
    main()
