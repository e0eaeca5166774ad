"""shadow-compare end to end: real Envoy, real wasm, scripted model servers, exact stat values.

Every test reads as a list of steps: requests with the answers each side is scripted to give, then the
counters that must have moved, by exactly how much (`expect_counts` also fails on any OTHER shadow-compare
counter that moved), then histogram samples where the value itself matters.

The shared environments hold the shipped config's rules:
  /embed    cosine of /embedding, threshold 0.99      /generate  rouge_l of /text, threshold 0.85
  /classify exact /label                              /predict   exact whole body
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import (
    CLI, ENVOY_YAML, PRIMARY, PRIMARY_DIRECT, REPO, SAMPLED_YAML, SHADOW, SHADOW_B, SHADOW_DIRECT,
    TWO_SHADOWS_YAML, Envoy, bin_of, capture_config, clusters, compare_config, global_stat, histogram_delta,
    http_request, main_route, reason_stat, render_config, require_wasm, stat,
)

# Counters that are bookkeeping rather than outcomes; `expect_counts` checks them only when asked. These
# environments' sample sink has nothing listening, so divergent pairs also move the samples counters;
# samples are checked against a real sink in test_faults.py. `scoring_us` is time, not a count.
BOOKKEEPING = {global_stat("records"), global_stat("samples.sent"), global_stat("samples.failed"),
               global_stat("samples.rate_limited"), global_stat("scoring_us")}
ROUGE_THRESHOLD = 0.85  # rules[generate].threshold in envoy/envoy.yaml
# The capture filter's default strip_headers (src/config.rs), with values to send.
SECRETS = {"authorization": "Bearer e2e-token", "cookie": "session=e2e", "proxy-authorization": "Basic ZTJlOmUyZQ=="}


def snapshot(env) -> dict[str, int]:
    """Every shadow-compare counter now."""
    return env.envoy.counters()


def expect_counts(env, before: dict[str, int], expected: dict[str, int], timeout: float = 10.0):
    """Waits for every counter in `expected` to move by exactly its value, lets the compare service settle,
    then checks that no other shadow-compare counter moved (bookkeeping counters only if listed)."""
    for name, n in expected.items():
        env.envoy.wait_for_stat(name, before.get(name, 0) + n, timeout)
    env.settle()
    after = env.envoy.counters()
    moved = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    moved = {k: v for k, v in moved.items() if k not in BOOKKEEPING or k in expected}
    assert moved == expected, f"counters moved: {json.dumps(moved, indent=1, sort_keys=True)}"
    gauges = env.envoy.stats(kind="Gauges")
    assert (gauges.get(global_stat("pending")), gauges.get(global_stat("backlog"))) == (0, 0)


def distance_bp(similarity: float) -> int:
    """(1 - similarity) x 10,000, rounded half away from zero (Rust's f64::round), clamped to [0, 10000]."""
    return int(min(max(math.floor((1.0 - similarity) * 10_000 + 0.5), 0), 10_000))


def expect_distances(env, rule: str, shadow: str, before: list, distances: list[int], timeout: float = 10.0):
    """The distance_bp histogram gained exactly these samples (as Envoy bins them: see harness.bin_of)."""
    name = stat(rule, shadow, "distance_bp")
    count = sum(c for _, _, c in before) + len(distances)
    after = env.envoy.wait_for_histogram_count(name, count, timeout)
    got = histogram_delta(before, after)
    want = dict(Counter(bin_of(d) for d in distances))
    assert got == want, f"{name}: samples by (lower_bound, width): got {got}, want {want} (from {distances})"


def spec(primary: dict | None = None, shadow: dict | None = None, shadow2: dict | None = None) -> dict:
    """A model-server script: what each role answers (omitted roles answer {"role": ROLE} with 200)."""
    out = {}
    for role, entry in (("primary", primary), ("shadow", shadow), ("shadow2", shadow2)):
        if entry is not None:
            out[role] = entry
    return out


# ---------------------------------------------------------------------------------------------- embeddings


def test_identical_embeddings_pair_without_divergence(env):
    before, hist = snapshot(env), env.envoy.histogram(stat("embed", SHADOW, "distance_bp"))
    body = {"embedding": [0.25, -0.5, 1.0, 3e-3]}
    for _ in range(3):
        r = env.post("/embed/identical", spec({"body": body}, {"body": body}))
        assert (r.status, r.json()) == (200, body)
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): 3, global_stat("records"): 9})
    expect_distances(env, "embed", SHADOW, hist, [0, 0, 0])


