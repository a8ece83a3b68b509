# deskkit: two commands on a fresh machine (Python >= 3.11, git, make).
#   make serve   install what the desktop needs and serve it on the demo account (port 8866)
#   make test    install what the tests need (incl. Debian's chromium and postgresql), run the suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8866

.PHONY: serve test lint install install-test chromium postgres bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "deskkit needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

# uv resolves and installs the same PyPI packages as pip, about five times faster.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

serve: install
	$(BIN)/deskkit serve --port $(PORT)

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

# The PostgreSQL test starts its own throwaway server from Debian's binaries.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql; \
	fi

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two stages: every test but the browser tests on up to 4 cores (pytest-xdist), then the
# browser tests alone, so that their Voila kernels and Chromium keep the machine to themselves
# (their waits are what a visitor waits; other tests' work beside them only makes them slower).
test: install-test chromium postgres lint
	$(BIN)/python -m pytest -m "not browser" -n auto --maxprocesses=4 --dist loadgroup
	$(BIN)/python -m pytest -m browser

bench: install
	$(BIN)/python bench/bench_pipeline_flow.py

clean:
	rm -rf $(VENV) data/*.duckdb test-artifacts .pytest_cache .hypothesis
