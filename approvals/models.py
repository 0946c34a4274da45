"""Decisions and objections. A decision is a fact and is never edited; an objection is
raised during posting and resolved once by a township reviewer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from applications.models import Application
from common import clock


class Decision(models.Model):
    """One row per transition taken on an application (the queryable twin of its audit
    entries: who decided what, when, why)."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="decisions")
    transition = models.CharField(_("step"), max_length=32)
    from_status = models.CharField(_("from"), max_length=20)
    to_status = models.CharField(_("to"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True)
    decided_at = models.DateTimeField(_("time"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["application", "decided_at", "id"]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.transition}"


class Objection(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("open")
        UPHELD = "upheld", _("upheld")
        DISMISSED = "dismissed", _("dismissed")

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="objections"
    )
    text = models.TextField(_("objection"), max_length=2000)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    raised_by_name = models.CharField(_("raised by"), max_length=50, blank=True)
    contact = models.CharField(_("contact"), max_length=50, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolution_reason = models.TextField(_("resolution"), blank=True)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("objection")
        verbose_name_plural = _("objections")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["application", "status"], name="objection_open_idx")]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.get_status_display()}"


class Attachment(models.Model):
    """A file uploaded to an application's record: the household's signed consent form, a
    photo of the pen or the sheep, the signed scan of the agreement. Kept for good: never
    deleted, its SHA-256 in the audit trail."""

    class Kind(models.TextChoices):
        CONSENT_FORM = "consent_form", _("signed consent form")
        PHOTO = "photo", _("photo")
        SIGNED_AGREEMENT = "signed_agreement", _("signed agreement")
        ACCEPTANCE_PHOTO = "acceptance_photo", _("acceptance visit photo")
        LOAN_CONTRACT = "loan_contract", _("signed loan contract")
        # An exit from poverty (脱贫销号): the head's signed confirmation of the verified
        # income (户主签字确认).
        EXIT_CONFIRMATION = "exit_confirmation", _("head's signed confirmation of exit")

    application = models.ForeignKey(
        Application,
        on_delete=models.PROTECT,
        related_name="attachments",
        verbose_name=_("application"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to="attachments/", max_length=200)
    original_name = models.CharField(_("original file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=50)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["application", "uploaded_at", "id"]
        indexes = [models.Index(fields=["application", "kind"], name="attachment_kind_idx")]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.get_kind_display()}"

    @property
    def download_name(self) -> str:
        """The name a download is given: ours (its kind, application and number, and the
        extension of the type its content was found to be), never the uploader's."""
        suffix = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(
            self.content_type, ".bin"
        )
        return f"{self.kind}-{self.application_id}-{self.pk}{suffix}"


class CardCheck(models.Model):
    """A county officer's check of the bank card a held payment would go to (DOMAIN rule 5:
    a card shared with another household, or changed shortly before the payment): checked
    with the bank or the household, recorded with a reason. It releases the hold for this
    application and this card only, and whoever recorded it may not make the payment."""

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="card_checks"
    )
    bank_card_hash = models.CharField(max_length=64, editable=False)
    bank_card_masked = models.CharField(_("bank card"), max_length=32, editable=False)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("checked by"),
    )
    reason = models.TextField(_("reason"), max_length=2000)
    checked_at = models.DateTimeField(_("checked at"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("bank card check")
        verbose_name_plural = _("bank card checks")
        ordering = ["application", "checked_at", "id"]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.bank_card_masked}"
