"""Issued documents. A document is rendered once, stored, and from then on only served:
its SHA-256 is in the audit trail, and its short verification code (printed on the paper
and in its QR code) lets anyone check that a copy is genuine and unchanged."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from applications.models import Application, Household
from common.models import BatchJob


class StoredDocument(models.Model):
    class Kind(models.TextChoices):
        AGREEMENT = "agreement", _("household industry support agreement")
        DECISION_LETTER = "decision_letter", _("decision letter")
        NOTICE = "notice", _("public notice")
        BENEFITS_CARD = "benefits_card", _("benefits card")
        PAYMENT_LIST = "payment_list", _("payment list")
        LOAN_CARD = "loan_card", _("loan card")
        SUBSIDY_LIST = "subsidy_list", _("interest subsidy list")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # What the document is about, as a stable key ("application:12", "decision:34",
    # "village:<code>:<digest>"): the same subject is issued once, then served.
    subject_key = models.CharField(_("subject"), max_length=200)
    application = models.ForeignKey(
        Application,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
        verbose_name=_("application"),
    )
    household = models.ForeignKey(
        Household,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
        verbose_name=_("household"),
    )
    area_code = models.CharField(_("area code"), max_length=12)
    title = models.CharField(_("title"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    verification_code = models.CharField(_("verification code"), max_length=16, unique=True)
    file = models.FileField(_("file"), upload_to="documents/", max_length=200)
    size = models.PositiveIntegerField(_("size (bytes)"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("issued at"))

    class Meta:
        verbose_name = _("issued document")
        verbose_name_plural = _("issued documents")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject_key"], name="document_subject_unique"),
        ]
        indexes = [
            models.Index(
                fields=["area_code"], name="document_area_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.verification_code}"


class DocumentBatch(BatchJob):
    """A background job issuing one kind of document for a whole township (the agreements
    of its approved applications, or the notices of its villages), with its progress and,
    when done, one ZIP of the PDFs. Its state, heartbeat, attempts and task are the batch
    runner's (``common.batches``)."""

    class Kind(models.TextChoices):
        AGREEMENTS = "agreements", _("agreements of the approved applications")
        NOTICES = "notices", _("public notices of the villages")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    township_code = models.CharField(_("township code"), max_length=12)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    total = models.PositiveIntegerField(_("documents in the batch"), default=0)
    done = models.PositiveIntegerField(_("documents issued"), default=0)
    zip_file = models.FileField(_("ZIP file"), upload_to="batches/", max_length=200, blank=True)

    class Meta:
        verbose_name = _("document batch")
        verbose_name_plural = _("document batches")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.township_code}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)
