# Panjereh: `make run` starts the demo, `make test` runs the whole suite.
# The venv's interpreter: the operating system's python3 when it is recent enough and can make a venv
# (distributions build it for speed: Debian's is one static executable, optimised with profiles and at
# link time), else the python3 on the PATH. A default pyenv build (a shared libpython, no such
# optimisation) spent about 50 % more CPU per sign-in here (README, Production). PYTHON=... chooses.
SYSTEM_PYTHON := $(shell /usr/bin/python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo /usr/bin/python3)
PYTHON ?= $(or $(SYSTEM_PYTHON),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-embedded test-production install translations bench clean

# the production parts, as CI and a developer machine run them on 127.0.0.1
PANJEREH_TEST_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PANJEREH_TEST_REDIS ?= redis://127.0.0.1:6379/15

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/idp demo

# the whole suite on the embedded default (SQLite), then the unit, contract and
# functional tests again on PostgreSQL + Redis (tests/production always uses them)
test: test-embedded test-production

test-embedded: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-production: $(STAMP)
	PANJEREH_TEST_POSTGRES=$(PANJEREH_TEST_POSTGRES) PANJEREH_TEST_REDIS=$(PANJEREH_TEST_REDIS) \
		$(BIN)/python -m pytest tests/unit tests/contract tests/functional $(PYTEST_ARGS)

# the benchmark suite (PostgreSQL + Redis + gunicorn, and the peer provider); see bench/README.md
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# re-extract the messages after changing user-facing strings, then translate the .po files
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o idp/translations/messages.pot .
	$(BIN)/pybabel update -i idp/translations/messages.pot -d idp/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d idp/translations

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
