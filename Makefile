# Build, run and check the project. Every target bootstraps its own tools, so a
# fresh clone needs only python3 (3.11), make and, for `test-postgres`, PostgreSQL.
# Tools are called by their .venv/bin path; nothing needs to be activated.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

# Debian packages needed at run time (CJK fonts, with HanaMin for the rare name characters
# of CJK Extension A and B, and HarfBuzz subsetting for WeasyPrint).
SYSTEM_PACKAGES := fonts-noto-cjk fonts-hanazono libharfbuzz-subset0
# ... and for the browser test: Debian's Chromium, driven by Playwright.
TEST_SYSTEM_PACKAGES := chromium

POSTGRES_URL := postgres://postgres@127.0.0.1:5432/fupin
BENCH_DATABASE_URL := postgres://postgres@127.0.0.1:5432/fupin_bench

# Throwaway values for `manage.py check --deploy` in `make check` and for `make bench`. They
# are committed on purpose and protect nothing: never use them for a real deployment.
CI_SECRET_KEY := 7NL6pt-cS9UbzH_yrXNAsTHpM3r0zz4XI17CavFnR28DWKawTX_IEK1LtNCC
CI_ID_KEY := gY48UxuzHZTorMILiajvcumwCm6JGnxx-29ddWP33ck=

# uv: use the project's .venv, and the machine's Python 3.11 rather than downloading one.
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never

# Extra arguments for pytest, e.g. `make test ARGS="-k audit -x"`.
ARGS ?=

.PHONY: help bootstrap run serve backup restore replica-test loadtest test test-postgres walk schema-check check upgrade-check bench format

help:
	@echo "make run            migrate, seed demo data, run timers, the task worker and the dev server on :8000"
	@echo "make serve          the production configuration on PostgreSQL (gunicorn, task workers, timers; settings from the environment)"
	@echo "make backup         back up the database and the stored files, with a manifest of SHA-256 hashes"
	@echo "make restore FROM=dir  restore a backup into a new database and check it"
	@echo "make replica-test   the read replica against a real streaming replica (two clusters of its own; root)"
	@echo "make loadtest       make serve on PostgreSQL driven over HTTP by locust at 1 and 2 cores (about 6 min)"
	@echo "make test           run the test suite (SQLite; ARGS=... passes on to pytest)"
	@echo "make test-postgres  run the test suite against PostgreSQL on 127.0.0.1:5432"
	@echo "make walk           walk every role's pages in Chromium (390/1280 px, Chinese/English)"
	@echo "make schema-check   schemathesis: the API against its schema, live on PostgreSQL, as three roles"
	@echo "make check          tests under branch coverage (with its floor), ruff, mypy, import-linter, migrations and deploy checks"
	@echo "make format         apply ruff fixes and formatting"
	@echo "make upgrade-check  seed the demo with the previous release, migrate it with this code, verify"
	@echo "make bench          run the benchmarks against PostgreSQL"

# Internal: install uv into .tools/, sync .venv from uv.lock, ensure Debian packages, build
# the document fonts once (GB 2312 subsets of Noto CJK SC, about two minutes; see
# documents/rendering.py).
bootstrap:
	@if [ ! -x $(UV) ] || [ "$$($(UV) --version 2>/dev/null | cut -d' ' -f2)" != "$(UV_VERSION)" ]; then \
		echo "bootstrap: installing uv $(UV_VERSION) into $(TOOLS)/"; \
		python3 -m venv $(TOOLS); \
		$(TOOLS)/bin/pip install -q --disable-pip-version-check 'uv==$(UV_VERSION)'; \
	fi
	@$(UV) sync --frozen --quiet
	@bash scripts/system-packages.sh $(SYSTEM_PACKAGES)
	@fonts="$${FUPIN_VAR_DIR:-var}/fonts"; \
	[ -f "$$fonts/FupinDocumentSC-2-Regular.otf" ] && [ -f "$$fonts/FupinDocumentSC-2-Bold.otf" ] || \
		$(PY) manage.py build_document_fonts

# process_timers and the task worker (db_worker: document batches) run in the background
# for as long as the dev server does; the trap stops them however the server ends
# (Ctrl-C included: a background job of a non-interactive shell ignores SIGINT, so they
# would otherwise be left running).
# Documents print the address the server runs on: this machine's first address (or
# FUPIN_PUBLIC_URL when set), so that a phone on the same network can scan their QR codes.
run: export FUPIN_PUBLIC_URL ?= http://$(shell hostname -I 2>/dev/null | cut -d' ' -f1 | grep . || echo 127.0.0.1):8000
run: bootstrap
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py process_timers --loop & timers=$$!; \
	$(PY) manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$timers $$worker 2>/dev/null || true' EXIT; \
	trap 'exit 130' INT TERM; \
	$(PY) manage.py runserver 0.0.0.0:8000

