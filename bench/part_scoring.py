"""Part A: pairs per second of the Rust scoring core next to the same work in Python, on the same inputs.

Each round runs every case once per contender, Rust and Python alternating which goes first, so both see
the same machine noise. A Rust run is one process (benches/scoring.rs) scoring for `rust_seconds`; a
Python run scores in this process for `python_seconds` (the 2,000-token case: a fixed few pairs, since
rouge-score needs about a second for each). Reported: the median of each contender's per-round rate and the
ratio of the medians.
"""

import json
import os
import subprocess
import sys

import numpy as np

import py_scoring
from common import GENERATED, fmt, fmt_ratio, median, ratio, rel, show_cmd, table

# Targets from the issue "Scoring core": Rust / Python, ratio of medians.
TARGETS = {"rouge_l_100": 100.0, "rouge_l_2000": 1000.0, "cosine_384": 20.0, "cosine_1536": 20.0}
# The slow Python case: this many pairs per round, at most this many rounds.
SLOW_CASE, SLOW_PAIRS, SLOW_ROUNDS = "rouge_l_2000", 3, 3


def describe(case):
    n = len(case["pairs"])
    if case["kind"] == "rouge_l":
        return f"{case['tokens']:,}-token texts in {{\"text\": ...}}, {n} pairs"
    if case["kind"] == "cosine":
        return f"{case['dims']:,}-dim {{\"embedding\": [...]}} bodies, {n} pairs"
    return f"small classification JSON, {n} pairs"


def run_rust(exe, input_path, case_name, seconds, commands):
    argv = [exe, "--input", input_path, "--case", case_name, "--seconds", str(seconds)]
    commands.setdefault("rust", show_cmd(argv))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{show_cmd(argv)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(exe, rounds, rust_seconds, python_seconds, log):
    input_path = os.path.join(GENERATED, "scoring.json")
    with open(input_path) as f:
        cases = json.load(f)["cases"]
    contenders = {c["name"]: py_scoring.contender(c) for c in cases}
    for c in cases:  # warm-up: imports, the stemmer's caches, numpy's first call
        contenders[c["name"]](0)
    rust = {c["name"]: [] for c in cases}
    python = {c["name"]: [] for c in cases}
    py_scores = {c["name"]: {} for c in cases}
    py_pairs = {c["name"]: 0 for c in cases}
    py_next = {c["name"]: 0 for c in cases}
    rust_scores = {}
    commands = {}
    for r in range(rounds):
        for case in cases:
            name = case["name"]
            slow = name == SLOW_CASE
            if slow and r >= SLOW_ROUNDS:
                continue
            order = ("rust", "python") if r % 2 == 0 else ("python", "rust")
            for who in order:
                if who == "rust":
                    res = run_rust(exe, input_path, name, rust_seconds, commands)
                    rust[name].append(res["pairs_per_sec"])
                    rust_scores[name] = res
                else:
                    rate, done, _, scores, py_next[name] = py_scoring.measure(
                        case, contenders[name], py_next[name], python_seconds, SLOW_PAIRS if slow else None
                    )
                    python[name].append(rate)
                    py_scores[name].update(scores)
                    py_pairs[name] += done
            log(f"  round {r + 1}/{rounds} {name}: rust {rust[name][-1]:,.0f}/s, python {python[name][-1]:,.2f}/s")

    rows, results = [], []
    for case in cases:
        name = case["name"]
        rm, pm = median(rust[name]), median(python[name])
        q = ratio(rm, pm)
        target = TARGETS.get(name)
        # Agreement on every pair Python scored: the two must compute the same thing to be compared.
        rs = rust_scores[name]["scores"]
        diffs = [abs(rs[i] - s) for i, s in py_scores[name].items() if rs[i] is not None]
        agree = max(diffs) if diffs and len(diffs) == len(py_scores[name]) else None
        met = None if target is None else (q is not None and q >= target)
        results.append({
            "case": name, "input": describe(case), "rust_rounds": rust[name], "python_rounds": python[name],
            "rust_median": rm, "python_median": pm, "ratio": q, "target": target, "met": met,
            "python_pairs": py_pairs[name], "pairs_checked": len(diffs), "max_abs_diff": agree,
            "rust_errors": rust_scores[name]["errors"][:3],
        })
        rows.append([
            name, describe(case), fmt(rm), fmt(pm), fmt_ratio(q),
            "—" if target is None else f"≥ {target:,.0f}×", "—" if met is None else ("met" if met else "NOT met"),
            f"Rust {len(rust[name])} × {rust_seconds} s; Python {len(python[name])} rounds, {py_pairs[name]} pairs",
            "—" if agree is None else f"{agree:.1e} ({len(diffs)} pairs)",
        ])
    headers = ["case", "input", "Rust pairs/s", "Python pairs/s", "ratio", "target", "", "repetitions",
               "max abs Δ score"]
    return {
        "results": results,
        "table": table(headers, rows),
        "commands": commands,
        "rounds": rounds,
        "rust_seconds": rust_seconds,
        "python_seconds": python_seconds,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "input": rel(input_path),
    }
