# Two commands for a fresh machine:
#   make run   - install everything, migrate, seed demo data, serve on http://127.0.0.1:8000/
#   make test  - install everything and run the whole test suite
# With no DATABASE_URL an embedded PostgreSQL (pgserver) runs in .pgdata/.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: install run test lint stop status smoke deploy-check e2e chromium

$(VENV)/.installed: requirements.txt requirements-dev.txt package.json package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed

# The Procfile's processes (gunicorn, the django-q2 cluster) under honcho, in the foreground:
# Ctrl-C stops them all (docs/OPERATIONS.md, "Start and stop"). --no-prefix: each line keeps its
# own ISO-8601 time and logger name, and gets no second time of honcho's.
run: install
	$(PY) -m smsmarketing.embedded_db
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/  (admin: http://127.0.0.1:$(PORT)/admin/)"
	SMS_DEMO=$${SMS_DEMO:-1} PORT=$(PORT) PATH="$(abspath $(VENV))/bin:$$PATH" exec $(VENV)/bin/honcho start --no-prefix

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser journeys only (Playwright + Debian's chromium; screenshots in artifacts/e2e/).
e2e: install
	$(PY) -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

# Debian's chromium, chromium-driver and a CJK font, from apt (never `playwright install`).
chromium:
	./scripts/install_chromium.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m smsmarketing.embedded_db
	$(PY) manage.py makemigrations --check --dry-run

smoke: install
	PY=$(PY) ./scripts/smoke.sh

# The embedded PostgreSQL's folder: .pgdata, or EMBEDDED_PGDATA as settings read it.
DATA_DIR_ARG = $(if $(EMBEDDED_PGDATA),--data-dir "$(EMBEDDED_PGDATA)")

# Stops a local run's processes that use the embedded PostgreSQL (left by a killed make run),
# then the server itself; says what it did.
stop:
	$(PY) -m smsmarketing.embedded_db stop $(DATA_DIR_ARG)

# The embedded PostgreSQL (running or not) and the processes of local runs in this checkout.
status:
	$(PY) -m smsmarketing.embedded_db status $(DATA_DIR_ARG)

# The production settings pass Django's deployment checks (no errors).
deploy-check: install
	SECRET_KEY=ci-only-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') HTTPS=1 DEBUG=0 \
	  ALLOWED_HOSTS=sms.example.com $(PY) manage.py check --deploy --fail-level ERROR
