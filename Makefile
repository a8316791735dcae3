# carveout: `make demo` runs the whole migration on a local AWS emulator; `make test`
# runs every test. Both install what they need first (make setup).

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/carveout/target
export EMULATOR_PORT ?= 5000
export PYTHONPATH := $(CURDIR)/emulator
CARGO_JOBS ?= 2

.PHONY: setup build emulator emulator-stop seed local demo demo-program test lint package bench

# Tools first, then the workspace: `carveout local` runs the step binaries built next to it.
setup:
	@scripts/setup.sh
	cargo build --workspace -j$(CARGO_JOBS)

build: setup

emulator: setup
	@scripts/emulator.sh start

emulator-stop:
	@scripts/emulator.sh stop

# Seeds a running emulator with the seed write-up's topology; the plan goes to .emulator/plan.json.
seed: emulator
	@mkdir -p .emulator
	.venv/bin/python -m carveout_emulator.seed --endpoint http://127.0.0.1:$(EMULATOR_PORT) --out .emulator/plan.json

# The seeded plan through the real state machine, against the running emulator.
PLAN ?= .emulator/plan.json
local: build
	$(CARGO_TARGET_DIR)/debug/carveout local --plan $(PLAN) --endpoint http://127.0.0.1:$(EMULATOR_PORT)

demo: build
	@scripts/demo.sh

# Five services, each into its own account, two at a time (docs/program.md).
demo-program: build
	@scripts/demo-program.sh

lint: setup
	@scripts/lint.sh

test: build
	@scripts/test.sh

# Every Lambda function for arm64 with cargo-lambda (installed into .venv-package):
# dist/lambda/<function>.zip and a size table.
package: setup
	@scripts/package.sh

# Benchmarks: bench/results/results.md (see bench/README.md).
bench: setup
	@bench/run.sh
