from typing import Any

from django.db import migrations

from audit import append_only


def forwards(apps: Any, schema_editor: Any) -> None:
    append_only.install(schema_editor, "approvals_decision")


def backwards(apps: Any, schema_editor: Any) -> None:
    append_only.uninstall(schema_editor, "approvals_decision")


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial"), ("audit", "0002_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
