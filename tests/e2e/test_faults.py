"""Never hurt the primary, never lose count: shadow-side faults end to end, in the real Envoy.

Each fault is scripted on the shadow's model server (see model_server.py) while production answers a
known body. For every case the test checks three things:
  1. every client response is production's, status 200 and byte for byte;
  2. the outcome is counted exactly once, in the counter that names it (`shadow_missing`, `shadow_errors`,
     `compare_errors` with its reason), and no other outcome counter moves;
  3. `shadow_compare.pending` returns to 0 (within the pair timeout, plus slack for a loaded machine).

Environments (each its own Envoy, ports from the kernel; every change from envoy/envoy.yaml is written
below, in `derive_*`):
  fault_env        shipped timeouts, a small promotion gate, `shadow-compare collect` as the sample sink
  timeout_env      route timeout 2 s, pair timeout 4 s: a shadow slower than the route, quickly
  blackhole_env    the shadow's port listens but never answers a SYN (connect timeout)
  shadow_down_env  (conftest.py) nothing listens on the shadow's port
  late_env         a 1.5 s pair timeout under the shipped 5 s route timeout: the pairing table gives up first
  capture_fault_env, compare_fault_env   the fault-injection build (src/wasm/fault.rs)
  stall_env        the fault-injection build with a small `max_backlog`: a scoring backlog that fills on cue
"""

from __future__ import annotations

import base64
import json
import math
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import (
    CLI, ENVOY_YAML, FAULT_WASM, REPO, SHADOW, Blackhole, Env, bin_of, global_stat, histogram_delta, http_request,
    main_route, poll, reason_stat, require_wasm, set_compare_config, stat,
)

# timeout_env: short, with room for a loaded 2-core CI machine (1 s has been seen to time out a 150 ms
# answer there). The other environments keep the shipped 5 s route timeout for the same reason.
ROUTE_TIMEOUT_S = 2.0
PAIR_TIMEOUT_MS = 4000  # 2 s above the route timeout: room for a record delayed on a loaded machine
# Small enough to be reached in a test: 0 of 20 gives a Wilson upper bound of 16.1%.
PROMOTION = {"min_pairs": 20, "max_divergence": 0.2, "max_error_rate": 0.2}
LATE_PAIR_TIMEOUT_MS = 1500
SAMPLES_PER_SECOND = 10  # samples.max_per_second in envoy/envoy.yaml (kept as shipped)
EMBED_THRESHOLD = 0.99  # rules[embed].threshold in envoy/envoy.yaml

RECORDS = global_stat("records")
PENDING = global_stat("pending")
SAMPLES_SENT = global_stat("samples.sent")
SAMPLES_FAILED = global_stat("samples.failed")
SAMPLES_RATE_LIMITED = global_stat("samples.rate_limited")
BLOCKED = global_stat("capture.blocked")
ENQUEUE_FAILED = global_stat("capture.enqueue_failed")
COMPARE_DOWN = global_stat("capture.compare_down")
SHED = global_stat("capture.shed")
BACKLOG = global_stat("backlog")
# stall_env's scoring backlog bound. Not smaller: records reach the compare service in batches (every
# 10 ms per capture), so several pairs can complete in one go even at one request at a time.
STALL_MAX_BACKLOG = 8
STALL_SHED_AT = STALL_MAX_BACKLOG // 2  # captures shed from half the bound (src/health.rs)
HEARTBEAT_S = 0.6  # a heartbeat (every 0.1 s) plus a capture's poll (every 0.1 s), with room
HEARTBEAT_TIMEOUT_S = 2.0  # compare_heartbeat_timeout_ms's default; envoy/envoy.yaml does not set it
# Every compare error and divergent pair asks for a sample: those counters move with most cases here and
# are checked by the sample tests. `samples.failed` is not in this set when a real sink is running. `scoring_us`
# is time, not a count.
BOOKKEEPING = {RECORDS, SAMPLES_SENT, SAMPLES_RATE_LIMITED, global_stat("scoring_us")}


# ---------------------------------------------------------------------------------------------- environments


def derive_fault_env(cfg: dict):
    set_compare_config(cfg, promotion=PROMOTION)


def derive_timeout_env(cfg: dict):
    main_route(cfg)["timeout"] = f"{ROUTE_TIMEOUT_S:g}s"
    set_compare_config(cfg, pair_timeout_ms=PAIR_TIMEOUT_MS)


def derive_late_env(cfg: dict):
    # Deliberately against the README's advice (route timeout below pair_timeout_ms): the pairing table
    # must give up on its own when the shadow outlives it.
    set_compare_config(cfg, pair_timeout_ms=LATE_PAIR_TIMEOUT_MS)