def test_orthogonal_embeddings_diverge(env):
    before, hist = snapshot(env), env.envoy.histogram(stat("embed", SHADOW, "distance_bp"))
    r = env.post("/embed/orthogonal", spec({"body": {"embedding": [1, 0]}}, {"body": {"embedding": [0, 1]}}))
    assert (r.status, r.json()) == (200, {"embedding": [1, 0]})
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): 1, stat("embed", SHADOW, "divergent"): 1})
    expect_distances(env, "embed", SHADOW, hist, [10_000])


def test_requests_after_quiet_spells_are_each_paired(env):
    """A capture's tick runs only while its batch holds records: a tick that finds the batch empty stops it,
    and the next record starts it again. Requests 60 ms apart (6 flush periods) stop and restart it every
    time on both clusters; each pair must still reach the compare service, one request at a time."""
    before = snapshot(env)
    pairs = stat("embed", SHADOW, "pairs")
    body = {"embedding": [0.5, 0.25]}
    for i in range(8):
        time.sleep(0.06)
        assert env.post(f"/embed/quiet-{i}", spec({"body": body}, {"body": body})).status == 200
        env.envoy.wait_for_stat(pairs, before.get(pairs, 0) + i + 1, 5.0)
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): 8, global_stat("records"): 24})
    # Eight slices of real scoring, each with its stats: the main thread's time for them is counted.
    assert env.envoy.value(global_stat("scoring_us")) > before.get(global_stat("scoring_us"), 0)


def test_embedding_distance_and_threshold(env):
    """Near the 0.99 threshold: the exact distance reaches the histogram, divergence follows the threshold."""
    before, hist = snapshot(env), env.envoy.histogram(stat("embed", SHADOW, "distance_bp"))
    primary = [1.0, 0.0]
    shadows = [[1.0, 0.1], [1.0, 0.15], [2.0, 0.04]]  # cosine 0.99504, 0.98894, 0.99980
    sims = [s[0] / math.hypot(*s) for s in shadows]
    for s in shadows:
        assert env.post("/embed/near", spec({"body": {"embedding": primary}}, {"body": {"embedding": s}})).status == 200
    divergent = sum(sim < 0.99 for sim in sims)
    assert divergent == 1, "the cases straddle the threshold"
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): 3, stat("embed", SHADOW, "divergent"): divergent})
    expect_distances(env, "embed", SHADOW, hist, [distance_bp(s) for s in sims])


# ---------------------------------------------------------------------------------------------- ROUGE-L

