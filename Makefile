# Two commands matter: `make run` (install everything, migrate, seed the demo, serve on
# http://127.0.0.1:8000 with one rq worker and, as root, the sandbox Asterisk as the demo PBX) and
# `make test` (install and start what the tests need, then run the whole suite on SQLite and on
# PostgreSQL).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HTMX_VERSION := 2.0.8
HTMX := web/static/vendor/htmx.min.js
# The icon set (every icon one SVG, drawn in currentColor) and axe-core, which the browser tests inject.
LUCIDE_VERSION := 1.87.0
LUCIDE := web/static/vendor/lucide/.version-$(LUCIDE_VERSION)
AXE_VERSION := 4.14.1
AXE := web/static/vendor/axe.min.js
# The webphone's SIP stack: SIP.js ships ES modules without dependencies ...
SIPJS_VERSION := 0.21.2
SIPJS := web/static/vendor/sip.js/.version-$(SIPJS_VERSION)
# ... bundled into one minified ES module (the portal loads one script, not 131) by esbuild, pinned.
ESBUILD_VERSION := 0.28.2
SIPJS_BUNDLE := web/static/vendor/sip.js/sip.bundle.js

.PHONY: run install test lint golden translations

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

$(LUCIDE):
	rm -rf $(dir $(LUCIDE)) && mkdir -p $(dir $(LUCIDE))
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent lucide-static@$(LUCIDE_VERSION) >/dev/null \
	  && tar xzf lucide-static-$(LUCIDE_VERSION).tgz && cp package/icons/*.svg package/LICENSE $(CURDIR)/$(dir $(LUCIDE)) \
	  && rm -rf $$tmp && touch $(CURDIR)/$(LUCIDE)

$(AXE):
	mkdir -p $(dir $(AXE))
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
	  && tar xzf axe-core-$(AXE_VERSION).tgz && cp package/axe.min.js $(CURDIR)/$(AXE) && rm -rf $$tmp

$(SIPJS):
	rm -rf $(dir $(SIPJS)) && mkdir -p $(dir $(SIPJS))
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent sip.js@$(SIPJS_VERSION) >/dev/null \
	  && tar xzf sip.js-$(SIPJS_VERSION).tgz && cd package && find lib -name '*.js' -exec cp --parents {} $(CURDIR)/$(dir $(SIPJS)) \; \
	  && cp LICENSE.md $(CURDIR)/$(dir $(SIPJS)) && rm -rf $$tmp && touch $(CURDIR)/$(SIPJS)

$(SIPJS_BUNDLE): $(SIPJS)
	tmp=$$(mktemp -d) && cd $$tmp && npm install --silent --no-audit --no-fund --no-save esbuild@$(ESBUILD_VERSION) >/dev/null \
	  && ./node_modules/.bin/esbuild $(CURDIR)/$(dir $(SIPJS))lib/api/index.js --bundle --format=esm --minify \
	     --legal-comments=eof --log-level=warning --outfile=$(CURDIR)/$(SIPJS_BUNDLE) \
	  && rm -rf $$tmp

install: $(VENV)/.installed $(HTMX) $(LUCIDE) $(AXE) $(SIPJS) $(SIPJS_BUNDLE)

run: install
	$(BIN)/switchboard db upgrade
	$(BIN)/switchboard seed-demo
	$(BIN)/switchboard serve --host 127.0.0.1 --port 8000 --demo-pbx

test: install
	bash tests/run_suite.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

golden: install
	$(BIN)/python -m tests.render.regen_golden

# The portal's catalog: extract the marked strings, merge them into each language's .po (translate
# the new ones there), compile the .mo files (committed, so `pip install .` needs no build step).
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k N_ --no-location --sort-output -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --ignore-obsolete
	$(BIN)/pybabel compile -d web/translations --statistics
