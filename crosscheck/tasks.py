"""Background jobs of the cross-checks (Django's tasks API, as ``documents.tasks``)."""

from __future__ import annotations

from django_tasks import task


@task()
def scan_task(scan_id: int) -> None:
    # Imported here: the scan service declares this task as the one its queue enqueues.
    from crosscheck.services import scan_run

    scan_run(scan_id=scan_id)
