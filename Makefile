# The few verbs a newcomer needs. Each one creates/refreshes .venv first (idempotent: a stamp file
# is rebuilt only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo browser test test-slow lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build that lies on disk (a newer torch would pull a CUDA build).
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	# every extra, so the tests exercise every optional layer (none is skipped for a missing package)
	$(BIN)/python -m pip install --quiet -e ".[dev,onnx,serve,tf,ray,remote,explain]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m distilkit.demo

# the browser tests drive Debian's chromium (browser downloads by Playwright do not work offline)
browser:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: $(STAMP) browser
	# --dist loadgroup: tests marked xdist_group(name) run on one worker (the server tests share their servers)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow" tests

# full builds of the default models, about half an hour on 2 cores; one process, since each build uses every core
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow tests

lint: $(STAMP)
	$(BIN)/ruff check distilkit tests benchmarks

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
