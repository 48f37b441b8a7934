# kplan developer entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PACKAGES := effects planner executor kplan legacy bench

.PHONY: install bytecode demo test deps lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The editable install leaves kplan's own modules as sources, and where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines) every kplan
# process would compile them all again at start-up: about a fifth of a command's
# time. Written here, as pip writes an installed package's; compileall rewrites
# only what changed, and Python still checks each file against its source.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j0 $(PACKAGES)

install: $(STAMP) bytecode

demo: $(STAMP) bytecode
	$(BIN)/kplan demo

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

# What the whole suite needs from the machine (dockerd, busybox, graphviz, the
# legacy venv): installed as root, else named in one line (scripts/test-deps).
deps: $(STAMP)
	scripts/test-deps $(BIN)/python

test: deps lint typecheck bytecode unit

bench: $(STAMP) bytecode
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find $(PACKAGES) tests property_tests -name __pycache__ -prune -exec rm -rf {} +
