# The README's two commands: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint system-deps bench docs docs-reference clean

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

bench: $(BIN)/publisher
	$(BIN)/python bench/build.py

# The manual (docs/, mkdocs.yml) into site/; docs-reference rewrites its generated sections
# (every command's --help, the settings reference, the code layout) from the code.
docs: $(BIN)/publisher
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-reference: $(BIN)/publisher
	$(BIN)/python docs/generate.py

clean:
	rm -rf $(VENV) public var site .pytest_cache .mypy_cache
