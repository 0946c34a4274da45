from typing import Any

from django.db import migrations

from audit import append_only


def forwards(apps: Any, schema_editor: Any) -> None:
    append_only.install(schema_editor, "audit_auditentry")


def backwards(apps: Any, schema_editor: Any) -> None:
    append_only.uninstall(schema_editor, "audit_auditentry")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
