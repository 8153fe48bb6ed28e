# make test / make demo work on a fresh clone: each creates .venv and installs what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo ui-demo quickstart protos lint clean ui bench bench-compare

# `make demo` / `make ui-demo`: a throw-away Airflow home inside the clone (reset by every `make demo`).
DEMO_HOME := .demo/airflow
UI_PORT ?= 8080

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev,mysql,postgres]'
	$(PY) -m pip install -q -e '.[mysqlclient]' || echo "note: mysqlclient did not build (it needs pkg-config and \
	libmariadb-dev, which .ci/run installs): MariaDB runs on pymysql, and mysqlclient's tests are skipped"
	touch $(STAMP)

# The MariaDB tests run twice when mysqlclient is installed: on it (the default), then on pymysql.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2
	if $(PY) -c 'import MySQLdb' 2>/dev/null; then MLMD_MYSQL_DRIVER=pymysql $(PY) -m pytest -q -n 2 -k mysql; fi

# The churn pipeline of dags/ run 3 times with dag.test() (+ the scoring DAG): cache hits, lineage, time saved.
demo: $(STAMP)
	$(PY) examples/airflow_demo.py --home $(DEMO_HOME)

# The Airflow UI (api-server on 127.0.0.1:$(UI_PORT), lineage tab) on the demo's home; Ctrl-C stops it.
ui-demo: $(STAMP)
	test -f $(DEMO_HOME)/airflow.db || $(PY) examples/airflow_demo.py --home $(DEMO_HOME)
	$(PY) examples/airflow_demo.py ui --home $(DEMO_HOME) --port $(UI_PORT)

# The ml-metadata getting-started walkthrough on the embedded store (no Airflow).
quickstart: $(STAMP)
	$(PY) examples/quickstart.py

protos: $(STAMP)
	$(PY) protos/generate.py

# Rebuilds the lineage UI bundle (mlmd_airflow/ui/dist/, committed) from package-lock.json and the sources.
ui:
	cd mlmd_airflow/ui && npm ci --no-audit --no-fund && npm run build

# Benchmarks (docs/performance.md). `make bench`: every benchmark of mlmd_core (store workloads on SQLite memory,
# SQLite file, MariaDB, PostgreSQL; inserts vs raw sqlite3 executemany; listener overhead; cache lookup at 100k;
# the lineage view of a 500-node run; gRPC load), results in benchmarks/results/bench.json and the doc's figures;
# QUICK=1 for the smoke-test size.
# `make bench-compare`: the store workloads against ml-metadata 1.17.1 (.venv-mlmd), interleaved rounds, ratios
# printed and written into the doc; BENCH_BACKENDS / BENCH_SCALE / BENCH_ROUNDS choose what runs.
BENCH_BACKENDS ?= sqlite-memory sqlite-file mysql postgresql
BENCH_SCALE ?= $(if $(filter 1,$(QUICK)),100,10000)
BENCH_ROUNDS ?= $(if $(filter 1,$(QUICK)),1,3)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(if $(filter 1,$(QUICK)),--quick)

bench-compare: $(STAMP)
	test -x .venv-mlmd/bin/python || { echo "needs ml-metadata 1.17.1 in .venv-mlmd (see docs/performance.md)"; exit 1; }
	for backend in $(BENCH_BACKENDS); do \
	  $(PY) benchmarks/compare.py --backend $$backend --scale $(BENCH_SCALE) --rounds $(BENCH_ROUNDS) \
	    --json benchmarks/results/compare-$$backend.json || exit 1; \
	done
	$(PY) benchmarks/report.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info .demo
