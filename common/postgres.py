"""PostgreSQL's own binding and prepared statements (``DATABASE_PREPARED``, on by default),
kept within what the protocol carries."""

from __future__ import annotations

from typing import Any

# Django's stubs do not declare the cursor classes of its psycopg 3 backend.
from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]
from psycopg import ClientCursor

# The extended query protocol counts a statement's parameters in 16 bits.
MAX_BOUND_PARAMETERS = 65_535
# A pattern given as a parameter (an area's code as a prefix: ``LIKE '620902100%'``) is never
# planned in advance. A kept (generic) plan cannot scan the prefix's range of the index, and
# PostgreSQL keeps one once a county-wide prefix has made it look no worse: a township's
# count then took 40 ms instead of 15 at a million applications.
_MATCH = " LIKE "


class BoundedServerBindingCursor(ServerBindingCursor):  # type: ignore[misc]
    """Sends the parameters apart from the statement, so that PostgreSQL may prepare what a
    connection runs again and again. Two kinds of statement are not prepared, nor counted
    towards it (psycopg would otherwise keep their text among the last hundred it saw):

    - one with more parameters than the protocol carries (a county's bulk update of its
      subsidy claims, a long ``IN`` list: Django splits neither on PostgreSQL), which
      psycopg quotes into its text instead, as every statement is with
      ``DATABASE_PREPARED=false``;
    - one matching a pattern (``LIKE``), planned for its values at each call.

    Not covered: ``QuerySet.iterator()`` (Django's named cursor, psycopg's own, never
    prepared) and ``executemany`` (which psycopg always prepares); this code passes neither
    a long list."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None
    ) -> Any:
        if params is not None and len(params) > MAX_BOUND_PARAMETERS:
            query = ClientCursor(self.connection).mogrify(query, params)
            params = None
        elif prepare is not None or _MATCH not in _text(query):
            return super().execute(query, params, prepare=prepare, binary=binary)
        connection = self.connection
        threshold = connection.prepare_threshold
        connection.prepare_threshold = None  # this statement only
        try:
            return super().execute(query, params, prepare=False, binary=binary)
        finally:
            connection.prepare_threshold = threshold


def _text(query: Any) -> str:
    return query if isinstance(query, str) else str(query)
