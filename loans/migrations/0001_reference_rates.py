import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import common.clock


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReferenceRate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("benchmark_1y", "benchmark rate, up to 1 year"),
                            ("benchmark_1_5y", "benchmark rate, 1 to 5 years"),
                            ("lpr_1y", "loan prime rate, 1 year"),
                            ("lpr_5y", "loan prime rate, over 5 years"),
                        ],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                ("effective_from", models.DateField(verbose_name="effective from")),
                (
                    "rate",
                    models.DecimalField(
                        decimal_places=4,
                        max_digits=6,
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(36),
                        ],
                        verbose_name="rate (% a year)",
                    ),
                ),
                ("source", models.CharField(max_length=200, verbose_name="source")),
                ("created_at", models.DateTimeField(default=common.clock.now, editable=False)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "reference rate",
                "verbose_name_plural": "reference rates",
                "ordering": ["kind", "-effective_from"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("kind", "effective_from"), name="reference_rate_kind_date_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("rate__gte", 0), ("rate__lte", 36)),
                        name="reference_rate_in_range",
                    ),
                ],
            },
        ),
    ]
