#!/usr/bin/env bash
# Runs the test suite on SQLite (always, with the browser tests), then on PostgreSQL when
# TRACKER_TEST_DATABASE_URL is set or a server answers on 127.0.0.1:5432.
# Extra arguments are passed to both pytest runs. Exits non-zero if any run fails, including a run
# that collected no test (pytest's exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$python" ]]; then
    echo "$python introuvable : lancez « make test » (il crée l'environnement virtuel)." >&2
    exit 1
fi

explicit_url="${TRACKER_TEST_DATABASE_URL:-}"
unset TRACKER_TEST_DATABASE_URL

summary=()
failed=0

# run_pytest LABEL [ENV=VALUE…] -- PYTEST_ARGS…
run_pytest() {
    local label="$1"
    shift
    local -a env_args=()
    while [[ "$1" != "--" ]]; do
        env_args+=("$1")
        shift
    done
    shift
    echo
    echo "════ Tests sur $label ════"
    local status=0
    env "${env_args[@]}" "$python" -m pytest -q --tb=short "$@" || status=$?
    if [[ $status -eq 0 ]]; then
        summary+=("$label ✔")
    else
        failed=1
        if [[ $status -eq 5 ]]; then
            summary+=("$label ✘ (aucun test collecté)")
        else
            summary+=("$label ✘ (pytest a renvoyé $status)")
        fi
    fi
}

# Hides a password in a database URL before printing it.
redact() {
    sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"
}

# Prints the URL of a PostgreSQL test database on 127.0.0.1:5432, creating `tracker_test` if needed;
# prints nothing if no server answers.
find_local_postgresql() {
    "$python" - <<'PY'
import sys

import psycopg
from psycopg import sql

DATABASE = "tracker_test"
for user in ("postgres", "root"):
    try:
        connection = psycopg.connect(
            host="127.0.0.1", port=5432, dbname="postgres", user=user, connect_timeout=3, autocommit=True
        )
    except psycopg.OperationalError as error:
        print(f"PostgreSQL : connexion impossible en tant que {user} ({str(error).strip()})", file=sys.stderr)
        continue
    with connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            print(f"PostgreSQL : base {DATABASE} créée.", file=sys.stderr)
    print(f"postgresql+psycopg://{user}@127.0.0.1:5432/{DATABASE}")
    break
PY
}

run_pytest "SQLite" -- "$@"

pg_url="$explicit_url"
pg_note=""
if [[ -z "$pg_url" ]]; then
    if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 -t 3; then
        pg_note="PostgreSQL non joignable sur 127.0.0.1:5432 : ignoré"
    else
        pg_url="$(find_local_postgresql || true)"
        if [[ -z "$pg_url" ]]; then
            pg_note="PostgreSQL non joignable sur 127.0.0.1:5432 : ignoré"
        fi
    fi
fi

if [[ -n "$pg_url" ]]; then
    # The browser tests drive their own SQLite server; once is enough.
    run_pytest "PostgreSQL ($(redact "$pg_url"))" TRACKER_TEST_DATABASE_URL="$pg_url" -- -m "not e2e" "$@"
fi

echo
echo "════ Bilan ════"
joined=""
for item in "${summary[@]}"; do
    joined+="${joined:+, }$item"
done
echo "Bases testées : $joined"
if [[ -n "$pg_note" ]]; then
    echo "$pg_note"
fi
exit "$failed"
