# The two quick-start commands: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))

.PHONY: test demo lint bench docs clean

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

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
