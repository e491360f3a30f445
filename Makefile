# The two commands of the README. Each sets up what it needs: a virtual environment in .venv
# with every dependency pinned by requirements.lock.
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate sample data for both towns and run the whole nightly job for each
	$(VENV)/bin/kodomo demo

test: $(STAMP)  ## the whole test suite (CI runs exactly this)
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
