# shadow-compare: `make test` is what CI runs; `make demo` shows it working; `make bench` measures.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ENVOY := $(VENV)/bin/envoy
WASM := target/wasm32-wasip1/release/shadow_compare.wasm
CLI := target/release/shadow-compare

.PHONY: fuzz fuzz-smoke fuzz-tool all wasm wasm-fault cli venv bench-venv test test-native test-wasm-build lint validate test-e2e bench soak demo demo-up clean

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
	cargo clippy --release --target wasm32-wasip1 --manifest-path bench/floor_filter/Cargo.toml \
	  --target-dir target/floor-filter -- -D warnings

test-native:
	cargo test

# Every shipped config must load (envoy --mode validate + the filter's own check); every bad one must not.
validate: wasm cli venv
	$(PY) tests/validate_configs.py

test-e2e: wasm wasm-fault cli venv
	$(PY) -m pytest -q tests/e2e

test: lint test-native validate test-e2e

bench: wasm wasm-fault cli bench-venv
	$(PY) bench/run.py

# Not part of `make test`: 100,000 requests at a steady rate with 30% shadow failures (needs `wrk`).
soak: wasm cli venv
	$(PY) tests/soak/soak.py

demo: wasm cli venv
	$(PY) demo/demo.py

demo-up: wasm cli venv
	$(PY) demo/demo.py --up

# Fuzzing needs cargo-fuzz (libFuzzer). The toolchain here is stable, so nightly-only flags are unlocked
# with RUSTC_BOOTSTRAP=1 for these builds only.
FUZZ_TARGETS := config pointer cosine rouge exact record
FUZZ := RUSTC_BOOTSTRAP=1 cargo fuzz

fuzz-tool:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# A short run of every target (CI).
fuzz-smoke: fuzz-tool
	$(FUZZ) build -O
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t (20 s)"; \
	  $(FUZZ) run -O $$t -- -max_total_time=20 -rss_limit_mb=2048 2>&1 | grep -E "^Done|ERROR|panicked" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# The real thing: FUZZ_SECONDS per target (default 600).
FUZZ_SECONDS ?= 600
fuzz: fuzz-tool
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ) run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 || exit 1; \
	done

clean:
	cargo clean
