"""Payment rounds (发放批次): the payment list a finance officer draws up, a second person
approves, the bank is sent and answers line by line. A line is the snapshot of what was sent:
the payee, the card (encrypted like the registry's), the amount and a reference unique
across the system. The database itself keeps an application in at most one open line and
at most one paid line."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from applications.models import MAX_DIGITS, PLACES, Application, Household, Program
from common import clock


class PaymentRound(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        APPROVED = "approved", _("approved")
        SENT = "sent", _("sent to the bank")
        RECONCILED = "reconciled", _("reconciled")
        CANCELLED = "cancelled", _("cancelled")

    reference = models.CharField(_("reference"), max_length=32, unique=True, editable=False)
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="payment_rounds", verbose_name=_("program")
    )
    # The county or township the round pays in (a code prefix of its applications).
    area_code = models.CharField(_("area code"), max_length=12, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    count = models.PositiveIntegerField(_("lines"), default=0, editable=False)
    total = models.DecimalField(
        _("total"), default=0, max_digits=MAX_DIGITS, decimal_places=PLACES, editable=False
    )
    # The SHA-256 of the approved list's canonical content (frozen by the approval).
    list_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)
    approved_at = models.DateTimeField(null=True, editable=False)
    sent_at = models.DateTimeField(null=True, editable=False)
    reconciled_at = models.DateTimeField(null=True, editable=False)
    # The format of the bank file sent (``payments.formats.FORMATS``): the return file is
    # read in it when it is a county's own format.
    bank_format = models.CharField(max_length=16, blank=True, editable=False)
    # After payment (事后公告): its paid lines are on the village notice boards until then
    # (set when it is reconciled, from the program's ``announcement_days``).
    announced_until = models.DateTimeField(null=True, editable=False)

    class Meta:
        verbose_name = _("payment round")
        verbose_name_plural = _("payment rounds")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["area_code", "status"], name="payment_round_area_idx")]

    def __str__(self) -> str:
        return self.reference


# A line holds its application while it waits for the bank or was paid short (under
# investigation): no other round may take the application meanwhile.
HOLDING_STATUSES = ("pending", "sent", "discrepancy")


class PaymentLine(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        PAID = "paid", _("paid")
        FAILED = "failed", _("failed")
        DISCREPANCY = "discrepancy", _("paid amount differs")
        WITHDRAWN = "withdrawn", _("taken off the list")

    # Lines that hold their application: no other open round may take it.
    HOLDING = HOLDING_STATUSES

    round = models.ForeignKey(PaymentRound, on_delete=models.PROTECT, related_name="lines")
    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="payment_lines"
    )
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="+")
    # A line of a round of a program paid by claims rather than by its applications' paying
    # step (a loan program's interest subsidy): the claim it pays (``payments.hooks``).
    claim_id = models.BigIntegerField(null=True, editable=False)
    reference = models.CharField(_("line reference"), max_length=40, unique=True, editable=False)
    payee_name = models.CharField(_("account name"), max_length=50, editable=False)
    card_cipher = models.TextField(editable=False)
    card_hash = models.CharField(max_length=64, editable=False)
    card_masked = models.CharField(_("bank card"), max_length=32, editable=False)
    id_cipher = models.TextField(editable=False)
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=PLACES, editable=False
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING, editable=False
    )
    paid_amount = models.DecimalField(
        _("paid amount"), null=True, max_digits=MAX_DIGITS, decimal_places=PLACES, editable=False
    )
    result_code = models.CharField(_("bank result code"), max_length=16, blank=True, editable=False)
    failure_reason = models.CharField(
        _("failure reason"), max_length=200, blank=True, editable=False
    )
    bank_txn_id = models.CharField(_("bank transaction"), max_length=64, blank=True, editable=False)
    answered_at = models.DateTimeField(null=True, editable=False)

    class Meta:
        verbose_name = _("payment line")
        verbose_name_plural = _("payment lines")
        ordering = ["round", "id"]
        constraints = [
            # Never in two open rounds at once, never paid twice: the database refuses both.
            models.UniqueConstraint(
                fields=["application"],
                condition=Q(status__in=HOLDING_STATUSES, claim_id__isnull=True),
                name="payment_line_one_open",
            ),
            models.UniqueConstraint(
                fields=["application"],
                condition=Q(status="paid", claim_id__isnull=True),
                name="payment_line_paid_once",
            ),
            # A claim likewise: in one open round at most, and paid once.
            models.UniqueConstraint(
                fields=["claim_id"],
                condition=Q(status__in=HOLDING_STATUSES),
                name="payment_line_claim_one_open",
            ),
            models.UniqueConstraint(
                fields=["claim_id"], condition=Q(status="paid"), name="payment_line_claim_paid_once"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_line_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.reference


class RoundExclusion(models.Model):
    """An application of the round's area that the round did not take, and why."""

    round = models.ForeignKey(PaymentRound, on_delete=models.PROTECT, related_name="exclusions")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("code"), max_length=40)
    reason = models.CharField(_("reason"), max_length=300)

    class Meta:
        verbose_name = _("left out of a round")
        verbose_name_plural = _("left out of rounds")
        ordering = ["round", "application_id"]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.code}"


