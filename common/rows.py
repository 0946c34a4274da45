"""Updating many rows whose new values differ row by row (a return file's lines) in a few
statements. Django's ``bulk_update`` builds a ``CASE WHEN`` expression per row and field,
which costs milliseconds a row in Python at ten thousand rows. Here: rows that all get the
same values are one ``UPDATE … WHERE pk IN``; on PostgreSQL the others are one
``UPDATE … FROM (VALUES …)`` per thousand rows; elsewhere (SQLite) one parametrised
``UPDATE … WHERE pk = %s`` sent for every row (``executemany``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model

BATCH = 1000


def rows_update(instances: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each instance to its row, in the caller's transaction. Values go
    through each field's own conversion for the database (``get_db_prep_save``), as
    ``save()`` would send them; no signals, no ``auto_now``."""
    if not instances:
        return
    model = type(instances[0])
    meta = model._meta
    concrete: list[Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        if not isinstance(field, Field) or not field.concrete:
            raise ValueError(f"{model.__name__}.{name} is not a column")
        concrete.append(field)
    connection = connections[router.db_for_write(model)]
    rows = [
        (
            meta.pk.get_db_prep_save(obj.pk, connection),
            tuple(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in concrete),
        )
        for obj in instances
    ]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if len({values for _pk, values in rows}) == 1:
        # The same values everywhere (the applications a return file pays): one statement.
        model._default_manager.filter(pk__in=[obj.pk for obj in instances]).update(
            **{f.attname: getattr(instances[0], f.attname) for f in concrete}
        )
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Only names from the model's metadata, quoted; every value is a parameter.
            columns = ", ".join(quote(f.column) for f in concrete)
            sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in concrete)
            casts = ", ".join(
                ["%s::" + str(meta.pk.db_type(connection))]
                + ["%s::" + str(f.db_type(connection)) for f in concrete]
            )
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                values = ", ".join([f"({casts})"] * len(batch))
                cursor.execute(
                    f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v({pk}, {columns}) "  # noqa: S608
                    f"WHERE {table}.{pk} = v.{pk}",
                    [p for row_pk, row in batch for p in (row_pk, *row)],
                )
        else:
            assignments = ", ".join(f"{quote(f.column)} = %s" for f in concrete)
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {pk} = %s",  # noqa: S608
                [[*row, row_pk] for row_pk, row in rows],
            )
