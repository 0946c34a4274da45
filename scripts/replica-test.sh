#!/usr/bin/env bash
# The read replica against a real PostgreSQL streaming replica (tests marked `replica`,
# tests/common/test_replica.py). It makes two clusters of its own beside the machine's, so
# that the machine's main cluster is left as it is: a primary on port 5442 that allows
# replication from 127.0.0.1, and a hot standby on 5443 copied from it by pg_basebackup and
# streaming from it. Both are removed at the end, however it ends. About a minute.
# Needs root (pg_createcluster). Usage: bash scripts/replica-test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="$(ls /etc/postgresql | sort -V | tail -n 1)"
PRIMARY=fupin_primary
STANDBY=fupin_standby
PRIMARY_PORT="${REPLICA_TEST_PRIMARY_PORT:-5442}"
STANDBY_PORT="${REPLICA_TEST_STANDBY_PORT:-5443}"

drop() {
    for cluster in "$STANDBY" "$PRIMARY"; do
        if pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VERSION $cluster"; then
            pg_dropcluster --stop "$VERSION" "$cluster" || true
        fi
    done
}
drop  # a previous run's, if it was killed
trap drop EXIT

echo "== primary: cluster $VERSION/$PRIMARY on port $PRIMARY_PORT"
pg_createcluster "$VERSION" "$PRIMARY" -p "$PRIMARY_PORT" -- --auth=trust > /dev/null
CONF="/etc/postgresql/$VERSION/$PRIMARY"
cat >> "$CONF/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 5
fsync = off
CONF
echo "host replication all 127.0.0.1/32 trust" >> "$CONF/pg_hba.conf"
pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$PRIMARY" start

echo "== standby: cluster $VERSION/$STANDBY on port $STANDBY_PORT, from pg_basebackup"
pg_createcluster "$VERSION" "$STANDBY" -p "$STANDBY_PORT" -- --auth=trust > /dev/null
DATA="/var/lib/postgresql/$VERSION/$STANDBY"
rm -rf "$DATA"
install -d -o postgres -g postgres -m 0700 "$DATA"
# -R writes standby.signal and primary_conninfo: it starts as a hot standby, streaming.
runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres \
    -D "$DATA" -R -X stream --checkpoint=fast
printf "listen_addresses = '127.0.0.1'\nhot_standby_feedback = on\n" >> "/etc/postgresql/$VERSION/$STANDBY/postgresql.conf"
pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$STANDBY" start
for _ in $(seq 30); do
    pg_isready -q -h 127.0.0.1 -p "$STANDBY_PORT" && break
    sleep 1
done
recovering="$(psql -h 127.0.0.1 -p "$STANDBY_PORT" -U postgres -Atc 'SELECT pg_is_in_recovery()')"
[ "$recovering" = t ] || { echo "the standby is not in recovery"; exit 1; }
psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -Atc \
    "SELECT 'streaming to ' || count(*) || ' standby(s)' FROM pg_stat_replication WHERE state = 'streaming'"

echo "== tests marked replica"
DATABASE_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT/fupin" \
DATABASE_REPLICA_URL="postgres://postgres@127.0.0.1:$STANDBY_PORT/fupin" \
FUPIN_REQUIRE_POSTGRES=1 \
    .venv/bin/pytest -m replica -p no:cacheprovider --create-db "$@"
