#!/usr/bin/env bash
# `make serve`: the production configuration on this machine, in one command: gunicorn
# (config/gunicorn.py; static files by WhiteNoise), the task worker(s) (db_worker) and the
# timers (process_timers --loop), with DEBUG off, on PostgreSQL. Settings come from the
# environment, or from the file FUPIN_ENV_FILE names (deploy/fupin.env.example explains
# each); it refuses to start without them. Runs until stopped (Ctrl-C or SIGTERM), and stops
# everything as soon as any one of its processes ends.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if [ -n "${FUPIN_ENV_FILE:-}" ]; then
    if [ ! -r "$FUPIN_ENV_FILE" ]; then
        echo "make serve: cannot read FUPIN_ENV_FILE=$FUPIN_ENV_FILE" >&2
        exit 2
    fi
    set -a
    # shellcheck disable=SC1090
    . "$FUPIN_ENV_FILE"
    set +a
fi
export DJANGO_DEBUG=false

declare -A explain=(
    [DATABASE_URL]="the PostgreSQL database, e.g. postgres://fupin@127.0.0.1:5432/fupin"
    [DJANGO_SECRET_KEY]="signs sessions and links; make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
    [DJANGO_ALLOWED_HOSTS]="the site's host names, comma-separated, e.g. fupin.example.gov.cn"
    [FUPIN_ID_KEY]="encrypts ID and card numbers; make one with: .venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' and keep a copy apart from the backups: without it they cannot be read"
    [FUPIN_PUBLIC_URL]="the address printed on every document, e.g. https://fupin.example.gov.cn"
)
missing=()
for name in DATABASE_URL DJANGO_SECRET_KEY DJANGO_ALLOWED_HOSTS FUPIN_ID_KEY FUPIN_PUBLIC_URL; do
    [ -n "${!name:-}" ] || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
    {
        echo "make serve: not started: ${missing[*]} not set."
        for name in "${missing[@]}"; do
            printf '  %-20s %s\n' "$name" "${explain[$name]}"
        done
        echo "Set them in the environment, or in a file named by FUPIN_ENV_FILE"
        echo "(deploy/fupin.env.example explains every setting)."
    } >&2
    exit 2
fi
case "$DATABASE_URL" in
    postgres://* | postgresql://*) ;;
    *)
        echo "make serve: not started: it runs on PostgreSQL, and DATABASE_URL is ${DATABASE_URL%%:*}:..." >&2
        echo "(make run is the demo on SQLite)." >&2
        exit 2
        ;;
esac
# One PostgreSQL connection per web thread, kept between requests (config/gunicorn.py).
export DATABASE_CONN_MAX_AGE="${DATABASE_CONN_MAX_AGE:-60}"

$PY manage.py check --deploy --fail-level ERROR
$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput -v0

pids=()
stop() {
    trap - EXIT INT TERM
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 143' INT TERM

$PY manage.py process_timers --loop &
pids+=($!)
for _ in $(seq "${FUPIN_TASK_WORKERS:-1}"); do
    $PY manage.py db_worker --no-reload --interval 1 &
    pids+=($!)
done
.venv/bin/gunicorn -c config/gunicorn.py config.wsgi &
pids+=($!)
echo "make serve: web, ${FUPIN_TASK_WORKERS:-1} task worker(s) and the timers running (pids ${pids[*]}); /healthz says how they are"

# Whichever ends first (a crash, a kill) ends the others: a site half running looks alive.
set +e
wait -n "${pids[@]}"
status=$?
echo "make serve: a process ended (exit $status); stopping the others" >&2
# Nothing of the site ends on its own: even a clean exit is a failure here.
[ "$status" -ne 0 ] || status=1
exit "$status"
