# shadow-compare: `make test` is what CI runs; `make demo` shows it working; `make bench` measures.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ENVOY := $(VENV)/bin/envoy
WASM := target/wasm32-wasip1/release/shadow_compare.wasm
CLI := target/release/shadow-compare

.PHONY: all wasm wasm-fault cli venv bench-venv test test-native test-wasm-build lint validate test-e2e bench demo demo-up clean

all: wasm cli

wasm:
	cargo build --release --target wasm32-wasip1 --lib

# The same filter with test-only fault switches, for the failure-isolation tests (never deploy it).
wasm-fault:
	cargo build --release --target wasm32-wasip1 --lib --features fault-injection --target-dir target/fault

cli:
	cargo build --release --bin shadow-compare

# The pinned Envoy and pytest, installed once into .venv (re-installed when the requirements change).
$(VENV)/.test-deps: tests/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

venv: $(VENV)/.test-deps

$(VENV)/.bench-deps: bench/requirements.txt $(VENV)/.test-deps
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench-venv: $(VENV)/.bench-deps

lint:
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target wasm32-wasip1 --lib -- -D warnings

test-native:
	cargo test

# Every shipped config must load (envoy --mode validate + the filter's own check); every bad one must not.
validate: wasm cli venv
	$(PY) tests/validate_configs.py

test-e2e: wasm wasm-fault cli venv
	$(PY) -m pytest -q tests/e2e

test: lint test-native validate test-e2e

bench: wasm cli bench-venv
	$(PY) bench/run.py

demo: wasm cli venv
	$(PY) demo/demo.py

demo-up: wasm cli venv
	$(PY) demo/demo.py --up

clean:
	cargo clean
