# pshub: every task a developer or CI needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall whenever the lock file or the project metadata changes.
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help install run serve test test-fast lint bench bench-burst synth schemas clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.lock pyproject.toml
	@echo "== installing Python dependencies into $(VENV) (locked versions)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

node_modules/.package-lock.json: package.json package-lock.json
	@echo "== installing the CDK CLI (pinned in package.json)"
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP)  ## install everything into .venv (idempotent)

run: install  ## start pshub on the embedded local runtime and play the sample webhooks
	$(BIN)/pshub demo

serve: install  ## keep the local runtime up on 127.0.0.1:8080 for curl
	$(BIN)/pshub serve --port 8080

test: install node_modules/.package-lock.json  ## lint, type-check and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@for handler in functions/*/handler.py; do $(BIN)/mypy $$handler || exit 1; done
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: install  ## unit tests only
	$(BIN)/pytest -q tests/unit

lint: install  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@for handler in functions/*/handler.py; do $(BIN)/mypy $$handler || exit 1; done

bench: install  ## benchmarks: ingress vs the floor, sync ordering and DynamoDB calls, identity, workflow transitions, cost per million, connectors
	$(BIN)/python tests/benchmarks/bench_ingress.py
	$(BIN)/python tests/benchmarks/bench_sync.py
	$(BIN)/python tests/benchmarks/bench_identity.py
	$(BIN)/python tests/benchmarks/bench_provisioning.py
	$(BIN)/python tests/benchmarks/bench_billing.py
	$(BIN)/python tests/benchmarks/bench_cost.py
	$(BIN)/python tests/benchmarks/bench_connectors.py

bench-burst: install  ## month-end burst: N approved entries to the ERP fake at its limits (N=20000; ARGS="--n 2000")
	$(BIN)/python tests/benchmarks/bench_burst.py $(ARGS)

synth: install node_modules/.package-lock.json  ## cdk synth through cdk.json (no Docker, no AWS account)
	npx cdk synth --quiet

schemas: install  ## regenerate the canonical JSON Schemas
	$(BIN)/python -m pshub.canonical.schemas write

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
