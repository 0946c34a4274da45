"""What the pages call the steps of the chain and the actions on the record: the buttons, the
application's timeline and the inspectors' search all name them from here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from applications.chains import chains_generation, step_label, step_names
from audit.services import PUBLIC_ACTOR_NAME, SYSTEM_ACTOR_NAME


class _StepLabels(Mapping[str, Promise]):
    """The steps of every chain by name, with the label their declaration gives
    (``applications.chains``): a chain registered later is named here too."""

    def __getitem__(self, name: str) -> Promise:
        label = step_label(name)
        if label is None:
            raise KeyError(name)
        return label

    def __iter__(self) -> Iterator[str]:
        return iter(step_names())

    def __len__(self) -> int:
        return len(step_names())


STEP_LABELS: Mapping[str, Promise] = _StepLabels()

# Every action the ledger records (the ``action`` of an ``AuditEntry``) other than the steps
# (``application.<step>``), in the order the inspectors' search suggests them.
_OTHER_ACTIONS: dict[str, Promise] = {
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
    "household.status": _("household's status changed (exit or return)"),
    "household.export": _("registry exported"),
    "application.export": _("applications exported"),
    "payment.export": _("payments exported"),
    "loan.export": _("microloans exported"),
    "household_import.request": _("registry sheet sent"),
    "household_import.finish": _("registry sheet checked or imported"),
    "household_import.requeue": _("registry import queued again"),
    "household_import.fail": _("registry import failed"),
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
    "payment_round.create": _("payment round drawn up"),
    "payment_round.approve": _("payment round approved"),
    "payment_round.cancel": _("payment round cancelled"),
    "payment_round.export": _("bank file downloaded"),
    "payment_round.return_import": _("bank return file imported"),
    "acceptance.record": _("acceptance visit recorded"),
    "acceptance.recheck": _("acceptance re-checked by the county"),
    "acceptance.rectification_allow": _("rectification allowed"),
    "acceptance.sample_draw": _("acceptance sample drawn"),
    "program.loan_parameters": _("loan parameters set"),
    "reference_rate.add": _("reference rate added"),
    "risk_fund.deposit": _("deposit into the risk fund"),
    "loan.repayment": _("loan repayment recorded"),
    "loan.standing": _("loan status changed (days past due)"),
    "loan.compensation": _("loan compensated by the risk fund"),
    "loan.recovery": _("money recovered on a compensated loan"),
    "loan.write_off": _("loan written off by the bank"),
    "interest_subsidy.settle": _("interest subsidy settled"),
    "subsidy_claim.approve": _("interest subsidy claim approved"),
    "subsidy_claim.pay": _("interest subsidy paid to the household"),
    "interest_subsidy.bank_transfer": _("interest subsidy paid to the bank"),
    "crosscheck.list_upload": _("department's list uploaded"),
    "integrity_scan.request": _("cross-check scan requested"),
    "integrity_scan.finish": _("cross-check scan finished"),
    "integrity_scan.requeue": _("cross-check scan queued again"),
    "integrity_scan.fail": _("cross-check scan failed"),
    "lead.list": _("leads read (a list)"),
    "lead.read": _("lead read"),
    "lead.export": _("leads exported"),
    "lead.dispose": _("conclusion on a lead recorded"),
    "lead.reopen": _("lead opened again (its evidence changed)"),
}


_FILING: dict[str, Promise] = {
    "application.create": _("filed"),
    "application.update": _("edited"),
}


class _ActionLabels(Mapping[str, Promise]):
    """Filing, then each step of every chain, then the other actions: worked out once per
    state of the chains' registry."""

    def __init__(self) -> None:
        self._built: tuple[int, dict[str, Promise]] | None = None

    def _all(self) -> dict[str, Promise]:
        generation = chains_generation()
        if self._built is None or self._built[0] != generation:
            steps = {f"application.{name}": STEP_LABELS[name] for name in STEP_LABELS}
            self._built = (generation, {**_FILING, **steps, **_OTHER_ACTIONS})
        return self._built[1]

    def __getitem__(self, action: str) -> Promise:
        return self._all()[action]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


ACTION_LABELS: Mapping[str, Promise] = _ActionLabels()


def action_label(action: str) -> str:
    """The action's name on a page; an action without one shows as recorded."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


# The states of a process's task, as the task's entries record them (viewflow's codes).
TASK_STATE_LABELS: Mapping[str, Promise] = {
    "NEW": _("waiting to be claimed"),
    "ASSIGNED": _("claimed"),
    "STARTED": _("started"),
    "DONE": _("done"),
    "CANCELED": _("cancelled"),
    "ERROR": _("failed"),
}


# Who acted, when it was nobody signed in (the ledger records the names below).
_ACTOR_LABELS: Mapping[str, Promise] = {
    SYSTEM_ACTOR_NAME: _("the system"),
    PUBLIC_ACTOR_NAME: _("the public"),
}


def actor_label(name: str) -> str:
    """A recorded actor's name on a page: a user's own name, or the system, or the public."""
    label = _ACTOR_LABELS.get(name)
    return str(label) if label is not None else name


# What an entry is about (its ``object_type``).
OBJECT_LABELS: Mapping[str, Promise] = {
    "application": _("application"),
    "household": _("household"),
    "person": _("household member"),
    "user": _("user"),
    "area": _("area"),
    "county": _("county"),
    "bank": _("bank"),
    "program": _("program"),
    "document": _("document"),
    "document_batch": _("document batch"),
    "payment_round": _("payment round"),
    "payment_line": _("payment line"),
    "acceptance_sample": _("acceptance sample"),
    "loan": _("loan"),
    "subsidy_claim": _("interest subsidy claim"),
    "risk_fund": _("risk fund"),
    "reference_rate": _("reference rate"),
    "ledger": _("ledger"),
    "reference_list": _("department's list"),
    "integrity_scan": _("cross-check scan"),
    "lead": _("lead"),
    "household_import": _("registry import"),
}


def object_label(code: str) -> str:
    label = OBJECT_LABELS.get(code)
    return str(label) if label is not None else code
