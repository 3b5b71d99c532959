# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs the project with what the demo uses (bundled datasets, plots, the
# compiled optimizer step) into the virtual environment.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[datasets,plot,fast]'
	touch $@

# Adds the test tools (pytest, hypothesis, ruff, mypy).
$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/backprop demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The playground's browser tests drive Debian's Chromium (Playwright's own browsers
# are never downloaded): installed here when missing and we are root.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends chromium || \
	      { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }; \
	  else \
	    echo "note: no chromium: the browser tests will be skipped (as root: apt-get install chromium)"; \
	  fi; }

# pytest exits 5 when it collects no test: say so instead of failing obscurely.
pytest: $(VENV)/.installed-test browser
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
