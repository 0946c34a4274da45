"""The name on a household's bank card (户名), recorded with the card (DOMAIN rule 5).

Existing cards were registered under the label "bank card in the head's name": their
holder is recorded as the head's name."""

from django.db import migrations, models


def holder_is_head(apps, schema_editor):
    Household = apps.get_model("applications", "Household")
    Household.objects.update(bank_card_holder=models.F("head_name"))


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="household",
            name="bank_card_holder",
            field=models.CharField(
                default="", editable=False, max_length=50, verbose_name="card holder's name"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(holder_is_head, migrations.RunPython.noop),
    ]