def _env(workdir: Path, name: str, **kwargs):
    d = workdir / name
    d.mkdir(exist_ok=True)
    return Env.start(name, d, ENVOY_YAML, **kwargs)


@pytest.fixture(scope="module")
def fault_env(workdir):
    require_wasm()
    env = _env(workdir, "faults", roles=("primary", "shadow"), collect=True, derive=derive_fault_env)
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture(scope="module")
def timeout_env(workdir):
    require_wasm()
    env = _env(workdir, "timeouts", roles=("primary", "shadow"), derive=derive_timeout_env)
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture(scope="module")
def blackhole_env(workdir):
    require_wasm()
    hole = Blackhole()
    try:
        if not hole.verify():
            pytest.fail("this kernel completed a handshake on a full listen(0) backlog: no blackhole port here",
                        pytrace=False)
        env = _env(workdir, "blackhole", roles=("primary",), ports={"shadow": hole.port})
        try:
            yield env
        finally:
            env.stop()
    finally:
        hole.close()


@pytest.fixture(scope="module")
def late_env(workdir):
    require_wasm()
    env = _env(workdir, "late", roles=("primary", "shadow"), derive=derive_late_env)
    try:
        yield env
    finally:
        env.stop()


def _fault_build_env(workdir, name):
    require_wasm()
    require_wasm(FAULT_WASM, "wasm-fault")
    return _env(workdir, name, roles=("primary", "shadow"), wasm=FAULT_WASM)


@pytest.fixture(scope="module")
def capture_fault_env(workdir):
    env = _fault_build_env(workdir, "capture-fault")
    try:
        yield env
    finally:
        env.stop()


# The default share of the main thread (10 ms slices, 10 ms pauses), and all of it in 1 ms slices: a backlog then
# drains over many ticks, each scoring one slice and pausing the shortest tick.
STALL_SCHEDULES = {"default-share": {}, "whole-main-thread": {"slice_ms": 1, "main_thread_percent": 100}}


@pytest.fixture(scope="module", params=list(STALL_SCHEDULES))
def stall_env(workdir, request):
    require_wasm()
    require_wasm(FAULT_WASM, "wasm-fault")

    def derive(cfg: dict):
        set_compare_config(cfg, max_backlog=STALL_MAX_BACKLOG, **STALL_SCHEDULES[request.param])

    env = _env(workdir, f"stall-{request.param}", roles=("primary", "shadow"), wasm=FAULT_WASM, derive=derive)
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture(scope="module")
def compare_fault_env(workdir):
    env = _fault_build_env(workdir, "compare-fault")
    try:
        yield env
    finally:
        env.stop()


# ---------------------------------------------------------------------------------------------- helpers


