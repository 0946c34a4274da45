from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0003_announced_until"),
    ]

    operations = [
        migrations.AddField(
            model_name="paymentround",
            name="bank_format",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
    ]
