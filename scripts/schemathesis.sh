#!/usr/bin/env bash
# The API against its own schema (schemathesis), on PostgreSQL, served as in production
# (gunicorn, DEBUG off), as three roles: a village cadre, a township reviewer and an
# inspector. Any 5xx, any status code or body the schema does not describe, fails.
# Bounded: 25 examples per operation, at most 80 s per role (about 5 minutes in all with
# the demo's seed). Usage: bash scripts/schemathesis.sh (from `make schema-check`).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${SCHEMATHESIS_PORT:-8077}"
DB=fupin_schemathesis
BASE="postgres://postgres@127.0.0.1:5432"
export DATABASE_URL="$BASE/$DB"
export DJANGO_DEBUG=false
export DJANGO_SECRET_KEY="7NL6pt-cS9UbzH_yrXNAsTHpM3r0zz4XI17CavFnR28DWKawTX_IEK1LtNCC"
export FUPIN_ID_KEY="gY48UxuzHZTorMILiajvcumwCm6JGnxx-29ddWP33ck="
export DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost"
export FUPIN_PUBLIC_URL="https://example.org"
export DJANGO_SECURE_SSL_REDIRECT=false
export FUPIN_VAR_DIR="${FUPIN_VAR_DIR:-$PWD/var/schemathesis}"
mkdir -p "$FUPIN_VAR_DIR"

psql -q "$BASE/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
.venv/bin/python manage.py migrate -v0
.venv/bin/python manage.py seed_demo > /dev/null

.venv/bin/gunicorn config.wsgi -b "127.0.0.1:$PORT" -w 2 --threads 2 --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 30); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/accounts/login/" && break
    sleep 1
done

token() {
    curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/token/" \
        -H 'Content-Type: application/json' \
        -d "{\"username\": \"$1\", \"password\": \"demo12345\"}" \
        | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

status=0
for user in cadre_sibacun reviewer_quanhu inspector; do
    echo "== schemathesis as $user"
    # The token endpoint is left out: fuzzing it would sign in and out (and lock the
    # address out); tests/applications/test_security.py covers it.
    .venv/bin/schemathesis run "http://127.0.0.1:$PORT/api/v1/schema/" \
        -H "Authorization: Token $(token "$user")" \
        --exclude-path /api/v1/auth/token/ \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,fuzzing \
        --max-examples 25 --max-time 80 \
        --generation-deterministic \
        --suppress-health-check all \
        --warnings off \
        || status=1
done
exit $status
