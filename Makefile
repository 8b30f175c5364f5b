# The commands people type. `make test` and `make run` set everything up on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Spectral, the OpenAPI linter, and the OWASP API Security ruleset, from the npm registry
# into the virtual environment's folder.
SPECTRAL_VERSION := 6.16.3
OWASP_RULESET_VERSION := 2.0.1
SPECTRAL := $(VENV)/node/node_modules/.bin/spectral
OWASP_RULESET := $(VENV)/node/node_modules/@stoplight/spectral-owasp-ruleset/package.json
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install test run serve lint lint-migrations lint-openapi format migrate openapi bench clean

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED) ## Create the virtual environment and install everything.

test: $(INSTALLED) ## The whole suite: on SQLite, then on PostgreSQL when reachable (scripts/test.py).
	$(BIN)/python scripts/test.py $(PYTEST_ARGS)

migrate: $(INSTALLED) ## Bring the database (DATABASE_URL, or the embedded one) to the latest schema.
	$(BIN)/alembic upgrade head

run: migrate ## Serve on http://$(HOST):$(PORT) for development, with gunicorn as in production.
	@# A database without an admin key gets one, printed once with a curl line to try it.
	@$(BIN)/flask --app wsgi api-key bootstrap --url http://$(HOST):$(PORT)
ifdef DEMO
	@# make run DEMO=1: add demo students, courses and enrollments first.
	@$(BIN)/flask --app wsgi seed --students 200 --courses 20 --per-student 4
endif
	HOST=$(HOST) PORT=$(PORT) WEB_CONCURRENCY=$${WEB_CONCURRENCY:-2} $(BIN)/gunicorn wsgi:app

serve: migrate ## Serve with gunicorn and gunicorn.conf.py on $$HOST:$$PORT (default 127.0.0.1:8000).
	$(BIN)/gunicorn wsgi:app

$(SPECTRAL) $(OWASP_RULESET) &:
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node \
		@stoplight/spectral-cli@$(SPECTRAL_VERSION) \
		@stoplight/spectral-owasp-ruleset@$(OWASP_RULESET_VERSION)

lint: $(INSTALLED) lint-migrations lint-openapi ## Lint and check formatting.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-migrations: $(INSTALLED) ## Lint the SQL of every migration with squawk (.squawk.toml).
	DATABASE_URL=postgresql://offline/registrar $(BIN)/alembic upgrade base:head --sql \
		| $(BIN)/squawk --stdin-filepath migrations.sql

lint-openapi: $(SPECTRAL) $(OWASP_RULESET) ## Lint openapi.json with Spectral and OWASP's rules (.spectral.yaml).
	NODE_PATH=$(VENV)/node/node_modules $(SPECTRAL) lint --fail-severity=warn openapi.json

openapi: $(INSTALLED) ## Rewrite the committed openapi.json from the code.
	$(BIN)/flask --app wsgi openapi write openapi.json

bench: $(INSTALLED) ## Benchmark the service against a raw floor; writes docs/benchmarks.md.
	$(BIN)/python -m bench.run

format: $(INSTALLED) ## Fix what the linter and formatter can.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage
