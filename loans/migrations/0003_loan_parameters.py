import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0008_announcement_days"),
        ("loans", "0002_published_rates"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoanParameters",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "min_age",
                    models.PositiveSmallIntegerField(
                        default=18, verbose_name="youngest borrower (years)"
                    ),
                ),
                (
                    "max_age",
                    models.PositiveSmallIntegerField(
                        default=65, verbose_name="oldest borrower (years)"
                    ),
                ),
                (
                    "eligible_statuses",
                    models.JSONField(
                        default=list, verbose_name="household statuses that may borrow"
                    ),
                ),
                (
                    "rate_rule",
                    models.CharField(
                        choices=[("benchmark", "benchmark rate"), ("lpr", "loan prime rate")],
                        default="benchmark",
                        max_length=16,
                        verbose_name="reference rate",
                    ),
                ),
                (
                    "rate_spread_max",
                    models.DecimalField(
                        decimal_places=4,
                        default=0,
                        max_digits=6,
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(10),
                        ],
                        verbose_name="most a bank may add to the reference rate (points)",
                    ),
                ),
                (
                    "subsidy_share",
                    models.DecimalField(
                        decimal_places=2,
                        default=100,
                        max_digits=5,
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(100),
                        ],
                        verbose_name="share of the interest subsidised (%)",
                    ),
                ),
                (
                    "subsidy_principal_cap",
                    models.DecimalField(
                        decimal_places=2,
                        default=50000,
                        max_digits=12,
                        validators=[django.core.validators.MinValueValidator(0)],
                        verbose_name="principal the subsidy is paid on, at most",
                    ),
                ),
                (
                    "settlement",
                    models.CharField(
                        choices=[
                            ("yearly", "yearly, on 20 December"),
                            (
                                "quarterly",
                                "quarterly, on the 20th of March, June, September, December",
                            ),
                            ("at_maturity", "at maturity (terms of 12 months or less)"),
                        ],
                        default="quarterly",
                        max_length=16,
                        verbose_name="subsidy settlement",
                    ),
                ),
                (
                    "day_count",
                    models.CharField(default="act_360", max_length=8, verbose_name="day count"),
                ),
                (
                    "grace_days",
                    models.PositiveSmallIntegerField(
                        default=0, verbose_name="days of grace for interest"
                    ),
                ),
                (
                    "payee",
                    models.CharField(
                        choices=[("household", "the household (先收后贴)"), ("bank", "the bank")],
                        default="household",
                        max_length=16,
                        verbose_name="subsidy paid to",
                    ),
                ),
                (
                    "repayment_methods",
                    models.JSONField(default=list, verbose_name="repayment methods allowed"),
                ),
                (
                    "allowed_purposes",
                    models.JSONField(default=list, verbose_name="purposes allowed"),
                ),
                (
                    "forbidden_purposes",
                    models.JSONField(default=list, verbose_name="purposes forbidden"),
                ),
                (
                    "leverage",
                    models.DecimalField(
                        decimal_places=2,
                        default=10,
                        max_digits=5,
                        validators=[django.core.validators.MinValueValidator(0)],
                        verbose_name="loans the fund covers, times its balance",
                    ),
                ),
                (
                    "compensation_after_days",
                    models.PositiveSmallIntegerField(
                        default=90, verbose_name="days past due before the fund compensates"
                    ),
                ),
                (
                    "fund_share",
                    models.DecimalField(
                        decimal_places=2,
                        default=70,
                        max_digits=5,
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(100),
                        ],
                        verbose_name="share of a bad loan the fund bears (%)",
                    ),
                ),
                (
                    "compensation_base",
                    models.CharField(
                        choices=[
                            ("principal", "principal"),
                            ("principal_and_interest", "principal and interest"),
                        ],
                        default="principal",
                        max_length=24,
                        verbose_name="compensated on",
                    ),
                ),
                (
                    "version",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="loan",
                        to="applications.programversion",
                    ),
                ),
            ],
            options={
                "verbose_name": "loan parameters",
                "verbose_name_plural": "loan parameters",
            },
        ),
    ]
