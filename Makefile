# The two quick-start commands: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.dev-installed
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))

.PHONY: test demo lint bench docs coverage mutate clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when any pyproject changes; every first-party plugin is installed editable, like a third-party one.
$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,docs]' $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/wsdat demo

lint: $(STAMP)
	$(VENV)/bin/ruff check wsdat_core tests plugins benchmarks
	$(VENV)/bin/mypy --strict wsdat_core

bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) benchmarks/run.py

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

# The `dev` extra: coverage and mutmut (docs/testing.md).
$(DEV): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV)

# The whole suite under coverage (branches; the wsdat subprocesses too), combined; the table here, HTML in
# build/coverage/html. Exits with the suite's status.
coverage: $(DEV)
	rm -rf build/coverage
	$(PY) -m coverage run -m pytest -q; status=$$?; \
	$(PY) -m coverage combine -q && $(PY) -m coverage report && $(PY) -m coverage html -q; exit $$status

# Mutation testing of the modules that decide behaviour (mutate/run.py; under 20 minutes on 2 cores). Not part of
# `make test`. Prints killed/total per module and overall; fails when the score (survivors judged equivalent in
# mutate/equivalent.toml left out) is below 90%, or when a named mutant of issue 17 survives.
mutate: $(DEV)
	$(PY) mutate/run.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
