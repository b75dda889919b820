# The README's two commands: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Python's default, whatever the shell says: each test run's xdist workers and every
# `publisher` process the tests start then read compiled (and pytest's rewritten) modules
# instead of compiling them again (about 8 s of CPU per worker for the tests alone).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test quick lint system-deps bench docs docs-reference locale clean

$(BIN)/publisher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

system-deps:
	bash .ci/system-deps

demo: $(BIN)/publisher
	$(BIN)/publisher demo

# ruff: style; mypy: types; lint-imports: the layers contract in pyproject.toml;
# vulture: dead code (vulture_whitelist.py names what frameworks call by name);
# deptry: declared dependencies match imports.
lint: $(BIN)/publisher
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/vulture
	$(BIN)/deptry .

test: system-deps $(BIN)/publisher lint
	$(BIN)/pytest

# The quick subset: every test that needs no Chromium, PostgreSQL or Postfix and is not slow
# by design (tests/servers.py fails a test that uses a server without its marker). Four
# processes on two cores: many tests spend seconds waiting on purpose (a slowed SMTP server,
# a lock held, an outage), and the other processes work meanwhile; an idle process takes
# tests from another's queue (worksteal), and the tests marked `waits` start first. Their
# temporary files go to memory (/dev/shm) when there is one: thousands of small files
# (Maildirs, built sites) written and removed, SQLite's syncs.
QUICK := not chromium and not postgres and not postfix and not slow
QUICK_TMPDIR := $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo "$${TMPDIR:-/tmp}")
quick: $(BIN)/publisher
	TMPDIR=$(QUICK_TMPDIR) $(BIN)/pytest -m "$(QUICK)" -n 4 --dist worksteal

bench: $(BIN)/publisher
	$(BIN)/python bench/build.py

# The manual (docs/, mkdocs.yml) into site/; docs-reference rewrites its generated sections
# (every command's --help, the settings reference, the code layout) from the code.
docs: $(BIN)/publisher
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-reference: $(BIN)/publisher
	$(BIN)/python docs/generate.py

# The gettext catalogs (publisher/locale, docs/development.md#translations): every marked
# string of the package and the templates into messages.pot, then merged into each
# language's messages.po (new entries come in empty: translate them, tests/i18n checks).
locale: $(BIN)/publisher
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output --width 100 \
		--project publisher --copyright-holder publisher -o publisher/locale/messages.pot .
	$(BIN)/pybabel -q update -i publisher/locale/messages.pot -d publisher/locale \
		--no-fuzzy-matching --ignore-obsolete --width 100

clean:
	rm -rf $(VENV) public var site .pytest_cache .mypy_cache
