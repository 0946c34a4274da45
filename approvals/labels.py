"""What the pages call the steps of the chain and the actions on the record: the buttons, the
application's timeline and the inspectors' search all name them from here."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

STEP_LABELS: dict[str, Promise] = {
    "submit": _("Submit"),
    "start_posting": _("Start posting"),
    "close_posting": _("Close posting"),
    "township_approve": _("Approve (township)"),
    "county_approve": _("Approve (county)"),
    "return": _("Return for correction"),
    "reject": _("Reject"),
    "withdraw": _("Withdraw"),
    "disburse": _("Pay"),
}

# Every action the ledger records (the ``action`` of an ``AuditEntry``), in the order the
# inspectors' search suggests them.
ACTION_LABELS: dict[str, Promise] = {
    "application.create": _("filed"),
    "application.update": _("edited"),
    **{f"application.{name}": label for name, label in STEP_LABELS.items()},
    "application.view": _("opened"),
    "application.kin_flag": _("close relative of an official: flagged, recused"),
    "application.card_check": _("bank card checked"),
    "objection.raise": _("objection raised"),
    "objection.resolve": _("objection resolved"),
    "attachment.add": _("file attached"),
    "document.issue": _("document issued"),
    "document_batch.request": _("document batch requested"),
    "document_batch.finish": _("document batch finished"),
    "document_batch.requeue": _("document batch queued again"),
    "document_batch.fail": _("document batch failed"),
    "task.claim": _("task claimed"),
    "task.release": _("task released"),
    "task.reassign": _("task handed over"),
    "household.create": _("household registered"),
    "household.update": _("household edited"),
    "household.shared_card": _("bank card shared with another household"),
    "kin.declare": _("relative declared"),
    "person.reveal_id": _("ID number revealed"),
    "role.grant": _("role granted"),
    "user.create": _("user created"),
    "area.create": _("area created"),
    "program.create": _("program created"),
    "program.version_add": _("program parameters added"),
    "audit.verify": _("ledger verified"),
    "audit.export": _("audit trail exported"),
    "audit.anchor": _("ledger anchored"),
}


def action_label(action: str) -> str:
    """The action's name on a page; an action without one shows as recorded."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action
