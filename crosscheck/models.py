"""Other departments' lists (public servants, vehicles, property, businesses, deaths, moves),
the scans that compare them and the record with the registry, and the leads (问题线索) the
scans find, which inspectors work through.

ID numbers are kept as the registry keeps them, minus the clear number: a keyed hash to
match on and the masked form to show. The uploaded file itself is not stored (its SHA-256
is): nothing here can give a full ID number back."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from applications.models import MAX_DIGITS, PLACES, Application, Household
from common import clock
from common.models import BatchJob


class ReferenceList(models.Model):
    """One department's list for a county, as uploaded. The newest of a kind (by its date,
    then by its upload) is the one later scans use."""

    class Kind(models.TextChoices):
        PUBLIC_SERVANT = "public_servant", _("public servants (paid from the budget)")
        VEHICLE = "vehicle", _("vehicle registrations")
        PROPERTY = "property", _("commercial property")
        BUSINESS = "business", _("business registrations")
        DECEASED = "deceased", _("deaths")
        MOVED_OUT = "moved_out", _("household registration moves")

    county_code = models.CharField(_("county"), max_length=6)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    source = models.CharField(_("source"), max_length=200)
    as_of = models.DateField(_("as of"))
    file_name = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=clock.now, editable=False)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_kept = models.PositiveIntegerField(_("rows kept"), default=0)
    rows_skipped = models.PositiveIntegerField(_("rows skipped"), default=0)
    # The first skipped rows, as [{"row", "column", "message"}] (the count is above).
    skipped = models.JSONField(_("rows skipped, with reasons"), default=list)

    class Meta:
        verbose_name = _("reference list")
        verbose_name_plural = _("reference lists")
        ordering = ["-as_of", "-uploaded_at", "-id"]
        indexes = [models.Index(fields=["county_code", "kind"], name="reflist_county_kind_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["county_code", "kind", "sha256"], name="reflist_file_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.source} {self.as_of}"


class ReferenceRow(models.Model):
    """One person's row of a list: what matches (the keyed hash of the ID number) and what
    the evidence shows. ``detail`` is the list's text (the employer, the plate, the
    address, the business's name), ``category`` its class (a property's type, a
    business's status), ``value`` a vehicle's value, ``date`` a death's or a move's."""

    list = models.ForeignKey(ReferenceList, on_delete=models.CASCADE, related_name="rows")
    row = models.PositiveIntegerField(_("row in the file"))
    id_hash = models.CharField(max_length=64)
    id_masked = models.CharField(_("ID number"), max_length=18)
    name = models.CharField(_("name"), max_length=50)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=40, blank=True)
    value = models.DecimalField(
        _("value"), max_digits=MAX_DIGITS, decimal_places=PLACES, null=True, blank=True
    )
    date = models.DateField(_("date"), null=True, blank=True)

    class Meta:
        verbose_name = _("reference row")
        verbose_name_plural = _("reference rows")
        indexes = [models.Index(fields=["list", "id_hash"], name="refrow_list_hash_idx")]

    def __str__(self) -> str:
        return f"{self.id_masked} {self.name}"


class Scan(BatchJob):
    """One run of every rule over a county: who asked, which lists (with their hashes), the
    rules and their parameters, what each rule found, and how long it took. Its state,
    heartbeat, attempts and task are the batch runner's (``common.batches``); its progress
    counts rules."""

    county_code = models.CharField(_("county"), max_length=6)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    lists = models.JSONField(_("lists used"), default=list)
    rules = models.JSONField(_("rules and parameters"), default=dict)
    counts = models.JSONField(_("leads per rule"), default=dict)
    leads_found = models.PositiveIntegerField(_("leads found"), default=0)
    leads_new = models.PositiveIntegerField(_("new leads"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("integrity scan")
        verbose_name_plural = _("integrity scans")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.county_code} #{self.pk}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)


class Lead(models.Model):
    """Something a rule found (问题线索), for an inspector to check. A later scan that finds
    it again (the same ``key``) updates it rather than adding another; a cleared lead opens
    again only when its evidence (``fingerprint``) changes."""

    class Severity(models.TextChoices):
        HIGH = "high", _("high")
        MEDIUM = "medium", _("medium")
        LOW = "low", _("low")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CONFIRMED = "confirmed", _("confirmed")
        CLEARED = "cleared", _("cleared")

    county_code = models.CharField(_("county"), max_length=6)
    area_code = models.CharField(_("area code"), max_length=12)
    key = models.CharField(max_length=200)
    rule = models.CharField(_("rule"), max_length=40)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("household"),
    )
    application = models.ForeignKey(
        Application,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("application"),
    )
    person_masked = models.CharField(_("person"), max_length=80, blank=True)
    # What matched, for the sentence (rendered in the reader's language) and the table.
    facts = models.JSONField(_("evidence"), default=dict)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.OPEN
    )
    note = models.TextField(_("note"), blank=True)
    disposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("disposed by"),
    )
    disposed_at = models.DateTimeField(_("disposed at"), null=True, blank=True)
    first_seen_scan = models.ForeignKey(
        Scan, on_delete=models.PROTECT, related_name="+", verbose_name=_("first found by")
    )
    last_seen_scan = models.ForeignKey(
        Scan, on_delete=models.PROTECT, related_name="+", verbose_name=_("last found by")
    )
    created_at = models.DateTimeField(_("found at"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["county_code", "key"], name="lead_key_unique"),
        ]
        indexes = [
            models.Index(fields=["county_code", "rule"], name="lead_county_rule_idx"),
            models.Index(
                fields=["area_code"], name="lead_area_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.key}"


class LeadSighting(models.Model):
    """That a scan found a lead: the leads of a scan, whichever scan found them first."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="sightings")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="sightings")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scan", "lead"], name="sighting_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scan_id}:{self.lead_id}"