def send(env: Env, path: str, primary_raw: str, shadow, n: int, concurrency: int = 8,
         headers: dict[str, str] | None = None, primary_extra: dict | None = None) -> list:
    """Sends `n` requests to `{path}-{i}`; production answers `primary_raw` (times `primary_extra["repeat"]`),
    the shadow `shadow(i)` (or the entry `shadow`; None: no script for it). Fails unless every client got
    production's answer: 200 and the same bytes."""
    def one(i):
        entry = shadow(i) if callable(shadow) else shadow
        script = {"primary": {"raw": primary_raw, **(primary_extra or {})}}
        if entry is not None:
            script["shadow"] = entry
        return env.post(f"{path}-{i}", script, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        responses = list(pool.map(one, range(n)))
    expected = primary_raw.encode() * int((primary_extra or {}).get("repeat", 1))
    wrong = [(i, r.status, len(r.body), r.body[:80]) for i, r in enumerate(responses)
             if r.status != 200 or r.body != expected]
    assert not wrong, f"{len(wrong)} of {n} clients did not get production's answer: {wrong[:5]}"
    return responses


def expect_counts(env: Env, before: dict[str, int], expected: dict[str, int], timeout: float = 15.0):
    """Every counter in `expected` moved by exactly its value, and no other shadow-compare counter moved
    (bookkeeping aside), once the compare service has settled."""
    def moved():
        after = env.envoy.counters()
        ignored = BOOKKEEPING if env.collector else BOOKKEEPING | {SAMPLES_FAILED}
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        return {k: v for k, v in delta.items() if k not in ignored or k in expected}

    try:
        for name, n in expected.items():
            env.envoy.wait_for_stat(name, before.get(name, 0) + n, timeout)
    except AssertionError as e:
        raise AssertionError(f"{e}; counters moved: {json.dumps(moved(), indent=1, sort_keys=True)}") from None
    env.settle()
    got = moved()
    assert got == expected, f"counters moved: {json.dumps(got, indent=1, sort_keys=True)}"


def expect_pending_zero(env: Env, since: float, within_s: float):
    """Called after `expect_counts` (which waits for the compare service to settle): `pending` is 0, and
    it got there within `within_s` of `since` (monotonic)."""
    elapsed = time.monotonic() - since
    assert env.envoy.value(PENDING) == 0
    assert elapsed <= within_s, f"pending took {elapsed:.1f}s to return to 0 (allowed {within_s:.1f}s)"


def shadow_cluster(env: Env) -> dict[str, int]:
    """Envoy's own counters for the shadow cluster: evidence that a fault happened the way a test says."""
    return env.envoy.stats(f"cluster.{SHADOW}.upstream_", "Counters")


def flushed_histogram(env: Env, rule: str, metric: str) -> list:
    """A per-pair histogram once it holds every scored pair (histograms reach the admin endpoint only at a
    stats flush: a previous test's samples may still be on their way)."""
    def check():
        buckets = env.envoy.histogram(stat(rule, SHADOW, metric))
        return buckets if sum(c for *_, c in buckets) == env.envoy.value(stat(rule, SHADOW, "pairs")) else None
    return poll(f"{rule} {metric} to hold every pair", check, timeout=10)


def cluster_delta(env: Env, before: dict[str, int], metric: str) -> int:
    name = f"cluster.{SHADOW}.{metric}"
    return env.envoy.value(name) - before.get(name, 0)


def pair_window_s(env: Env) -> float:
    """The longest a request may stay pending, plus slack for a shared, loaded CI machine."""
    return env.compare.get("pair_timeout_ms", 10_000) / 1000 + 5.0


def core_cosine(primary: bytes, shadow: bytes) -> float:
    """The similarity the scoring core gives two bodies (rule embed), from the native CLI: same core."""
    if not CLI.is_file():
        pytest.fail(f"{CLI.relative_to(REPO)} is missing: build it with `make cli`", pytrace=False)
    line = json.dumps({"primary_body": primary.decode(), "shadow_body": shadow.decode()}) + "\n"
    r = subprocess.run([str(CLI), "score", "--kind", "cosine", "--pointer", "/embedding"],
                       input=line.encode(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)["similarity"]


def samples_for(env: Env, path_prefix: str, count: int, timeout: float = 10.0) -> list[dict]:
    """The rows `collect` stored for paths starting with `path_prefix`, once there are `count` of them."""
    def rows():
        con = sqlite3.connect(f"file:{env.collector.db}?mode=ro", uri=True, timeout=5)
        try:
            con.row_factory = sqlite3.Row
            found = [dict(r) for r in con.execute(
                "SELECT * FROM samples WHERE substr(path, 1, ?) = ? ORDER BY id", (len(path_prefix), path_prefix))]
        except sqlite3.OperationalError:  # the table is created by the first sample
            return None
        finally:
            con.close()
        return found if len(found) >= count else None

    got = poll(f"{count} stored samples under {path_prefix}", rows, timeout)
    assert len(got) == count, f"{len(got)} samples stored under {path_prefix}, expected {count}"
    return got


def seen_ids(server, path_prefix: str) -> dict[str, str]:
    """path -> x-request-id of what a model server received under `path_prefix` (and clears its list)."""
    return {s["path"]: s["headers"].get("x-request-id") for s in server.seen() if s["path"].startswith(path_prefix)}


def wilson_upper(hits: int, n: int, z: float = 1.959_963_984_540_054) -> float:
    """The upper bound of the 95% Wilson score interval (the formula the filter documents)."""
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return min(centre + half, 1.0)


def ppm(rate: float) -> int:
    """Parts per million as the filter rounds (half away from zero)."""
    return int(math.floor(rate * 1_000_000 + 0.5)) if rate > 0 else 0


def embedding(v) -> str:
    return json.dumps({"embedding": v})


LABEL_CAT = json.dumps({"label": "cat", "p": 0.93})
N = 20  # requests per fault case: a concurrent burst, small enough for the CI budget


# ---------------------------------------------------------------------------------------------- samples

# Run before the fault cases below: those spend the sample token bucket (10/s), these need a few tokens.

SECRET_HEADERS = {
    "authorization": "Bearer e2e-authz-7f3a9c",
    "cookie": "session=e2e-cookie-51d2",
    "x-api-key": "e2e-api-key-88c0",
}
USER = {"email": "alice@example.com", "ssn": "e2e-user-secret-4471"}


def test_divergent_samples_reach_the_sink_redacted(fault_env):
    env = fault_env
    env.servers["primary"].seen()
    before = env.envoy.counters()
    primary = json.dumps({"label": "cat", "user": USER})
    n = 3
    send(env, "/classify/sample", primary, {"body": {"label": "dog"}}, n, concurrency=1, headers=SECRET_HEADERS)
    expect_counts(env, before, {
        stat("classify", SHADOW, "pairs"): n,
        stat("classify", SHADOW, "divergent"): n,
        SAMPLES_SENT: n,
    })
    ids = seen_ids(env.servers["primary"], "/classify/sample-")
    rows = samples_for(env, "/classify/sample-", n)
    for row in rows:
        assert row["request_id"] == ids[row["path"]] and row["request_id"]
        assert (row["rule"], row["shadow"], row["kind"]) == ("classify", SHADOW, "exact")
        assert (row["similarity"], row["divergent"], row["error"]) == (0.0, 1, None)
        assert (row["primary_status"], row["shadow_status"], row["method"]) == (200, 200, "POST")
        assert json.loads(row["primary_body"]) == {"label": "cat", "user": "[REDACTED]"}
        assert json.loads(row["shadow_body"]) == {"label": "dog"}
        stored = json.dumps(row)
        for secret in [*SECRET_HEADERS.values(), *USER.values(), "e2e-"]:
            assert secret not in stored, f"{secret!r} is in the stored sample: {stored}"
    assert len({r["request_id"] for r in rows}) == n


# ---------------------------------------------------------------------------------------------- encodings


def _encoded_case(env, path, encoding, primary_vec, shadow_vec, chunked: int | None = None):
    primary, shadow = embedding(primary_vec), embedding(shadow_vec)
    similarity = core_cosine(primary.encode(), shadow.encode())
    assert similarity < EMBED_THRESHOLD, "divergent, so that every pair is sampled with its exact similarity"
    before = env.envoy.counters()
    entry = {"body": {"embedding": shadow_vec}, "encoding": encoding}
    if chunked:
        entry["chunked"] = chunked
    n = 3
    send(env, path, primary, entry, n, concurrency=3)
    expect_counts(env, before, {
        stat("embed", SHADOW, "pairs"): n,
        stat("embed", SHADOW, "divergent"): n,
        SAMPLES_SENT: n,
    })
    for row in samples_for(env, path + "-", n):
        # The sink gets the decoded shadow body; the similarity is the core's, to the last bit.
        assert row["similarity"] == similarity, (row["similarity"], similarity)
        assert json.loads(row["shadow_body"]) == {"embedding": shadow_vec}


@pytest.mark.parametrize("encoding,primary_vec,shadow_vec", [
    ("gzip", [3, 4], [4, 3]),           # 0.96
    ("deflate", [1, 2], [2, 1]),        # 0.7999999999999998
], ids=["gzip", "deflate"])
def test_compressed_shadow_is_decoded_and_scored_exactly(fault_env, encoding, primary_vec, shadow_vec):
    _encoded_case(fault_env, f"/embed/{encoding}", encoding, primary_vec, shadow_vec)


# Decimals for which the .wasm's number reader needs the carry of its second 64 x 64 bit product (on wasm32
# it computes that product only when the carry can matter, ~1 number in 250; the unit test
# `quotients_where_the_low_product_matters` checks that each takes it). Leaving the carry out gives the next
# double for each: a build without it fails this test.
CARRY_DECIMALS = ["0.7158521094824844", "0.3624015121539855", "0.47277076208510041", "0.51522289104915725",
                  "0.632220989603802630", "0.276737494287904090"]


def test_numbers_that_need_the_carry_score_like_the_native_core_to_the_last_bit(fault_env):
    """The native build reads numbers with 128-bit products, the .wasm with 32-bit ones. Against the one-hot
    shadow [1, 0] the similarity is c / |(c, 0.5)|, which moves with the last bit of c."""
    env = fault_env
    expected = {}
    before = env.envoy.counters()
    for j, c in enumerate(CARRY_DECIMALS):
        # The fast reader wants 32 bytes from the number on; short of that, the fallback reads it.
        primary = f'{{"embedding": [{c}, 0.5], "model": "{"m" * 32}"}}'
        shadow = embedding([1, 0])
        expected[f"/embed/carry{j}-0"] = core_cosine(primary.encode(), shadow.encode())
        send(env, f"/embed/carry{j}", primary, {"raw": shadow}, 1)
    n = len(CARRY_DECIMALS)
    expect_counts(env, before, {
        stat("embed", SHADOW, "pairs"): n,
        stat("embed", SHADOW, "divergent"): n,
        SAMPLES_SENT: n,
    })
    for row in samples_for(env, "/embed/carry", n):
        assert row["similarity"] == expected[row["path"]], (row["path"], row["similarity"], expected[row["path"]])


def test_gzip_in_small_chunks_is_decoded_and_scored_exactly(fault_env):
    _encoded_case(fault_env, "/embed/gzip-chunked", "gzip", [0.5, -1.25, 2.0], [0.5, 1.25, 2.0], chunked=5)


def test_chunked_bodies_pair_as_whole_bodies(fault_env):
    """Both sides chunked in 7-byte chunks: the capture reassembles them; identical answers, distance 0."""
    env = fault_env
    vec = [0.125, -3.5, 1e-3, 42.0, 7.0]
    hist = flushed_histogram(env, "embed", "distance_bp")
    before = env.envoy.counters()
    start = time.monotonic()
    send(env, "/embed/chunked", embedding(vec), {"body": {"embedding": vec}, "chunked": 7}, N,
         primary_extra={"chunked": 7})
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): N})
    expect_pending_zero(env, start, pair_window_s(env))
    after = env.envoy.wait_for_histogram_count(stat("embed", SHADOW, "distance_bp"), sum(c for *_, c in hist) + N)
    assert histogram_delta(hist, after) == {bin_of(0): N}