# Distances 83 (below 100, so Envoy's bin holds it exactly), 0 (through stemming), 1250 and 3333 (one each
# side of the 0.85 threshold) and 10000 (nothing in common).
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
LONG = " ".join(WORDS[i % len(WORDS)] + str(i // len(WORDS)) for i in range(120))
TEXT_PAIRS = [
    (LONG, LONG.replace("mike0", "mikes0", 1)),                          # one token of 120 differs
    ("the quick brown fox jumps over the lazy dog",
     "the quick brown fox jumped over the lazy dog"),                     # stemming: jumps == jumped
    ("models answer every question with care and precision",
     "models answer each question with care and precision"),              # 7 of 8 tokens in order
    ("shadow traffic is compared with production",
     "shadow traffic is scored against production"),                      # below the threshold
    ("Completely different words", "nothing in common here"),
]


def core_rouge_l(bodies: list[tuple[bytes, bytes]]) -> list[float]:
    """The similarity the scoring core gives each pair of raw bodies, from the native CLI (same core as the
    filter); if the CLI is not built, from rouge-score 0.1.2, which the core matches; else skip."""
    if CLI.is_file():
        lines = "".join(json.dumps({"primary_body": p.decode(), "shadow_body": s.decode()}) + "\n" for p, s in bodies)
        r = subprocess.run([str(CLI), "score", "--kind", "rouge_l", "--pointer", "/text"],
                           input=lines.encode(), capture_output=True, timeout=60)
        rows = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
        if r.returncode == 0 and len(rows) == len(bodies) and all(row.get("similarity") is not None for row in rows):
            return [row["similarity"] for row in rows]
        pytest.fail(f"{CLI.name} score failed (exit {r.returncode}): {r.stderr.decode()[:500]} {rows}")
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        pytest.skip(f"no reference ROUGE-L: {CLI.relative_to(REPO)} is not built (`make cli`) "
                    "and rouge-score is not installed")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(json.loads(p)["text"], json.loads(s)["text"])["rougeL"].fmeasure for p, s in bodies]


def run_rouge_pairs(env, pairs: list[tuple[str, str]], sims: list[float] | None = None):
    bodies = [(json.dumps({"text": p}).encode(), json.dumps({"text": s}).encode()) for p, s in pairs]
    if sims is None:
        sims = core_rouge_l(bodies)
    before, hist = snapshot(env), env.envoy.histogram(stat("generate", SHADOW, "distance_bp"))
    for (p, s), (p_raw, _) in zip(pairs, bodies):
        r = env.post("/generate/rouge", spec({"body": {"text": p}}, {"body": {"text": s}}))
        # The model server sends json.dumps(body): the same bytes the expected value was computed from.
        assert (r.status, r.body) == (200, p_raw)
    divergent = sum(sim < ROUGE_THRESHOLD for sim in sims)
    expected = {stat("generate", SHADOW, "pairs"): len(pairs)}
    if divergent:
        expected[stat("generate", SHADOW, "divergent")] = divergent
    expect_counts(env, before, expected)
    expect_distances(env, "generate", SHADOW, hist, [distance_bp(sim) for sim in sims])
    return sims


def test_rouge_l_distance_is_what_the_core_gives(env):
    sims = run_rouge_pairs(env, TEXT_PAIRS)
    # Not a check of the core (its own tests do that): a check that these pairs exercise what they claim.
    assert distance_bp(sims[0]) < 100 and sims[1] == 1.0
    assert sims[2] >= ROUGE_THRESHOLD > sims[3] and sims[4] == 0.0


def test_rouge_l_matches_reference_fixture(env):
    """Pairs from tests/fixtures/rouge_pairs.jsonl, whose fmeasure rouge-score 0.1.2 computed: one per
    distance class (exact bin below 100, coarser bins, each side of the threshold)."""
    fixture = REPO / "tests" / "fixtures" / "rouge_pairs.jsonl"
    if not fixture.is_file():
        pytest.skip(f"{fixture.relative_to(REPO)} is not present")
    classes = [lambda d: 0 < d < 100, lambda d: 100 <= d < 1500, lambda d: 1500 < d < 10_000]
    chosen: list[dict | None] = [None] * len(classes)
    with fixture.open() as f:
        for line in f:
            row = json.loads(line)
            if not row["target"].strip() or not row["prediction"].strip():
                continue
            d = distance_bp(row["fmeasure"])
            for i, in_class in enumerate(classes):
                if chosen[i] is None and in_class(d):
                    chosen[i] = row
            if all(chosen):
                break
    rows = [r for r in chosen if r]
    if not rows:
        pytest.skip("no usable pair in the fixture")
    run_rouge_pairs(env, [(r["target"], r["prediction"]) for r in rows], [r["fmeasure"] for r in rows])


# ---------------------------------------------------------------------------------------------- exact, status


def test_class_mismatch_diverges(env):
    before, hist = snapshot(env), env.envoy.histogram(stat("classify", SHADOW, "distance_bp"))
    same = spec({"body": {"label": "cat", "p": 0.9}}, {"body": {"p": 0.8, "label": "cat"}})
    assert env.post("/classify/same", same).status == 200
    assert env.post("/classify/mismatch", spec({"body": {"label": "cat"}}, {"body": {"label": "dog"}})).status == 200
    expect_counts(env, before, {stat("classify", SHADOW, "pairs"): 2, stat("classify", SHADOW, "divergent"): 1})
    expect_distances(env, "classify", SHADOW, hist, [0, 10_000])


def test_status_mismatch_is_divergent(env):
    before, hist = snapshot(env), env.envoy.histogram(stat("classify", SHADOW, "distance_bp"))
    body = {"label": "cat"}
    r = env.post("/classify/status", spec({"body": body}, {"status": 404, "body": body}))
    assert (r.status, r.json()) == (200, body)
    expect_counts(env, before, {
        stat("classify", SHADOW, "status_mismatch"): 1,
        stat("classify", SHADOW, "pairs"): 1,
        stat("classify", SHADOW, "divergent"): 1,
    })
    expect_distances(env, "classify", SHADOW, hist, [10_000])


def test_shadow_503_is_a_shadow_error(env):
    before = snapshot(env)
    body = {"label": "cat"}
    r = env.post("/classify/shadow-503", spec({"body": body}, {"status": 503, "body": {"error": "overloaded"}}))
    assert (r.status, r.json()) == (200, body)
    expect_counts(env, before, {stat("classify", SHADOW, "shadow_errors"): 1})


def test_primary_503_reaches_the_client_unchanged(env):
    before = snapshot(env)
    raw = '{"error": "primary overloaded",  "retry_after_s": 3}\n'
    r = env.post("/classify/primary-503", spec({"status": 503, "raw": raw}, {"body": {"label": "cat"}}))
    assert (r.status, r.body) == (503, raw.encode())
    expect_counts(env, before, {stat("classify", SHADOW, "primary_errors"): 1})


# ---------------------------------------------------------------------------------------------- compare errors


@pytest.mark.parametrize("reason,shadow_entry", [
    ("invalid_json", {"raw": '{"embedding": [1, 0'}),
    ("missing_field", {"body": {"vector": [1, 0]}}),
    ("dimension_mismatch", {"body": {"embedding": [1, 0, 0]}}),
], ids=["invalid_json", "missing_field", "dimension_mismatch"])
def test_compare_error_reason(env, reason, shadow_entry):
    before = snapshot(env)
    r = env.post(f"/embed/{reason}", spec({"body": {"embedding": [1, 0]}}, shadow_entry))
    assert (r.status, r.json()) == (200, {"embedding": [1, 0]})
    expect_counts(env, before, {reason_stat("embed", SHADOW, reason): 1})


# ---------------------------------------------------------------------------------------------- topology


def test_shadow_down_counts_missing_and_primary_is_unchanged(shadow_down_env):
    env = shadow_down_env
    before = snapshot(env)
    n = 5
    for i in range(n):
        raw = f'{{"label": "cat", "n": {i}, "pad": "{"x" * (i * 7)}"}}'
        r = env.post(f"/classify/down-{i}", spec({"raw": raw}))
        assert (r.status, r.body) == (200, raw.encode())
    expect_counts(env, before, {stat("classify", SHADOW, "shadow_missing"): n})


def test_two_shadows_are_scored_independently(two_shadow_env):
    env = two_shadow_env
    before = snapshot(env)
    hists = {s: env.envoy.histogram(stat("classify", s, "distance_bp")) for s in (SHADOW, SHADOW_B)}
    for _ in range(2):
        r = env.post("/classify/two",
                     spec({"body": {"label": "cat"}}, {"body": {"label": "cat"}}, {"body": {"label": "dog"}}))
        assert (r.status, r.json()) == (200, {"label": "cat"})
    expect_counts(env, before, {
        stat("classify", SHADOW, "pairs"): 2,
        stat("classify", SHADOW_B, "pairs"): 2,
        stat("classify", SHADOW_B, "divergent"): 2,
        global_stat("records"): 2 * 5,  # per request: the primary, and each shadow's start and end
    })
    expect_distances(env, "classify", SHADOW, hists[SHADOW], [0, 0])
    expect_distances(env, "classify", SHADOW_B, hists[SHADOW_B], [10_000, 10_000])


# ---------------------------------------------------------------------------------------------- headers


def test_secrets_never_reach_the_shadow(env):
    before = snapshot(env)
    for role in ("primary", "shadow"):
        env.servers[role].seen()  # reading clears: start from empty lists
    r = env.post("/classify/secrets", spec({"body": {"label": "cat"}}, {"body": {"label": "cat"}}),
                 headers={**SECRETS, "x-e2e-case": "secrets"})
    assert r.status == 200
    expect_counts(env, before, {stat("classify", SHADOW, "pairs"): 1})

    def the_request(role):
        seen = [s for s in env.servers[role].seen() if s["path"] == "/classify/secrets"]
        assert len(seen) == 1, f"{role} saw {seen}"
        assert seen[0]["headers"].get("x-e2e-case") == "secrets"
        return seen[0]["headers"]

    primary, shadow = the_request("primary"), the_request("shadow")
    assert {k: primary.get(k) for k in SECRETS} == SECRETS
    assert {k: shadow.get(k) for k in SECRETS} == dict.fromkeys(SECRETS)
    assert "x-shadow-deployment" not in primary
    assert shadow.get("x-shadow-deployment") == "true"


# ---------------------------------------------------------------------------------------------- latency


def test_slow_shadow_does_not_delay_the_primary(env):
    """Client latency with a fast and with a 2 s shadow: every primary answer well under the shadow's delay.
    No timing ratios: CI machines are shared and noisy; the margin (1 s against 2 s) is what matters."""
    n, delay_ms = 4, 2000
    before = snapshot(env)
    hist = env.envoy.histogram(stat("classify", SHADOW, "shadow_latency_ms"))
    latencies = {}
    for case, shadow_delay in (("fast", 0), ("slow", delay_ms)):
        latencies[case] = []
        for i in range(n):
            r = env.post(f"/classify/latency-{case}-{i}",
                         spec({"body": {"label": "cat"}}, {"body": {"label": "cat"}, "delay_ms": shadow_delay}))
            assert r.status == 200
            latencies[case].append(r.seconds)
    assert max(latencies["slow"]) < 1.0, latencies
    assert max(latencies["fast"]) < 1.0, latencies
    # The slow shadows really were slow, and were still paired (the route timeout is 5 s).
    expect_counts(env, before, {stat("classify", SHADOW, "pairs"): 2 * n}, timeout=15)
    after = env.envoy.wait_for_histogram_count(stat("classify", SHADOW, "shadow_latency_ms"),
                                               sum(c for _, _, c in hist) + 2 * n)
    slow = sum(c for (lower, _), c in histogram_delta(hist, after).items() if lower >= delay_ms)
    assert slow == n, histogram_delta(hist, after)


# ---------------------------------------------------------------------------------------------- exposition


def prometheus_value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1:])
    ours = [line for line in text.splitlines() if "shadow_compare" in line and not line.startswith("#")]
    raise AssertionError(f"{series} not in /stats/prometheus:\n" + "\n".join(ours)[:3000])


