# Two commands on a fresh machine with only Python 3.11+:
#   make demo   installs what it needs, then trains the default agent (results/demo/)
#   make test   installs what it needs (test extras too), then runs the test suite
# uv is bootstrapped into .tools/ if it is not on PATH; uv.lock pins every version.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?= -n 2
# Install compiled bytecode: where PYTHONDONTWRITEBYTECODE is set (this CI machine),
# every process otherwise compiles jax, flax, gymnax, ... from source again: ~6 s of
# each `rljax` command's start on the 2-core CPU.
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test install install-test bench docs clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --locked --inexact

install-test: $(UV)
	$(UV) sync --locked --extra test

demo: install
	$(UV) run --locked rljax train dqn --env CartPole-v1 --seeds 16 --out results/demo --overwrite

test: install-test
	$(UV) run --locked --extra test ruff check .
	$(UV) run --locked --extra test ruff format --check .
	$(UV) run --locked --extra test pytest $(PYTEST_ARGS)

bench: install-test
	$(UV) run --locked --extra test python benchmarks/env_throughput.py

# The API reference (mkdocstrings) and the guide pages (docs/guide/) into site/;
# --strict: any warning (a docstring griffe cannot parse, a broken link) fails it.
docs: $(UV)
	$(UV) run --locked --extra docs mkdocs build --strict -d site

clean:
	rm -rf .venv .tools results
