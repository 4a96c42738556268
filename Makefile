# carbontrail: `make demo` runs the whole lifecycle on the embedded default; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv pip install --python $(BIN)/python -q
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck unit bench browser clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip uv

$(VENV)/.demo: pyproject.toml | $(BIN)/uv
	$(UV) -e ".[all]"
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/uv
	$(UV) -e ".[all,mlflow,dev,bench]"
	touch $@

$(VENV)/.bench: pyproject.toml | $(BIN)/uv
	$(UV) -e ".[all,mlflow,dev,bench]"
	touch $@

# Debian's chromium drives the dashboard tests through Playwright.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the dashboard tests"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null; }

demo: $(VENV)/.demo
	$(BIN)/python -m carbontrail.demo $(DEMO_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: $(VENV)/.test browser lint
	CARBONTRAIL_TEST_PG_URL=$(PG_URL) $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(VENV)/.bench
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .carbontrail .pytest_cache .mypy_cache .ruff_cache
