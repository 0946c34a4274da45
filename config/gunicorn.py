"""gunicorn's settings for ``make serve`` and the systemd unit (``gunicorn -c
config/gunicorn.py config.wsgi``). Workers and threads follow the cores this process may run
on (``taskset`` and a systemd ``CPUAffinity`` narrow them); the environment overrides each.

Every worker thread keeps one PostgreSQL connection (``DATABASE_CONN_MAX_AGE``): workers ×
threads of every web server, plus one per task worker and one for the timers, must stay
well under the server's ``max_connections`` (100 by default). With 2 cores: 5 × 2 = 10."""

from __future__ import annotations

import os

_cores = len(os.sched_getaffinity(0))

bind = os.environ.get("FUPIN_BIND", "127.0.0.1:8000").split(",")
# Two workers a core and one more: a request spends much of its time waiting for
# PostgreSQL, and a second process per core keeps the core busy meanwhile.
workers = int(os.environ.get("FUPIN_WEB_WORKERS", str(2 * _cores + 1)))
worker_class = "gthread"
threads = int(os.environ.get("FUPIN_WEB_THREADS", "2"))
# A document is rendered in the request (about a second); whole batches and large imports
# go to the task worker. A request still running after this is killed and logged.
timeout = int(os.environ.get("FUPIN_WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (a leak, if any, never grows for long);
# the jitter keeps them from restarting together.
max_requests = 2000
max_requests_jitter = 200
# Behind nginx on the same machine: the X-Forwarded-* headers of 127.0.0.1 are believed.
forwarded_allow_ips = os.environ.get("FUPIN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The access log (with the time each request took, in microseconds) on standard output,
# which systemd's journal keeps; FUPIN_ACCESS_LOG= (empty) turns it off.
accesslog = os.environ.get("FUPIN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'
errorlog = "-"
loglevel = os.environ.get("FUPIN_WEB_LOG_LEVEL", "info")
proc_name = "fupin-web"
# No control socket: systemd and signals manage the server, and two servers on one machine
# (a test beside a running site) would fight over its one default path.
control_socket_disable = True
