# Two commands matter: `make run` (install everything, migrate, seed the demo, serve on
# http://127.0.0.1:8000 with one rq worker) and `make test` (install and start what the tests
# need, then run the whole suite on SQLite and on PostgreSQL).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HTMX_VERSION := 2.0.8
HTMX := web/static/vendor/htmx.min.js

.PHONY: run install test lint golden

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(HTMX):
	mkdir -p $(dir $(HTMX))
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null \
	  && tar xzf htmx.org-$(HTMX_VERSION).tgz && cp package/dist/htmx.min.js $(CURDIR)/$(HTMX) && rm -rf $$tmp

install: $(VENV)/.installed $(HTMX)

run: install
	$(BIN)/switchboard db upgrade
	$(BIN)/switchboard seed-demo
	$(BIN)/switchboard serve --host 127.0.0.1 --port 8000

test: install
	bash tests/run_suite.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

golden: install
	$(BIN)/python -m tests.render.regen_golden
