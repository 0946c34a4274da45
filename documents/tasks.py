"""Background jobs (Django's tasks API; the database backend and ``manage.py db_worker``
in production, the immediate backend when ``FUPIN_TASKS_IMMEDIATE`` is set)."""

from __future__ import annotations

from django_tasks import task


@task()
def document_batch_task(batch_id: int) -> None:
    # Imported here: the batch service declares this task as the one its queue enqueues.
    from documents.services.batches import document_batch_run

    document_batch_run(batch_id=batch_id)