class ReturnImport(models.Model):
    """A bank return file applied to a round. The same file (by its SHA-256) is applied to a
    round once: importing it again changes nothing."""

    round = models.ForeignKey(PaymentRound, on_delete=models.PROTECT, related_name="imports")
    sha256 = models.CharField(max_length=64, editable=False)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    imported_at = models.DateTimeField(default=clock.now, editable=False)
    paid = models.PositiveIntegerField(default=0, editable=False)
    failed = models.PositiveIntegerField(default=0, editable=False)
    discrepancies = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("bank return file")
        verbose_name_plural = _("bank return files")
        constraints = [
            models.UniqueConstraint(fields=["round", "sha256"], name="return_import_once"),
        ]

    def __str__(self) -> str:
        return f"{self.round_id}: {self.sha256[:12]}"


class Acceptance(models.Model):
    """A township's acceptance visit (验收) of the work a 先建后补 subsidy pays for, recorded
    after the county's approval and before payment. A failed visit blocks payment until the
    county allows a second visit after rectification (整改)."""

    class Result(models.TextChoices):
        # Of an inspection (合格/不合格), not of a payment (成功/失败).
        PASSED = "passed", pgettext_lazy("acceptance", "passed")
        FAILED = "failed", pgettext_lazy("acceptance", "failed")

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="acceptances"
    )
    visit = models.PositiveSmallIntegerField(_("visit"), default=1, editable=False)
    result = models.CharField(_("result"), max_length=8, choices=Result.choices)
    notes = models.TextField(_("notes"), blank=True)
    inspected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    inspected_at = models.DateTimeField(default=clock.now, editable=False)
    # A failed visit: the county official who allowed another after rectification.
    rectification_allowed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("acceptance visit")
        verbose_name_plural = _("acceptance visits")
        ordering = ["application", "visit"]
        constraints = [
            models.UniqueConstraint(fields=["application", "visit"], name="acceptance_visit_once")
        ]

    def __str__(self) -> str:
        return f"{self.application_id} #{self.visit}: {self.result}"


class AcceptanceSample(models.Model):
    """The county's random sample of accepted applications to re-check. The seed is on the
    record, so an inspector can draw the same sample again and see that nobody chose it."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    area_code = models.CharField(_("area code"), max_length=12, editable=False)
    seed = models.CharField(max_length=64, editable=False)
    percent = models.PositiveSmallIntegerField(editable=False)
    # The applications drawn from, in the order the draw used (ids, ascending).
    population = models.JSONField(default=list, editable=False)
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    drawn_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("acceptance sample")
        verbose_name_plural = _("acceptance samples")

    def __str__(self) -> str:
        return f"{self.program_id} {self.area_code} {self.drawn_at:%Y-%m-%d}"


class SampledAcceptance(models.Model):
    """One application of a county sample, and its re-check once recorded."""

    sample = models.ForeignKey(AcceptanceSample, on_delete=models.PROTECT, related_name="items")
    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="acceptance_sample"
    )
    result = models.CharField(
        _("re-check"), max_length=8, choices=Acceptance.Result.choices, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("sampled application")
        verbose_name_plural = _("sampled applications")

    def __str__(self) -> str:
        return f"{self.application_id}: {self.result or '-'}"
