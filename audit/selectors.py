"""Reads of the ledger. Whom an entry may be shown to is the caller's to decide (the
entries of an application are read once the application is in the reader's area)."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEntry


def audit_history_of(*, object_type: str, object_id: object) -> QuerySet[AuditEntry]:
    """The entries about one object, oldest first, without the records of someone merely
    opening it (``<object_type>.view``): its history as a timeline shows it."""
    return (
        AuditEntry.objects.filter(object_type=object_type, object_id=str(object_id))
        .exclude(action=f"{object_type}.view")
        .order_by("created_at", "id")
    )
