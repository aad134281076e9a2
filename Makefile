# Panjereh: `make run` starts the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install translations browsers clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/idp demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# re-extract the messages after changing user-facing strings, then translate the .po files
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o idp/translations/messages.pot .
	$(BIN)/pybabel update -i idp/translations/messages.pot -d idp/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d idp/translations

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
