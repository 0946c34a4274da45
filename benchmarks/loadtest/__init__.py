"""``make loadtest``: the site served as a county serves it (``make serve``: gunicorn, the task
worker, the timers, PostgreSQL), driven over HTTP by locust, headless and bounded, from this
machine to 127.0.0.1 only.

``prepare`` builds the load county in a database of its own (its name ends in ``_load``),
``locustfile`` is what its people do, ``report`` reads locust's figures and checks the
aims; ``scripts/loadtest.sh`` runs the three at one and at two cores."""
