import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0008_announcement_days"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Bank",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.SlugField(max_length=32, unique=True, verbose_name="code")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
            ],
            options={
                "verbose_name": "bank",
                "verbose_name_plural": "banks",
                "ordering": ["code"],
            },
        ),
        migrations.AlterModelOptions(
            name="area",
            options={
                "ordering": ["code"],
                "permissions": [
                    ("act_village_cadre", "Act as village cadre in this area"),
                    ("act_township_reviewer", "Act as township reviewer in this area"),
                    ("act_county_approver", "Act as county approver in this area"),
                    ("act_finance_officer", "Act as finance officer in this area"),
                    ("act_inspector", "Act as inspector in this area"),
                    ("act_bank_officer", "Act as a bank's loan officer in this county"),
                    ("reveal_id_number", "Reveal full ID numbers in this area"),
                ],
                "verbose_name": "area",
                "verbose_name_plural": "areas",
            },
        ),
        migrations.CreateModel(
            name="BankOfficer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "bank",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="officers",
                        to="applications.bank",
                    ),
                ),
                (
                    "county",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="applications.area",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="bank_posts",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "bank officer",
                "verbose_name_plural": "bank officers",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "bank", "county"), name="bank_officer_unique"
                    )
                ],
            },
        ),
    ]
