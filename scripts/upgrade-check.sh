#!/usr/bin/env bash
# Upgrade check: a database built by an earlier release must keep working with this code.
#
# Builds the demo database with the code at UPGRADE_FROM (default: the commit before the
# chain declarations, the common layer and the process model rename), migrates it with the
# code checked out here, then requires `verify_audit` to pass (the audit trail replays to the
# same statuses, amounts and budgets) and `process_divergences()` to be empty (every process
# waits where its application's status says). Runs on SQLite by default; pass a database URL
# (postgres://...) to run it there (the database is dropped and created).
#
# Uses this checkout's .venv for both: the dependencies did not change between the two.
set -euo pipefail
cd "$(dirname "$0")/.."

FROM="${UPGRADE_FROM:-1e9d871}"
URL="${1:-}"
PY="$PWD/.venv/bin/python"
work="$(mktemp -d)"
old="$work/old"
cleanup() {
    git worktree remove --force "$old" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

git worktree add --detach --quiet "$old" "$FROM"
mkdir -p "$work/var"
# Both runs share the keys (ID numbers and bank cards are encrypted with FUPIN_ID_KEY) and
# the fonts already built for this checkout.
ln -s "$PWD/var/fonts" "$work/var/fonts"
export FUPIN_VAR_DIR="$work/var"
export DJANGO_SECRET_KEY="upgrade-check-only-$(date +%s)-not-a-secret"
export FUPIN_ID_KEY="gY48UxuzHZTorMILiajvcumwCm6JGnxx-29ddWP33ck="
if [ -n "$URL" ]; then
    export DATABASE_URL="$URL"
    name="${URL##*/}"
    admin="${URL%/*}/postgres"
    psql -q "$admin" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\""
else
    export DATABASE_URL="sqlite:///$work/var/db.sqlite3"
fi

echo "upgrade-check: seeding the demo with $FROM ($(git log -1 --format=%s "$FROM" | cut -c1-60)…)"
(cd "$old" && "$PY" manage.py migrate --noinput -v 0 && "$PY" manage.py seed_demo >/dev/null)

echo "upgrade-check: migrating with $(git rev-parse --short HEAD)"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py verify_audit
"$PY" manage.py shell -c '
from workflows.selectors import process_divergences
from applications.models import Application
n = process_divergences().count()
print(f"upgrade-check: {Application.objects.count()} applications, {n} process divergences")
raise SystemExit(1 if n else 0)
'
echo "upgrade-check: passed"
