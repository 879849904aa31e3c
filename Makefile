# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev
DEMO_DIR   ?= build/demo
DEMO_HOURS ?= 24
DEMO_SEED  ?= 7

.PHONY: install demo test test-fast bench lint format rules-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs in seconds what pip takes minutes for; it lives in the venv, nothing global is needed.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --default-pip >/dev/null
	$(BIN)/python -m pip install --quiet --upgrade pip uv

# Reinstall when the project's dependencies change.
$(VENV)/.installed-$(EXTRAS): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	@mkdir -p $(DEMO_DIR)
	$(BIN)/saqshy rules lint rules/catalog
	$(BIN)/saqshy simulate --city streams/sim/cities/alatau --hours $(DEMO_HOURS) --seed $(DEMO_SEED) \
		--out $(DEMO_DIR)/events.jsonl.gz --truth $(DEMO_DIR)/truth.jsonl
	$(BIN)/saqshy replay --rules rules/catalog --input $(DEMO_DIR)/events.jsonl.gz \
		--out $(DEMO_DIR)/incidents.jsonl --dlq $(DEMO_DIR)/dead-letters.jsonl
	$(BIN)/saqshy evaluate --truth $(DEMO_DIR)/truth.jsonl --incidents $(DEMO_DIR)/incidents.jsonl

test: install
	$(BIN)/saqshy rules test rules/catalog
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

rules-test: install
	$(BIN)/saqshy rules test rules/catalog -v

bench: install
	BENCH=$(BENCH) $(BIN)/python -m tests.bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas rules streams saqshy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
