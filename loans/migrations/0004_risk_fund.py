import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import common.clock


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0009_banks"),
        ("loans", "0003_loan_parameters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RiskFund",
            fields=[
                (
                    "county",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="applications.area",
                    ),
                ),
                (
                    "balance",
                    models.DecimalField(
                        decimal_places=2, default=0, max_digits=14, verbose_name="balance"
                    ),
                ),
            ],
            options={
                "verbose_name": "risk-compensation fund",
                "verbose_name_plural": "risk-compensation funds",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("balance__gte", 0)), name="risk_fund_not_negative"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="FundMovement",
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
                            ("deposit", "deposit"),
                            ("compensation", "compensation"),
                            ("recovery", "recovery"),
                        ],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                (
                    "amount",
                    models.DecimalField(decimal_places=2, max_digits=14, verbose_name="amount"),
                ),
                (
                    "balance_after",
                    models.DecimalField(
                        decimal_places=2, max_digits=14, verbose_name="balance after"
                    ),
                ),
                ("source", models.CharField(max_length=200, verbose_name="source")),
                (
                    "document_number",
                    models.CharField(max_length=100, verbose_name="document number"),
                ),
                ("date", models.DateField(verbose_name="date")),
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
                (
                    "fund",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="movements",
                        to="loans.riskfund",
                    ),
                ),
            ],
            options={
                "verbose_name": "fund movement",
                "verbose_name_plural": "fund movements",
                "ordering": ["fund", "pk"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount__gt", 0)), name="fund_movement_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("balance_after__gte", 0)),
                        name="fund_movement_balance_not_negative",
                    ),
                ],
            },
        ),
    ]
