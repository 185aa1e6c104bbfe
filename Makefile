# Tunix RT: `make run` serves the app with demo data; `make test` runs lint and the whole suite.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help venv run test test-s3 lint migrate demo clean browser screenshots

help:
	@echo "make run    set up .venv, migrate, load demo data, start the worker and serve http://$(HOST):$(PORT)"
	@echo "make test   set up .venv, run ruff and the whole pytest suite (DATABASE_URL or SQLite)"
	@echo "make test-s3      the registry's tests with the blob store in S3 (moto's server)"
	@echo "make browser      install Debian's chromium for the browser tests (root)"
	@echo "make screenshots  save a PNG of each main page into docs/screenshots/"

# This machine kind keeps CPU builds of torch in /opt/wheels; PyPI's torch is a CUDA build of
# several GB, so look there first when it exists.
LOCAL_WHEELS := $(if $(wildcard /opt/wheels/torch-*.whl),--find-links /opt/wheels)

# The venv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(LOCAL_WHEELS) -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	DEBUG=true $(PY) manage.py load_demo_models

run: venv
	mkdir -p var/staticfiles
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py create_dev_superuser
	DEBUG=true $(PY) manage.py load_demo_models
	@echo "Serving http://$(HOST):$(PORT) with the background worker (db_worker); Ctrl-C stops both."
	DEBUG=true bash -c 'trap "kill 0" EXIT; $(PY) manage.py db_worker --no-reload & $(PY) manage.py runserver $(HOST):$(PORT)'

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: venv lint
	$(PY) -m pytest

# The registry's tests again with its blobs in a bucket of moto's S3 server (on loopback).
test-s3: venv
	REGISTRY_TEST_STORE=s3 $(PY) -m pytest registry

# Browser tests drive Debian's chromium; Playwright never downloads a browser of its own.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests (needs root and apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

# A PNG of each main page, taken along the browser journey, into docs/screenshots/.
screenshots: venv browser
	mkdir -p docs/screenshots
	SCREENSHOTS_DIR=docs/screenshots E2E_REQUIRED=1 $(PY) -m pytest -q registry/tests/test_e2e.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
