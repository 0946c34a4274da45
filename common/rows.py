"""Writing many rows in a few statements: new rows (``rows_insert``: ``COPY`` on PostgreSQL,
where Django's ``bulk_create`` spends most of its time preparing each value in Python), and
rows whose new values differ row by row (``rows_update``, a return file's lines).

Updating:  Django's ``bulk_update`` builds a ``CASE WHEN`` expression per row and field,
which costs milliseconds a row in Python at ten thousand rows. Here: rows that all get the
same values are one ``UPDATE … WHERE pk IN``; on PostgreSQL the others are one
``UPDATE … FROM (VALUES …)`` per thousand rows; elsewhere (SQLite) one parametrised
``UPDATE … WHERE pk = %s`` sent for every row (``executemany``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, JSONField, Model

BATCH = 1000


def _columns(model: type[Model], fields: Sequence[str]) -> list[Field[Any, Any]]:
    out: list[Field[Any, Any]] = []
    for name in fields:
        field = model._meta.get_field(name)
        if not isinstance(field, Field) or not field.concrete:
            raise ValueError(f"{model.__name__}.{name} is not a column")
        out.append(field)
    return out


def rows_update(instances: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each instance to its row, in the caller's transaction. Values go
    through each field's own conversion for the database (``get_db_prep_save``), as
    ``save()`` would send them; no signals, no ``auto_now``."""
    if not instances:
        return
    model = type(instances[0])
    meta = model._meta
    concrete = _columns(model, fields)
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


def rows_insert(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert new rows (each the values of ``fields`` in order, of the fields' own Python
    types; the primary key left to the database) in the caller's transaction, and return how
    many. PostgreSQL: one ``COPY`` (psycopg adapts each value); elsewhere one parametrised
    ``INSERT`` sent for every row (``executemany``), each value through its field's
    conversion. No ``save()``, no signals: the database's own constraints still hold."""
    concrete = _columns(model, fields)
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in concrete)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg's own cursor, under Django's wrapper
            # JSON goes through its field (psycopg's Jsonb wrapper); other values as they are.
            json_at = [i for i, f in enumerate(concrete) if isinstance(f, JSONField)]
            # Its errors as Django's (a constraint broken is an ``IntegrityError``).
            with (
                connection.wrap_database_errors,
                raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    if json_at:
                        row = list(row)
                        for i in json_at:
                            row[i] = concrete[i].get_db_prep_save(row[i], connection)
                    copy.write_row(row)
                    count += 1
            return count
        prepared = [
            [f.get_db_prep_save(value, connection) for f, value in zip(concrete, row, strict=True)]
            for row in rows
        ]
        marks = ", ".join(["%s"] * len(concrete))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", prepared)  # noqa: S608
        return len(prepared)
