from django.db import migrations


class Migration(migrations.Migration):
    """The process model serves every chain, not only subsidies. Processes keep their rows
    (the table is renamed) and their stored flow class paths and node names."""

    dependencies = [
        ("applications", "0001_initial"),
        ("viewflow", "0015_task_scheduled"),
        ("workflows", "0001_subsidy_process"),
    ]

    operations = [
        migrations.RenameModel("SubsidyProcess", "ApplicationProcess"),
        migrations.AlterModelOptions(
            name="applicationprocess",
            options={
                "verbose_name": "application process",
                "verbose_name_plural": "application processes",
            },
        ),
    ]