def test_prometheus_output(env):
    before = snapshot(env)
    body = {"embedding": [1, 2]}
    env.post("/embed/prom-ok", spec({"body": body}, {"body": body}))
    env.post("/embed/prom-bad", spec({"body": body}, {"raw": "<html>oops</html>"}))
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): 1, reason_stat("embed", SHADOW, "invalid_json"): 1})
    pairs = env.envoy.value(stat("embed", SHADOW, "pairs"))
    invalid = env.envoy.value(reason_stat("embed", SHADOW, "invalid_json"))
    text = env.envoy.prometheus()
    assert "# TYPE shadow_compare_pairs counter" in text
    assert prometheus_value(text, 'shadow_compare_pairs{rule="embed",shadow="shadow_model"}') == pairs
    assert prometheus_value(
        text, 'shadow_compare_compare_errors{rule="embed",shadow="shadow_model",reason="invalid_json"}') == invalid
    assert pairs >= 1 and invalid >= 1


def test_pending_returns_to_zero(env):
    """A concurrent burst across rules: everything pairs, and the pending and backlog gauges return to 0."""
    def one(i):
        path, entry = [
            ("/embed/burst", {"body": {"embedding": [1, i]}}),
            ("/generate/burst", {"body": {"text": f"burst number {i}"}}),
            ("/classify/burst", {"body": {"label": f"l{i % 3}"}}),
            ("/predict/burst", {"body": {"y": i}}),
        ][i % 4]
        return env.post(f"{path}-{i}", spec(entry, entry)).status

    before = snapshot(env)
    n = 40
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(n)))
    assert statuses == [200] * n
    pairs = {stat(rule, SHADOW, "pairs"): n // 4 for rule in ("embed", "generate", "classify", "predict")}
    expect_counts(env, before, pairs | {global_stat("records"): 3 * n})
    env.envoy.wait_for_stat(global_stat("pending"), 0)
    env.envoy.wait_for_stat(global_stat("backlog"), 0)


# ---------------------------------------------------------------------------------------------- sampling


def set_runtime(env, key: str, value: int | str):
    """Sets a runtime key through the admin layer (an empty value removes the override)."""
    r = http_request(env.envoy.admin_port, "POST", f"/runtime_modify?{key}={value}")
    assert r.status == 200, f"/runtime_modify: HTTP {r.status} {r.body!r}"


def test_mirror_percent_changes_at_runtime(env):
    """With mirroring turned off at runtime, the shadow receives nothing and each primary is unmirrored."""
    set_runtime(env, "shadow_compare.mirror_percent", 0)
    try:
        before = snapshot(env)
        env.servers["shadow"].seen()
        for _ in range(3):
            assert env.post("/classify/unmirrored", spec({"body": {"label": "cat"}})).status == 200
        expect_counts(env, before, {stat("classify", SHADOW, "unmirrored"): 3, global_stat("records"): 3})
        assert [s for s in env.servers["shadow"].seen() if s["path"] == "/classify/unmirrored"] == []
    finally:
        set_runtime(env, "shadow_compare.mirror_percent", "")


def seen_by(env, role: str, prefix: str) -> list[dict]:
    return [s for s in env.servers[role].seen() if s["path"].startswith(prefix)]


def test_sampled_config_is_the_shipped_one_plus_plain_clusters():
    """envoy-sampled.yaml scores its sample exactly as envoy.yaml scores everything; the rest of the traffic
    goes to plain copies of the two clusters, and its mirror policy strips the same secrets."""
    import yaml
    one, sampled = (yaml.safe_load(p.read_text()) for p in (ENVOY_YAML, SAMPLED_YAML))
    assert compare_config(sampled) == compare_config(one)
    c1, cs = clusters(one), clusters(sampled)
    assert set(cs) == set(c1) | {PRIMARY_DIRECT, SHADOW_DIRECT} and all(cs[n] == c1[n] for n in c1)
    for direct, captured in ((PRIMARY_DIRECT, PRIMARY), (SHADOW_DIRECT, SHADOW)):
        assert cs[direct]["load_assignment"]["endpoints"] == c1[captured]["load_assignment"]["endpoints"]
        assert "typed_extension_protocol_options" not in cs[direct]  # no wasm, no filter at all

    hcm = sampled["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    sample, plain, other = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert sample["route"] == main_route(one)
    assert sample["match"]["runtime_fraction"]["runtime_key"] == "shadow_compare.capture_percent"
    mirror = main_route(one)["request_mirror_policies"][0]
    removes = [{"remove": h} for h in SECRETS]
    mirror = {**mirror, "cluster": SHADOW_DIRECT,
              "request_headers_mutations": removes + mirror["request_headers_mutations"]}
    assert plain["route"] == {**main_route(one), "cluster": PRIMARY_DIRECT, "request_mirror_policies": [mirror]}
    assert other["route"] == {"cluster": PRIMARY_DIRECT, "timeout": main_route(one)["timeout"]}


def test_outside_the_sample_requests_are_mirrored_but_not_captured(sampled_env):
    """capture_percent 0: users and the shadow get every GET/POST as with the full config, minus the secrets;
    no record is made; other methods never reach the shadow."""
    env = sampled_env
    set_runtime(env, "shadow_compare.capture_percent", 0)
    try:
        for role in ("primary", "shadow"):
            env.servers[role].seen()
        before = snapshot(env)
        n = 6
        for i in range(n):
            r = env.post(f"/classify/plain-{i}", spec({"body": {"label": "cat"}}, {"body": {"label": "dog"}}),
                         headers=SECRETS)
            assert (r.status, r.json()) == (200, {"label": "cat"})
        for method in ("PUT", "DELETE"):
            r = env.request(method, f"/classify/plain-{method}", b"{}", {"content-type": "application/json"})
            assert r.status == 200
        expect_counts(env, before, {})
        assert len(seen_by(env, "primary", "/classify/plain-")) == n + 2
        shadow = seen_by(env, "shadow", "/classify/plain-")
        assert sorted(s["path"] for s in shadow) == sorted(f"/classify/plain-{i}" for i in range(n))
        for s in shadow:
            assert {k: s["headers"].get(k) for k in SECRETS} == dict.fromkeys(SECRETS)
            assert s["headers"].get("x-shadow-deployment") == "true"
    finally:
        set_runtime(env, "shadow_compare.capture_percent", "")


def test_the_sample_is_scored_like_the_full_config(sampled_env):
    """capture_percent 100: every request takes the captured clusters and is scored as envoy.yaml does."""
    env = sampled_env
    set_runtime(env, "shadow_compare.capture_percent", 100)
    try:
        env.servers["shadow"].seen()
        before = snapshot(env)
        for i, shadow_label in enumerate(("cat", "cat", "dog")):
            r = env.post(f"/classify/sampled-{i}", spec({"body": {"label": "cat"}}, {"body": {"label": shadow_label}}),
                         headers=SECRETS)
            assert (r.status, r.json()) == (200, {"label": "cat"})
        r = env.request("DELETE", "/classify/sampled-delete", b"{}", {"content-type": "application/json"})
        assert r.status == 200
        expect_counts(env, before, {
            stat("classify", SHADOW, "pairs"): 3, stat("classify", SHADOW, "divergent"): 1,
            # the capture filter blocks the DELETE on the shadow: compare sees only the primary
            global_stat("capture.blocked"): 1, stat("classify", SHADOW, "unmirrored"): 1,
            global_stat("records"): 3 * 3 + 1,
        })
        shadow = seen_by(env, "shadow", "/classify/sampled-")
        assert sorted(s["path"] for s in shadow) == [f"/classify/sampled-{i}" for i in range(3)]
        assert all(s["headers"].get(k) is None for s in shadow for k in SECRETS)
    finally:
        set_runtime(env, "shadow_compare.capture_percent", "")


def test_a_partial_sample_pairs_every_captured_request(sampled_env):
    """capture_percent 50 over 200 requests: about half are scored (binomial: 100 +- 7; the bounds are 5.6
    standard deviations out), and each scored request was captured on both sides: no unmirrored, no missing."""
    env = sampled_env
    set_runtime(env, "shadow_compare.capture_percent", 50)
    try:
        env.servers["shadow"].seen()
        before = snapshot(env)
        n = 200
        def one(i):
            return env.post(f"/classify/half-{i}", spec({"body": {"label": "cat"}}, {"body": {"label": "cat"}})).status
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(one, range(n))) == [200] * n
        env.settle()
        pairs = env.envoy.value(stat("classify", SHADOW, "pairs")) - before.get(stat("classify", SHADOW, "pairs"), 0)
        assert 60 <= pairs <= 140, pairs
        expect_counts(env, before, {stat("classify", SHADOW, "pairs"): pairs, global_stat("records"): 3 * pairs})
        assert len(seen_by(env, "shadow", "/classify/half-")) == n
    finally:
        set_runtime(env, "shadow_compare.capture_percent", "")


# ---------------------------------------------------------------------------------------------- bad configs


def test_bad_compare_config_stops_envoy(workdir):
    """A real start (validate mode skips the compare service's on_configure): exit 1, the field named."""
    require_wasm()
    cfg = render_config(REPO / "tests" / "configs" / "bad-threshold.yaml", {0: 0}, flush_interval=None)
    d = workdir / "bad-threshold"
    d.mkdir(exist_ok=True)
    envoy = Envoy(cfg, d, "bad-threshold")
    code = envoy.run_to_exit()
    out = envoy.output()
    assert code == 1, out[-3000:]
    assert "shadow_compare: invalid configuration: rules[0].threshold: 1.5 is outside [0, 1]" in out, out[-3000:]


def _validate(workdir, name: str, cfg: dict) -> tuple[int, str]:
    d = workdir / name
    d.mkdir(exist_ok=True)
    envoy = Envoy(cfg, d, name)
    code = envoy.run_to_exit("--mode", "validate")
    return code, envoy.output()


IDENTITY_PORTS = {p: p for p in (8080, 9901, 9902, 8001, 8002, 8003)}


def test_bad_capture_config_fails_validate(workdir):
    require_wasm()
    good = render_config(ENVOY_YAML, IDENTITY_PORTS, flush_interval=None)
    code, out = _validate(workdir, "capture-good", good)
    assert code == 0, out[-3000:]
    bad = render_config(ENVOY_YAML, IDENTITY_PORTS, flush_interval=None)
    capture_config(clusters(bad)[SHADOW])["configuration"]["value"] = '{"role": "canary"}'
    code, out = _validate(workdir, "capture-canary", bad)
    assert code == 1, out[-3000:]
    assert "shadow_compare: invalid configuration: role: unknown variant `canary`" in out, out[-3000:]


def test_two_shadow_config_is_the_shipped_one_plus_a_shadow():
    """envoy-two-shadows.yaml differs from envoy.yaml only by the second shadow (and passes validate)."""
    import yaml
    one, two = (yaml.safe_load(p.read_text()) for p in (ENVOY_YAML, TWO_SHADOWS_YAML))
    assert compare_config(two)["shadow_clusters"] == [SHADOW, SHADOW_B]
    assert {k: v for k, v in compare_config(two).items() if k != "shadow_clusters"} == \
        {k: v for k, v in compare_config(one).items() if k != "shadow_clusters"}
    c1, c2 = clusters(one), clusters(two)
    assert set(c2) == set(c1) | {SHADOW_B} and all(c2[n] == c1[n] for n in c1)
    captured = [c for c in c2.values() if "typed_extension_protocol_options" in c]  # not sample_sink
    vm_ids = {capture_config(c)["vm_config"]["vm_id"] for c in captured}
    assert len(vm_ids) == 3, "each capture has its own VM"
    assert capture_config(c2[SHADOW_B])["configuration"] == capture_config(c2[SHADOW])["configuration"]
    route = two["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    mirrors = route["virtual_hosts"][0]["routes"][0]["route"]["request_mirror_policies"]
    assert [m["cluster"] for m in mirrors] == [SHADOW, SHADOW_B]


def test_shipped_configs_pass_validate(workdir):
    require_wasm()
    for path in (ENVOY_YAML, TWO_SHADOWS_YAML):
        cfg = render_config(path, IDENTITY_PORTS, flush_interval=None)
        code, out = _validate(workdir, f"validate-{path.stem}", cfg)
        assert code == 0, f"{path.name}:\n{out[-3000:]}"
