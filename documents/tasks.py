"""Background jobs (Django's tasks API; the database backend and ``manage.py db_worker``
in production, the immediate backend when ``FUPIN_TASKS_IMMEDIATE`` is set)."""

from __future__ import annotations

from django_tasks import task

from documents.services import document_batch_run


@task()
def document_batch_task(batch_id: int) -> None:
    document_batch_run(batch_id=batch_id)
