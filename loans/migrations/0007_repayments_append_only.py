"""Repayments and repayment files are history: the database refuses to change them."""

from typing import Any

from django.db import migrations

from audit import append_only

TABLES = ("loans_repayment", "loans_repaymentimport")


def install(apps: Any, schema_editor: Any) -> None:
    for table in TABLES:
        append_only.install(schema_editor, table)


def uninstall(apps: Any, schema_editor: Any) -> None:
    for table in TABLES:
        append_only.uninstall(schema_editor, table)


class Migration(migrations.Migration):
    dependencies = [("loans", "0006_loans")]

    operations = [migrations.RunPython(install, uninstall)]
