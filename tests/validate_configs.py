"""Every shipped config must load, and every deliberately bad one must not.

For each Envoy bootstrap (envoy/*.yaml, examples/**/envoy.yaml): `envoy --mode validate`, which runs the
capture filters' on_configure. It does NOT run the singleton compare service's on_configure, so every
shadow-compare plugin configuration found in any shipped YAML (Envoy, Istio, Envoy Gateway) is also checked
with `shadow-compare check-config`, the filter's own validation. tests/configs/bad-*.yaml must fail.
Run from the repository root: .venv/bin/python tests/validate_configs.py
"""

import glob
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENVOY = os.path.join(ROOT, ".venv", "bin", "envoy")
CLI = os.path.join(ROOT, "target", "release", "shadow-compare")


def plugin_configs(node):
    """Yields (root_id, configuration JSON) for every wasm plugin config in a YAML tree."""
    if isinstance(node, dict):
        root_id = node.get("root_id") or node.get("rootId")
        conf = node.get("configuration")
        if root_id in ("capture", "compare") and isinstance(conf, dict) and "value" in conf:
            yield root_id, conf["value"]
        # Istio's WasmPlugin and Envoy Gateway's EnvoyExtensionPolicy carry it as an object.
        plugin_config = node.get("pluginConfig")
        if root_id in ("capture", "compare") and isinstance(plugin_config, dict):
            yield root_id, json.dumps(plugin_config)
        for v in node.values():
            yield from plugin_configs(v)
    elif isinstance(node, list):
        for v in node:
            yield from plugin_configs(v)


def check_plugins(path):
    """Returns a list of error strings for the plugin configs in one YAML file."""
    errors = []
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for doc in docs:
        for root_id, value in plugin_configs(doc):
            r = subprocess.run([CLI, "check-config", "--root-id", root_id], input=value.encode(),
                               capture_output=True)
            if r.returncode != 0:
                errors.append(f"{root_id}: {r.stderr.decode().strip()}")
    return errors


def envoy_validate(path):
    r = subprocess.run([ENVOY, "--mode", "validate", "-c", path, "--log-level", "error"], cwd=ROOT,
                       capture_output=True)
    return r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")


def main():
    os.chdir(ROOT)
    failed = False
    bootstraps = sorted(glob.glob("envoy/*.yaml") + glob.glob("examples/**/envoy.yaml", recursive=True))
    others = sorted(set(glob.glob("examples/**/*.yaml", recursive=True)) - set(bootstraps))
    for path in bootstraps:
        ok, log = envoy_validate(path)
        errors = check_plugins(path)
        if ok and not errors:
            print(f"valid:    {path}")
        else:
            failed = True
            print(f"INVALID:  {path}\n{log}" + "".join(f"  {e}\n" for e in errors))
    for path in others:
        errors = check_plugins(path)
        if errors:
            failed = True
            print(f"INVALID:  {path}\n" + "".join(f"  {e}\n" for e in errors))
        else:
            print(f"valid:    {path} (plugin configs)")
    for path in sorted(glob.glob("tests/configs/bad-*.yaml")):
        ok, _ = envoy_validate(path)
        errors = check_plugins(path)
        if ok and not errors:
            failed = True
            print(f"ACCEPTED: {path} (must be rejected)")
        else:
            print(f"rejected: {path}: {'; '.join(errors) or 'envoy --mode validate failed'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
