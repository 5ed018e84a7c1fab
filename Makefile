# Every target sets up what it needs: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --constraint constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: help install demo ui test lint browser postgres bench clean

help:
	@echo "make demo    set up .venv and run the quick-start study (digits, TPE, MLflow in ./mlflow.db)"
	@echo "make ui      open the MLflow UI on the demo study (http://127.0.0.1:5000)"
	@echo "make test    set up .venv, run the linters (ruff, mypy) and the test suite"
	@echo "make lint    ruff check, ruff format --check and mypy only"
	@echo "make bench   run every benchmark (not part of the tests; several minutes)"
	@echo "make clean   remove study outputs (.hpo, mlflow.db, mlruns)"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP) -e ".[dev,bench,torch,ray,postgres]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hpo run examples/digits_svc.yaml
	@echo "browse the runs: make ui  (or $(VENV)/bin/hpo ui digits-svc)"

ui: $(STAMP)
	$(VENV)/bin/hpo ui digits-svc

# The browser test needs Debian's chromium and its driver, the PostgreSQL tests Debian's
# PostgreSQL 15 server: installed here when we are root and apt can reach Debian's packages;
# otherwise those tests skip and say why.

# Two test processes (pytest-xdist), each test file whole in one of them: its module fixtures
# (a local Ray, a server) start once. Most slow tests wait on processes they started.
TEST_WORKERS ?= 2

test: lint browser postgres
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { [ "$$(id -u)" = 0 ] && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; }; } \
	  && echo "installed Debian's chromium and chromium-driver for the browser test"; } || echo "no chromium: the browser test will skip"

PG_BIN := /usr/lib/postgresql/15/bin

postgres:
	@test -x $(PG_BIN)/initdb -a -x $(PG_BIN)/pg_ctl || { [ "$$(id -u)" = 0 ] && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null 2>&1; }; } \
	  && echo "installed Debian's PostgreSQL 15 server for the PostgreSQL tests"; } || echo "no PostgreSQL 15 server: the PostgreSQL tests will skip"

bench: $(STAMP)
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/first_minute.py
	$(PY) benchmarks/sklearn_vs_gridsearchcv.py
	$(PY) benchmarks/torch_loop.py
	$(PY) benchmarks/schedules.py
	$(PY) benchmarks/ddp_launch.py
	$(PY) benchmarks/pruning.py
	$(PY) benchmarks/ray_overhead.py
	$(PY) benchmarks/parallel_tpe.py
	$(PY) benchmarks/soak.py
	$(PY) benchmarks/summary_artifacts.py
	$(PY) benchmarks/search_quality.py
	$(PY) benchmarks/conditional.py
	$(PY) benchmarks/multi_objective.py
	$(PY) benchmarks/searchcv.py
	$(PY) benchmarks/searchcv_parallel.py
	$(PY) benchmarks/checkpoint.py
	$(PY) benchmarks/checkpoint_transport.py
	$(PY) benchmarks/warm_start.py
	$(PY) benchmarks/resource_metrics.py
	$(PY) benchmarks/scale.py

clean:
	rm -rf .hpo mlflow.db mlflow.db-wal mlflow.db-shm mlruns mlartifacts