# Production on this machine: DEBUG off, settings from the environment or FUPIN_ENV_FILE
# (deploy/fupin.env.example); refuses to start without them (scripts/serve.sh).
serve: bootstrap
	bash scripts/serve.sh

# A backup of the database and the stored files (FUPIN_BACKUP_DIR, default var/backups;
# ARGS="--keep 14"), and its restore into a new database, checked (operations/backups.py).
backup: bootstrap
	$(PY) manage.py backup $(ARGS)

restore: bootstrap
	@[ -n "$(FROM)" ] || { echo "make restore FROM=<backup directory> [ARGS='--database-url ... --media-root ... --anchors ...']"; exit 2; }
	$(PY) manage.py restore "$(FROM)" $(ARGS)

# The read replica against a real PostgreSQL streaming replica: a primary and a hot standby
# made by pg_createcluster and pg_basebackup beside the machine's cluster, removed after
# (about 40 s; scripts/replica-test.sh).
replica-test: bootstrap
	bash scripts/replica-test.sh $(ARGS)

test: bootstrap
	@bash scripts/system-packages.sh $(TEST_SYSTEM_PACKAGES)
	$(BIN)/pytest $(ARGS)

# The browser walk: every role's pages at 390 and 1,280 px, in Chinese and English (a few
# minutes; tests/browser/test_walk.py). Not part of `make test`.
walk: bootstrap
	@bash scripts/system-packages.sh $(TEST_SYSTEM_PACKAGES)
	$(BIN)/pytest -m walk tests/browser/test_walk.py $(ARGS)

# The API against its schema with schemathesis, on a live server on PostgreSQL, as three
# roles (about 5 minutes; scripts/schemathesis.sh).
schema-check: bootstrap
	bash scripts/schemathesis.sh

# FUPIN_REQUIRE_POSTGRES makes the suite fail, not skip, when PostgreSQL is unreachable.
test-postgres: bootstrap
	@bash scripts/system-packages.sh $(TEST_SYSTEM_PACKAGES)
	DATABASE_URL=$(POSTGRES_URL) FUPIN_REQUIRE_POSTGRES=1 $(BIN)/pytest $(ARGS)

# The suite under branch coverage, failing below [tool.coverage.report] fail_under.
check: bootstrap
	@bash scripts/system-packages.sh $(TEST_SYSTEM_PACKAGES)
	$(BIN)/pytest -p no:cacheprovider --cov --cov-report=term
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=false \
	DJANGO_SECRET_KEY=$(CI_SECRET_KEY) \
	DJANGO_ALLOWED_HOSTS=example.org \
	FUPIN_ID_KEY=$(CI_ID_KEY) \
	FUPIN_PUBLIC_URL=https://example.org \
	$(PY) manage.py check --deploy --fail-level WARNING

# A database of the release before (UPGRADE_FROM, a commit) migrated by this code keeps its
# audit trail and processes whole: on SQLite, then on PostgreSQL.
upgrade-check: bootstrap
	bash scripts/upgrade-check.sh
	bash scripts/upgrade-check.sh postgres://postgres@127.0.0.1:5432/fupin_upgrade

# LOADTEST_CORES, LOADTEST_SECONDS, LOADTEST_USERS, LOADTEST_APPLICATIONS: scripts/loadtest.sh.
loadtest: bootstrap
	bash scripts/loadtest.sh

# With DEBUG off, as a county runs it (the throwaway keys above; plain http for the test client).
bench: bootstrap
	DATABASE_URL=$(BENCH_DATABASE_URL) \
	DJANGO_DEBUG=false \
	DJANGO_SECRET_KEY=$(CI_SECRET_KEY) \
	DJANGO_ALLOWED_HOSTS=testserver \
	DJANGO_SECURE_SSL_REDIRECT=false \
	FUPIN_ID_KEY=$(CI_ID_KEY) \
	FUPIN_PUBLIC_URL=https://example.org \
	$(PY) -m benchmarks.run $(ARGS)

# Fixes first, formatting last; what cannot be fixed is reported by `make check`.
format: bootstrap
	$(BIN)/ruff check --fix-only .
	$(BIN)/ruff format .
