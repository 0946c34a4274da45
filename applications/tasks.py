"""Background jobs of the registry (Django's tasks API, as ``documents.tasks``)."""

from __future__ import annotations

from django_tasks import task


@task()
def household_import_task(import_id: int) -> None:
    # Imported here: the import service declares this task as the one its queue enqueues.
    from applications.imports import household_import_run

    household_import_run(import_id=import_id)
