"""A fund's movements are history: the database refuses to change them."""

from typing import Any

from django.db import migrations

from audit import append_only


def install(apps: Any, schema_editor: Any) -> None:
    append_only.install(schema_editor, "loans_fundmovement")


def uninstall(apps: Any, schema_editor: Any) -> None:
    append_only.uninstall(schema_editor, "loans_fundmovement")


class Migration(migrations.Migration):
    dependencies = [("loans", "0004_risk_fund")]

    operations = [migrations.RunPython(install, uninstall)]
