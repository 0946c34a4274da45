"""The ledger partitioned by county on PostgreSQL (``audit.partitions``); nothing on SQLite.
Copies every entry once and holds the ledger locked meanwhile, like any rewrite of a table
(4.8 s for 20,770 entries on the load county's copy; a large ledger was not timed)."""

from typing import Any

from django.db import migrations

from audit import partitions


def forwards(apps: Any, schema_editor: Any) -> None:
    partitions.ledger_partition(schema_editor, apps)


def backwards(apps: Any, schema_editor: Any) -> None:
    partitions.ledger_unpartition(schema_editor, apps)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("applications", "0014_application_applied_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
