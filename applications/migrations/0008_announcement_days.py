import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0007_program_version_acceptance"),
    ]

    operations = [
        migrations.AddField(
            model_name="programversion",
            name="announcement_days",
            field=models.PositiveSmallIntegerField(
                default=10,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(365),
                ],
                verbose_name="announcement after payment (days)",
            ),
        ),
    ]
