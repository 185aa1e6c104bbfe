# Tunix RT: `make run` serves the app with demo data; `make test` runs lint and the whole suite.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help venv run test lint migrate demo clean

help:
	@echo "make run    set up .venv, migrate, load demo data, start the worker and serve http://$(HOST):$(PORT)"
	@echo "make test   set up .venv, run ruff and the whole pytest suite (DATABASE_URL or SQLite)"

# The venv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
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

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
