"""Fixtures and hooks of the end-to-end suite: shared environments, quiet test boundaries, and Envoy's
log printed with every failure. The harness itself (processes, configs, admin helpers) is in harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import ENVOY_YAML, SAMPLED_YAML, TWO_SHADOWS_YAML, Env, require_wasm, tail


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


def _env_fixture(name: str, config: Path, roles: tuple[str, ...], down: tuple[str, ...] = ()):
    @pytest.fixture(scope="module")
    def fixture(workdir):
        require_wasm()
        d = workdir / name
        d.mkdir(exist_ok=True)
        env = Env.start(name, d, config, roles, down)
        try:
            yield env
        finally:
            env.stop()
    return fixture


# One shadow, as shipped.
env = _env_fixture("one-shadow", ENVOY_YAML, ("primary", "shadow"))
# Two shadows: shadow_model answers as "shadow", shadow_model_b as "shadow2".
two_shadow_env = _env_fixture("two-shadows", TWO_SHADOWS_YAML, ("primary", "shadow", "shadow2"))
# The shipped config with nothing listening on the shadow's port.
shadow_down_env = _env_fixture("shadow-down", ENVOY_YAML, ("primary",), down=("shadow",))
# Every request mirrored, a sample of them captured and scored.
sampled_env = _env_fixture("sampled", SAMPLED_YAML, ("primary", "shadow"))


ENV_FIXTURES = ("env", "two_shadow_env", "shadow_down_env", "sampled_env")


@pytest.fixture(autouse=True)
def _settled(request):
    """Envs a test uses are left quiet when it ends (they start quiet), so the next test's deltas are its own."""
    envs = [request.getfixturevalue(n) for n in ENV_FIXTURES if n in request.fixturenames]
    yield
    for e in envs:
        e.settle()


# ---------------------------------------------------------------------------------------------- reporting


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach what Envoy (and the model servers) logged during the test to the report."""
    outcome = yield
    rep = outcome.get_result()
    envs = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Env)]
    if rep.when == "setup" and rep.passed:
        item._log_offsets = {p: p.stat().st_size for e in envs for _, p in e.logs() if p.exists()}
    if rep.failed:
        offsets = getattr(item, "_log_offsets", {})
        for e in envs:
            for title, path in e.logs():
                during = tail(path, start=offsets.get(path, 0))
                if not during.strip():
                    during = f"(nothing logged during the test; the last lines before it:)\n{tail(path, 40)}"
                rep.sections.append((title, during))
