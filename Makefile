# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev
DEMO_DIR   ?= build/demo
DEMO_HOURS ?= 24
DEMO_SEED  ?= 7

.PHONY: install native console-assets console lock demo test test-full chaos fuzz test-fast bench lint format rules-test kafka-up kafka-down topics asyncapi clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs in seconds what pip takes minutes for; it lives in the venv, nothing global is needed.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --default-pip >/dev/null
	$(BIN)/python -m pip install --quiet --upgrade pip uv

# Exactly the versions of uv.lock (`make lock` after a change to the dependencies); the project itself editable.
# --inexact keeps what the lock does not name (uv itself lives in this environment).
$(VENV)/.installed-$(EXTRAS): pyproject.toml uv.lock | $(BIN)/uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --frozen --inexact --extra $(EXTRAS) --python $(BIN)/python
	touch $@

lock: | $(BIN)/uv
	$(BIN)/uv lock

install: $(VENV)/.installed-$(EXTRAS) console-assets native

# The core's hot modules compiled with mypyc (rules/native.py): the same source, ~1.7x the rate. Rebuilt when a source
# under rules/ changed; without mypy or a C compiler the core runs as Python source (same results, slower).
NATIVE_SRC := $(wildcard rules/*.py rules/core/*.py rules/core/kinds/*.py)
native: rules/_native.json
rules/_native.json: $(NATIVE_SRC) | $(VENV)/.installed-$(EXTRAS)
	$(BIN)/saqshy native build || echo "native core not built: the core runs as Python source (same results, slower)"

# The console's map library (Leaflet) from the npm registry into streams/console/static/vendor/ (no-op when there).
console-assets:
	streams/console/build_assets.sh

demo: install
	@mkdir -p $(DEMO_DIR)
	$(BIN)/saqshy rules lint rules/catalog
	$(BIN)/saqshy simulate --city streams/sim/cities/alatau --hours $(DEMO_HOURS) --seed $(DEMO_SEED) \
		--out $(DEMO_DIR)/events.jsonl.gz --truth $(DEMO_DIR)/truth.jsonl
	$(BIN)/saqshy replay --rules rules/catalog --input $(DEMO_DIR)/events.jsonl.gz \
		--out $(DEMO_DIR)/incidents.jsonl --dlq $(DEMO_DIR)/dead-letters.jsonl \
		--roster streams/sim/cities/alatau/units.csv \
		--warning-devices streams/sim/cities/alatau/warning_devices.geojson \
		--alerts-out $(DEMO_DIR)/alerts.jsonl --cap-dir $(DEMO_DIR)/cap \
		--archive chdb://$(DEMO_DIR)/archive \
		--dispatch-sim $(DEMO_SEED) --dispatch-truth $(DEMO_DIR)/dispatch-truth.jsonl
	$(BIN)/saqshy evaluate --truth $(DEMO_DIR)/truth.jsonl --truth $(DEMO_DIR)/dispatch-truth.jsonl \
		--incidents $(DEMO_DIR)/incidents.jsonl
	$(BIN)/saqshy map --archive chdb://$(DEMO_DIR)/archive --city streams/sim/cities/alatau --out $(DEMO_DIR)/crime-map.html --png $(DEMO_DIR)/crime-map.png

# The operator console on the demo's events, replayed at 60x (docs/console.md): http://127.0.0.1:8765/ with the
# DEMO-ONLY users of infra/console/users.demo.yaml; the audit log goes to chdb://build/demo/audit.
CONSOLE_SPEED ?= 60
console: install
	@test -f $(DEMO_DIR)/events.jsonl.gz || $(MAKE) demo
	$(BIN)/saqshy console --replay $(DEMO_DIR)/events.jsonl.gz --speed $(CONSOLE_SPEED) \
		--users infra/console/users.demo.yaml --roster streams/sim/cities/alatau/units.csv \
		--warning-devices streams/sim/cities/alatau/warning_devices.geojson --audit chdb://$(DEMO_DIR)/audit \
		--roads streams/sim/cities/alatau/roads.geojson

# The integration tiers start what they need: a Kafka broker (infra/kafka/kafka.sh, via the kafka_bootstrap
# fixture, stopped after), chDB in-process, the Flink mini-cluster (its Kafka connector jar fetched once by
# infra/flink/flink.sh), Chromium when installed. The tiers below are CPU-bound and keep no shared state, so they
# run on every core (pytest-xdist; their few Kafka tests get a broker per process); the others, whose fault and
# timing tests want the machine to themselves, run after them one at a time (a new folder lands there).
PARALLEL_TIERS = tests/unit tests/property tests/golden tests/context tests/forecast tests/detectors tests/deploy \
	tests/packaging tests/integration
# (both run, whatever the first gives: one failure report for the whole suite)
PYTEST_TIERS = $(BIN)/python -m pytest -q -n auto --maxprocesses 4 --durations=10 $(PARALLEL_TIERS); first=$$?; \
	$(BIN)/python -m pytest -q --durations=25 $(addprefix --ignore=,$(PARALLEL_TIERS)) && [ $$first -eq 0 ]

test: install
	infra/kafka/kafka.sh fetch
	infra/flink/flink.sh fetch
	$(BIN)/saqshy rules test rules/catalog
	export SAQSHY_FUZZ_SCALE=0.1 SAQSHY_TEST_SCALE=0.4 && $(PYTEST_TIERS)

# Every repetition of the long checks (all seeds, all fault rounds) and every fuzz case: about twice `make test`.
test-full: install
	infra/kafka/kafka.sh fetch
	infra/flink/flink.sh fetch
	$(PYTEST_TIERS)

# The chaos suite in full (tests/chaos: broker restarts under a working worker, every cycle); `make test` runs
# a share of its cycles. Figures per scenario go to build/chaos.jsonl.
chaos: install
	infra/kafka/kafka.sh fetch
	SAQSHY_TEST_SCALE=1 $(BIN)/python -m pytest -q -s tests/chaos

# Every fuzz case (over 100,000; some 10 minutes): `make test` runs a tenth of them.
fuzz: install
	$(BIN)/python -m pytest -q -m slow tests/property/test_expr_fuzz.py

# Unit and embedded tiers only: no broker, no Flink mini-cluster, no slow tests.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not kafka and not flink"

rules-test: install
	$(BIN)/saqshy rules test rules/catalog -v

bench: install
	BENCH=$(BENCH) $(BIN)/python -m tests.bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas rules streams jobs detectors saqshy infra

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A broker for development on 127.0.0.1:9092 (jars from Maven Central, cached in ~/.m2), and its topics.
kafka-up:
	infra/kafka/kafka.sh up

kafka-down:
	infra/kafka/kafka.sh down

topics: install
	$(BIN)/saqshy topics apply

# The dispatch contract, regenerated from the schemas (a test fails when the committed one is stale).
asyncapi: install
	$(BIN)/python -m schemas.asyncapi docs/asyncapi

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
