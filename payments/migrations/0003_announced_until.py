"""The after-payment announcement (事后公告): how long a reconciled round's paid lines stay on
the notice boards. Rounds reconciled before this field existed are announced for the
default ten days from their reconciliation, as they would have been."""

from datetime import timedelta
from typing import Any

from django.db import migrations, models


def announce_reconciled(apps: Any, schema_editor: Any) -> None:
    PaymentRound = apps.get_model("payments", "PaymentRound")
    for round_ in PaymentRound.objects.filter(status="reconciled", announced_until=None):
        round_.announced_until = round_.reconciled_at + timedelta(days=10)
        round_.save(update_fields=["announced_until"])


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_acceptance"),
        ("applications", "0008_announcement_days"),
    ]

    operations = [
        migrations.AddField(
            model_name="paymentround",
            name="announced_until",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunPython(announce_reconciled, migrations.RunPython.noop),
    ]
