# Two entry points: `make run` (the app on SQLite with demo data) and `make test` (the whole suite).
# Stamp files keep a second run fast: pip runs again only when pyproject.toml changes, npm only when
# package.json or package-lock.json change.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
TRACKER := $(VENV)/bin/tracker
HOST ?= 127.0.0.1
PORT ?= 5000
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x tests/accounts"`.
PYTEST_ARGS ?=

.PHONY: help run test lint format worker assets browser system venv clean

help:
	@echo "make run     installe, migre, charge les données de démonstration et lance http://$(HOST):$(PORT)"
	@echo "make test    installe les dépendances de développement et lance toute la suite de tests"
	@echo "make lint    ruff check + ruff format --check"
	@echo "make worker  lance le worker de l'outbox (courriels, webhooks)"

$(PYTHON):
	python3 -m venv $(VENV)

# The base install; the dev install below includes it, so it refreshes this stamp too.
$(VENV)/.installed: pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

assets:
	scripts/install-assets.sh

browser:
	scripts/install-browser.sh

# Debian libraries of the PDF dossiers (WeasyPrint).
system:
	scripts/install-system-packages.sh

# Links in e-mails and the demo logins point at the address actually served, unless set explicitly.
run: export TRACKER_BASE_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed assets system
	$(TRACKER) db upgrade
	$(TRACKER) seed-demo
	@echo
	@echo "Application : http://$(HOST):$(PORT) (comptes et mot de passe ci-dessus ; Ctrl-C pour arrêter)"
	@echo
	$(TRACKER) run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev assets browser system
	scripts/run-tests.sh $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

worker: $(VENV)/.installed system
	$(TRACKER) db upgrade
	$(TRACKER) worker

clean:
	rm -rf $(VENV) node_modules tracker/static/dsfr .pytest_cache .ruff_cache .coverage htmlcov
