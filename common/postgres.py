"""PostgreSQL's own binding and prepared statements (``DATABASE_PREPARED=true``), kept within
what the protocol carries."""

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
    connection runs again and again. A statement with more parameters than the protocol
    carries (a county's bulk update of its subsidy claims, a long ``IN`` list: Django
    splits neither on PostgreSQL) is instead quoted into its text by psycopg, as every
    statement is without ``DATABASE_PREPARED``, and is not prepared."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None
    ) -> Any:
        if params is not None and len(params) > MAX_BOUND_PARAMETERS:
            query = ClientCursor(self.connection).mogrify(query, params)
            params, prepare = None, False
        elif prepare is None and _MATCH in _text(query):
            prepare = False
        return super().execute(query, params, prepare=prepare, binary=binary)


def _text(query: Any) -> str:
    return query if isinstance(query, str) else str(query)
