#!/usr/bin/env bash
# `make loadtest`: the production configuration (scripts/serve.sh: gunicorn, a task worker,
# the timers) on a PostgreSQL database of its own, driven over HTTP by locust (headless,
# bounded in time and requests, 127.0.0.1 only), once with the site on one core and once on
# two (taskset; gunicorn's workers follow the cores it may use). Each run starts from a fresh
# load county (benchmarks/loadtest/prepare.py) and ends with the audit trail verified and
# every process checked against its application. Taskset pins serve.sh's processes (web,
# task worker, timers); PostgreSQL and locust run where they may. Figures: var/loadtest/.
#   LOADTEST_CORES="1 2"   the runs          LOADTEST_SECONDS=60   each run's length
#   LOADTEST_USERS=40      locust users      LOADTEST_APPLICATIONS=30000   the county's stock
#   LOADTEST_CONNECTION=close   a new connection per request (default: keep-alive, per user)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

cores_list=${LOADTEST_CORES:-1 2}
seconds=${LOADTEST_SECONDS:-60}
users=${LOADTEST_USERS:-40}
port=${LOADTEST_PORT:-8765}
out=var/loadtest
mkdir -p "$out"

# The throwaway keys of `make bench` (Makefile): they protect nothing.
export DATABASE_URL=${LOADTEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/fupin_load}
export DJANGO_SECRET_KEY=7NL6pt-cS9UbzH_yrXNAsTHpM3r0zz4XI17CavFnR28DWKawTX_IEK1LtNCC
export FUPIN_ID_KEY=gY48UxuzHZTorMILiajvcumwCm6JGnxx-29ddWP33ck=
export DJANGO_ALLOWED_HOSTS=127.0.0.1
export FUPIN_PUBLIC_URL=https://127.0.0.1
export FUPIN_BIND=127.0.0.1:$port
export FUPIN_ACCESS_LOG=
export FUPIN_MEDIA_ROOT=$PWD/$out/media
export DJANGO_DEBUG=false

serve_pid=
stop_serve() {
    if [ -n "$serve_pid" ]; then
        # The whole group: serve.sh, and whatever it was running when stopped (a migrate
        # before its own traps are set).
        kill -TERM -- "-$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
        serve_pid=
    fi
}
trap stop_serve EXIT

reports=()
status=0
for cores in $cores_list; do
    cpus=$(seq -s, 0 $((cores - 1)))
    echo "loadtest: [$cores core(s)] preparing the load county"
    $PY -m benchmarks.loadtest.prepare
    rm -rf "$out/media"
    if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
        echo "loadtest: something already answers on port $port (LOADTEST_PORT)" >&2
        exit 1
    fi
    echo "loadtest: [$cores core(s)] starting make serve on CPU $cpus, port $port"
    setsid taskset -c "$cpus" bash scripts/serve.sh >"$out/serve-$cores.log" 2>&1 &
    serve_pid=$!
    for _ in $(seq 240); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$serve_pid" 2>/dev/null || { echo "loadtest: make serve ended; see $out/serve-$cores.log" >&2; exit 1; }
        sleep 0.5
    done
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "loadtest: not healthy after 120 s" >&2; exit 1; }
    echo "loadtest: [$cores core(s)] locust: $users users for ${seconds}s"
    LOADTEST_COUNTY=$out/county.json .venv/bin/locust -f benchmarks/loadtest/locustfile.py \
        --headless --host "http://127.0.0.1:$port" -u "$users" -r "$users" \
        --run-time "${seconds}s" --csv "$out/cores$cores" --only-summary \
        --stop-timeout 10 --exit-code-on-error 0 >"$out/locust-$cores.log" 2>&1 || {
        echo "loadtest: locust failed; see $out/locust-$cores.log" >&2
        exit 1
    }
    stop_serve
    $PY -m benchmarks.loadtest.check || status=1
    reports+=("$cores core(s)=$out/cores$cores")
done
$PY -m benchmarks.loadtest.report "${reports[@]}" || status=1
exit $status
