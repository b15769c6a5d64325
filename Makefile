# Ordinet: the two README commands (`make testnet`, `make test`) and friends.
# Every target bootstraps itself: a virtual environment in .venv, the package
# installed in it with the Rust extension built in release mode. Re-running is
# fast when nothing changed: the stamps below only rebuild what is stale.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))

RUST_SOURCES := $(shell find rust_core/src -name '*.rs' 2>/dev/null) rust_core/Cargo.toml Cargo.toml
BUILD_STAMP := $(VENV)/.build-stamp

.PHONY: all build test test-rust test-python testnet lint bench soak model fee-model clean

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# maturin installs the package in editable mode with its runtime and [dev]
# dependencies (read from pyproject.toml) and builds node._core in release mode.
$(BUILD_STAMP): $(RUST_SOURCES) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "maturin>=1.5,<2"
	$(BIN)/maturin develop --release --extras dev
	$(PY) -c "import node._core"
	touch $@

build: $(BUILD_STAMP)

test-rust:
	cargo test --quiet -p rust_core

test-python: build
	$(PY) -m pytest -q

test: build test-rust test-python

# The main job: a 4-node BFT testnet with the learned policy and a minute of
# load, a live table and a summary (configs/testnet/make-testnet.toml; the
# nodes live in ./testnet). Needs no TTY; every node is stopped at the end.
testnet: build
	$(BIN)/ordinet testnet up --profile configs/testnet/make-testnet.toml --home testnet

lint: build
	$(BIN)/ruff check node tests benchmarks
	$(BIN)/ruff format --check node tests benchmarks
	$(BIN)/mypy
	cargo clippy --quiet -p rust_core --all-targets -- -D warnings
	cargo clippy --quiet -p rust_core --all-targets --features python -- -D warnings

bench: build
	$(PY) benchmarks/report.py

soak: build
	$(PY) -m pytest -q -m slow

# Retrain the shipped default scheduling model (deterministic: same bytes).
model: build
	$(PY) -m node.research.default_model

# Retrain the shipped default fee model (deterministic: same bytes).
fee-model: build
	$(PY) -m node.fees.default_model

clean:
	rm -rf $(VENV) target .pytest_cache .hypothesis .benchmarks
	find node -name '*.so' -delete