# ---------------------------------------------------------------------------------------------- faults


TEXT = json.dumps({"text": "café crème"})
FAULTS = {
    # case: (path, production's answer, the shadow's (or a function of the request's number),
    #        the one counter that must move, by one per request)
    "http_5xx": ("/classify/5xx", LABEL_CAT,
                 lambda i: {"status": [500, 502, 503, 504][i % 4], "raw": "upstream trouble"},
                 stat("classify", SHADOW, "shadow_errors")),
    "reset_mid_body": ("/classify/reset", LABEL_CAT,
                       {"raw": json.dumps({"label": "cat", "pad": "x" * 20_000}), "reset_after": 100},
                       stat("classify", SHADOW, "shadow_errors")),
    "garbage_body": ("/classify/garbage", LABEL_CAT,
                     {"raw": "<html><body>502 Bad Gateway</body></html>\r\n\x00\x01"},
                     reason_stat("classify", SHADOW, "invalid_json")),
    "non_utf8_body": ("/classify/binary", LABEL_CAT,
                      {"raw_b64": base64.b64encode(bytes(range(256)) * 4).decode()},
                      reason_stat("classify", SHADOW, "invalid_json")),
    "non_utf8_in_json_string": ("/generate/latin1", TEXT,
                                {"raw_b64": base64.b64encode('{"text": "caf\xe9 cr\xe8me"}'.encode("latin-1")).decode()},
                                reason_stat("generate", SHADOW, "invalid_json")),
    "br_encoding": ("/embed/br", embedding([1, 0]), {"body": {"embedding": [1, 0]}, "encoding": "br"},
                    reason_stat("embed", SHADOW, "unsupported_encoding")),
    # One token over the rule's default max_tokens (10,000).
    "text_over_max_tokens": ("/generate/long", TEXT, {"body": {"text": "word " * 10_001}},
                             reason_stat("generate", SHADOW, "too_many_tokens")),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_shadow_fault_never_reaches_the_client(fault_env, case):
    env = fault_env
    path, primary, shadow, counter = FAULTS[case]
    before = env.envoy.counters()
    start = time.monotonic()
    send(env, path, primary, shadow, N)
    expect_counts(env, before, {counter: N})
    expect_pending_zero(env, start, pair_window_s(env))


def test_shadow_slower_than_the_route_timeout(timeout_env):
    """The mirror shares the route timeout: Envoy gives up on the shadow and the capture reports no response."""
    env = timeout_env
    before, cluster = env.envoy.counters(), shadow_cluster(env)
    start = time.monotonic()
    slow = {"body": {"label": "cat"}, "delay_ms": int(ROUTE_TIMEOUT_S * 1000) + 500}
    send(env, "/classify/slow", LABEL_CAT, slow, N)
    expect_counts(env, before, {stat("classify", SHADOW, "shadow_missing"): N})
    expect_pending_zero(env, start, pair_window_s(env))
    assert cluster_delta(env, cluster, "upstream_rq_timeout") == N


def test_10mb_shadow_body_is_body_too_large(fault_env):
    env = fault_env
    before = env.envoy.counters()
    n = 3
    # One at a time: on a saturated CI machine three concurrent 10 MB answers from the Python test server
    # have outlived the 2 s route timeout (then, correctly, counted as shadow_errors: reset mid-body).
    send(env, "/embed/huge-shadow", embedding([1, 0]), {"raw": "0123456789abcdef", "repeat": 10 << 16}, n,
         concurrency=1)
    expect_counts(env, before, {reason_stat("embed", SHADOW, "body_too_large"): n})


def test_10mb_production_body_reaches_the_client_whole(fault_env):
    """The capture copies at most max_body_bytes and never pauses: a 10 MB answer passes untouched."""
    env = fault_env
    before = env.envoy.counters()
    ten_mb = {"repeat": 10 << 16}  # 16 bytes, 655,360 times
    n = 2
    send(env, "/embed/huge-both", "0123456789abcdef", {"raw": "0123456789abcdef", **ten_mb}, n, concurrency=1,
         primary_extra=ten_mb)
    expect_counts(env, before, {reason_stat("embed", SHADOW, "body_too_large"): n})


def test_shadow_twice_as_slow_under_a_burst(fault_env):
    env = fault_env
    vec = [0.6, 0.8]
    before = env.envoy.counters()
    start = time.monotonic()
    n = 40
    send(env, "/embed/twice-slower", embedding(vec), {"body": {"embedding": vec}, "delay_ms": 200}, n,
         concurrency=20, primary_extra={"delay_ms": 100})
    expect_counts(env, before, {stat("embed", SHADOW, "pairs"): n})
    expect_pending_zero(env, start, pair_window_s(env))


def test_connect_timeout_counts_shadow_missing(blackhole_env):
    """Shipped timeouts: the shadow cluster's 1 s connect timeout ends each mirror, well before the route's."""
    env = blackhole_env
    before, cluster = env.envoy.counters(), shadow_cluster(env)
    start = time.monotonic()
    send(env, "/classify/blackhole", LABEL_CAT, None, N)
    expect_counts(env, before, {stat("classify", SHADOW, "shadow_missing"): N})
    expect_pending_zero(env, start, pair_window_s(env))
    assert cluster_delta(env, cluster, "upstream_cx_connect_timeout") >= 1
    assert cluster_delta(env, cluster, "upstream_rq_timeout") == 0


def test_shadow_down_counts_shadow_missing_under_a_burst(shadow_down_env):
    env = shadow_down_env
    before, cluster = env.envoy.counters(), shadow_cluster(env)
    start = time.monotonic()
    send(env, "/classify/down-burst", LABEL_CAT, None, N)
    expect_counts(env, before, {stat("classify", SHADOW, "shadow_missing"): N})
    expect_pending_zero(env, start, pair_window_s(env))
    assert cluster_delta(env, cluster, "upstream_cx_connect_fail") >= 1
    assert cluster_delta(env, cluster, "upstream_cx_connect_timeout") == 0


def test_pair_timeout_expires_a_shadow_slower_than_it(late_env):
    """The shadow answers after 3 s, inside the 5 s route timeout but after the 1.5 s pair timeout: the
    pairing table counts it missing on its own, and its answer, when it comes, is `late`."""
    env = late_env
    before = env.envoy.counters()
    start = time.monotonic()
    send(env, "/classify/late", LABEL_CAT, {"body": {"label": "cat"}, "delay_ms": 2 * LATE_PAIR_TIMEOUT_MS}, N)
    missing = stat("classify", SHADOW, "shadow_missing")
    env.envoy.wait_for_stat(missing, before.get(missing, 0) + N, timeout=pair_window_s(env))
    # Expiry, not the shadow's answers, emptied the table: they are still on their way.
    env.envoy.wait_for_stat(PENDING, 0, timeout=1)
    expect_pending_zero(env, start, pair_window_s(env))
    expect_counts(env, before, {missing: N, global_stat("late"): N})


# ---------------------------------------------------------------------------------------------- methods


def test_blocked_methods_reach_production_but_never_the_shadow(fault_env):
    env = fault_env
    env.servers["shadow"].seen()
    before = env.envoy.counters()
    for method in ("PUT", "DELETE"):
        script = json.dumps({"primary": {"raw": f"done: {method}"}, "shadow": {"raw": "side effect!"}}).encode()
        r = env.request(method, f"/classify/method-{method}", script, {"content-type": "application/json"})
        assert (r.status, r.body) == (200, f"done: {method}".encode())
    # A blocked mirror never reaches the shadow, so compare sees only the primary: `unmirrored`.
    expect_counts(env, before, {BLOCKED: 2, stat("classify", SHADOW, "unmirrored"): 2, RECORDS: 2})
    assert [s for s in env.servers["shadow"].seen() if s["path"].startswith("/classify/method-")] == []


# ---------------------------------------------------------------------------------------------- verdicts


def test_verdict_gauges_follow_identical_pairs(fault_env):
    """Rule predict is used by no other test here: its counts start at 0."""
    env = fault_env
    gauge = lambda metric: stat("predict", SHADOW, metric)  # noqa: E731
    assert PROMOTION["min_pairs"] == 20
    total = 0
    for batch, ready in ((10, 0), (10, 1)):
        before = env.envoy.counters()
        answer = json.dumps({"y": [1, 2, 3], "model": "same"})
        send(env, f"/predict/verdict-{total}", answer, {"raw": answer}, batch)
        expect_counts(env, before, {stat("predict", SHADOW, "pairs"): batch})
        total += batch
        upper = ppm(wilson_upper(0, total))
        env.envoy.wait_for_stat(gauge("divergence_ppm"), 0)
        env.envoy.wait_for_stat(gauge("divergence_upper_ppm"), upper)
        env.envoy.wait_for_stat(gauge("promotion_ready"), ready)
        # 0 of 10: 277,533 ppm, over the 20% gate as well as under min_pairs; 0 of 20: 161,125 ppm, under it.
        assert (upper <= PROMOTION["max_divergence"] * 1e6) == (total >= 20)


# ---------------------------------------------------------------------------------------------- failure isolation


def test_capture_panic_on_the_shadow_never_reaches_users_and_reloads(capture_fault_env):
    """The shadow capture dies (FAIL_RELOAD): users keep getting production's answer; Envoy replaces the VM
    and pairs are counted again. Every request is accounted for, as a pair or as unmirrored."""
    env = capture_fault_env
    reloads = "wasm.capture_shadow.vm_reload_success"
    pairs, unmirrored = stat("classify", SHADOW, "pairs"), stat("classify", SHADOW, "unmirrored")
    before, wasm_before = env.envoy.counters(), env.envoy.stats("wasm.capture_")
    ok = {"body": {"label": "cat"}}
    sent = 6
    # One request at a time, so that both workers' VMs are likely to die (each connection picks a worker).
    send(env, "/classify/capture-panic", LABEL_CAT, ok, sent, concurrency=1,
         headers={"x-shadow-compare-fault": "capture-panic"})
    # Envoy replaces a dead VM on traffic, after a backoff: keep a trickle going until it has.
    deadline = time.monotonic() + 20
    while env.envoy.value(reloads) == wasm_before.get(reloads, 0):
        assert time.monotonic() < deadline, "the shadow capture's VM was not reloaded within 20 s"
        send(env, f"/classify/reload-wait-{sent}", LABEL_CAT, ok, 1)
        sent += 1
        time.sleep(0.1)
    # Until every dead VM is replaced, some mirrors are refused before any capture runs: send small
    # batches until one pairs entirely.
    batch, deadline = 8, time.monotonic() + 30
    while True:
        b = env.envoy.counters()
        send(env, f"/classify/after-reload-{sent}", LABEL_CAT, ok, batch, concurrency=2)
        sent += batch
        env.settle()
        if env.envoy.value(pairs) - b.get(pairs, 0) == batch:
            break
        assert time.monotonic() < deadline, "pairs never fully resumed after the reload"
    after = env.envoy.counters()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta[pairs] + delta[unmirrored] == sent, delta
    assert delta[RECORDS] == 3 * delta[pairs] + delta[unmirrored], delta
    assert delta[unmirrored] >= 1, "the panicking requests' mirrors never reached the shadow"
    moved = {k for k, v in delta.items() if v and k not in BOOKKEEPING | {SAMPLES_FAILED}}
    assert moved == {pairs, unmirrored}, moved
    wasm = env.envoy.stats("wasm.capture_")
    assert wasm["wasm.capture_primary.vm_reload"] == 0, "the production capture's VM never died"
    assert wasm[reloads] >= 1 and wasm["wasm.capture_shadow.vm_reload_failure"] == 0, wasm


def test_a_half_full_backlog_is_shed_at_the_capture(stall_env):
    """The compare service falls behind (scoring paused on cue) and its backlog fills to half its bound.
    Its heartbeat says so, and the captures stop copying bodies: each pair is counted `dropped` at once,
    users never notice, and scoring resumes when the backlog drains."""
    env = stall_env
    before = env.envoy.counters()
    pairs = stat("classify", SHADOW, "pairs")
    cat = {"body": {"label": "cat"}}
    send(env, "/classify/__fault/compare-stall", LABEL_CAT, cat, 1)
    # Its own pair waits unscored once the stall is in force. Only then the rest: a capture on another worker
    # may flush before the stall request's records arrive, and its pairs would be scored.
    env.envoy.wait_for_stat(BACKLOG, 1)
    send(env, "/classify/fill", LABEL_CAT, cat, STALL_SHED_AT - 1)
    env.envoy.wait_for_stat(BACKLOG, STALL_SHED_AT)
    time.sleep(HEARTBEAT_S)
    send(env, "/classify/shed", LABEL_CAT, cat, N)
    # Both captures of every request in the burst copied no body; the pairs were not scored.
    env.envoy.wait_for_stat(SHED, 2 * N)
    env.envoy.wait_for_stat(stat("classify", SHADOW, "dropped"), N)
    assert env.envoy.value(pairs) == before.get(pairs, 0)
    # Resume (that request is shed too), the backlog drains, the next heartbeat says so: scoring again.
    send(env, "/classify/__fault/compare-resume", LABEL_CAT, cat, 1)
    env.envoy.wait_for_stat(BACKLOG, 0)
    time.sleep(HEARTBEAT_S)
    send(env, "/classify/after", LABEL_CAT, cat, 5, concurrency=1)
    expect_counts(env, before, {
        pairs: STALL_SHED_AT + 5,
        stat("classify", SHADOW, "dropped"): N + 1,
        SHED: 2 * (N + 1),
        RECORDS: 3 * (STALL_SHED_AT + N + 1 + 5),
    })


def test_compare_panic_leaves_users_untouched_and_captures_stop(compare_fault_env):
    """The compare service dies on the main thread. Users keep getting production's answer. Nothing
    replaces the singleton (`failure_policy` does not reload it) and Envoy's host queue has no bound, so
    the captures watch its heartbeat (src/health.rs): once the last one is older than
    `compare_heartbeat_timeout_ms`, they stop capturing and count `capture.compare_down` instead of
    enqueueing records no one will read."""
    env = compare_fault_env
    before = env.envoy.counters()
    send(env, "/classify/before-panic", LABEL_CAT, {"body": {"label": "cat"}}, 3, concurrency=1)
    expect_counts(env, before, {stat("classify", SHADOW, "pairs"): 3, RECORDS: 9})
    r = env.post("/classify/__fault/compare-panic", {"primary": {"raw": LABEL_CAT}})
    assert (r.status, r.body) == (200, LABEL_CAT.encode())
    assert "fault injection: compare-panic" in poll(
        "the compare service's panic in Envoy's log",
        lambda: env.envoy.output() if "fault injection: compare-panic" in env.envoy.output() else None, 10)
    dead = compare_owned(env.envoy.counters())
    # Past the heartbeat timeout (the shipped 2 s) plus a capture's polling interval.
    time.sleep(HEARTBEAT_TIMEOUT_S + 0.5)
    down_before = env.envoy.value(COMPARE_DOWN)
    send(env, "/classify/after-panic", LABEL_CAT, {"body": {"label": "cat"}}, N)
    # Both captures (production's and the shadow's) skip every one of them.
    env.envoy.wait_for_stat(COMPARE_DOWN, down_before + 2 * N)
    # Once dead, nothing the compare service owns moves again, however long we wait.
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        assert compare_owned(env.envoy.counters()) == dead
        time.sleep(0.25)
    assert http_request(env.envoy.admin_port, "GET", "/ready").status == 200
    wasm = env.envoy.stats("wasm.shadow_compare.")
    assert wasm["wasm.shadow_compare.vm_reload"] == 0, wasm
    assert env.envoy.value(ENQUEUE_FAILED) == 0
    send(env, "/classify/still-fine", LABEL_CAT, {"body": {"label": "cat"}}, N)
    assert env.envoy.value(COMPARE_DOWN) == down_before + 4 * N


def compare_owned(counters: dict[str, int]) -> dict[str, int]:
    """The counters the compare service updates (the captures' own are `shadow_compare.capture.*`)."""
    return {k: v for k, v in counters.items() if ".capture." not in k}


# ---------------------------------------------------------------------------------------------- rate limit

# Last in this module's fault_env: it empties the sample token bucket.


def test_sample_rate_limit_caps_a_burst(fault_env):
    env = fault_env
    before = env.envoy.counters()
    n = 50
    start = time.monotonic()
    send(env, "/classify/flood", json.dumps({"label": "cat", "user": USER}), {"body": {"label": "dog"}}, n,
         concurrency=25)
    env.envoy.wait_for_stat(stat("classify", SHADOW, "divergent"), before.get(stat("classify", SHADOW, "divergent"), 0) + n)
    elapsed = time.monotonic() - start
    env.settle()
    after = env.envoy.counters()
    d = {k: after.get(k, 0) - before.get(k, 0) for k in (SAMPLES_SENT, SAMPLES_RATE_LIMITED, SAMPLES_FAILED)}
    # Never lose count: each divergent pair is either sent or counted as rate limited.
    assert d[SAMPLES_SENT] + d[SAMPLES_RATE_LIMITED] == n, d
    assert d[SAMPLES_RATE_LIMITED] > 0, d
    assert d[SAMPLES_SENT] <= SAMPLES_PER_SECOND + math.ceil(SAMPLES_PER_SECOND * elapsed), (d, elapsed)
    assert d[SAMPLES_FAILED] == 0, d
    rows = samples_for(env, "/classify/flood-", d[SAMPLES_SENT])
    assert all(json.loads(r["primary_body"])["user"] == "[REDACTED]" for r in rows)
