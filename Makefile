# make test / make demo work on a fresh clone: each creates .venv and installs what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo protos lint clean ui

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev,mysql,postgres]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2

demo: $(STAMP)
	$(PY) examples/quickstart.py

protos: $(STAMP)
	$(PY) protos/generate.py

# Rebuilds the lineage UI bundle (mlmd_airflow/ui/dist/, committed) from package-lock.json and the sources.
ui:
	cd mlmd_airflow/ui && npm ci --no-audit --no-fund && npm run build

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
