"""The registry (areas, households, programs) and the applications that move along the chain.

Scope is data: every household and application carries the 12-digit code of its village,
and "everything in township T" is a prefix match on that code.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from common import clock
from common.models import BatchJob

MAX_DIGITS, PLACES = 14, 2  # money: Decimal yuan with two places, never float
area_code_validator = RegexValidator(r"^\d{12}$", _("An area code has 12 digits."))


class Area(models.Model):
    class Level(models.TextChoices):
        COUNTY = "county", _("county")
        TOWNSHIP = "township", _("township")
        VILLAGE = "village", _("village")

    code = models.CharField(
        _("area code"), max_length=12, primary_key=True, validators=[area_code_validator]
    )
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["code"]
        permissions = [
            ("act_village_cadre", _("Act as village cadre in this area")),
            ("act_township_reviewer", _("Act as township reviewer in this area")),
            ("act_county_approver", _("Act as county approver in this area")),
            ("act_finance_officer", _("Act as finance officer in this area")),
            ("act_inspector", _("Act as inspector in this area")),
            ("act_bank_officer", _("Act as a bank's loan officer in this county")),
            ("reveal_id_number", _("Reveal full ID numbers in this area")),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def prefix(self) -> str:
        """The code prefix that selects everything inside this area."""
        return area_prefix(self.code, self.level)

    @property
    def county_code(self) -> str:
        return self.code[:6] + "000000"


def area_prefix(code: str, level: str) -> str:
    if level == Area.Level.COUNTY:
        return code[:6]
    if level == Area.Level.TOWNSHIP:
        return code[:9]
    return code


class Household(models.Model):
    class Kind(models.TextChoices):
        GENERAL = "general", _("general poor household")
        SUBSISTENCE = "subsistence", _("minimum-subsistence poor household")
        EXTREME = "extreme", _("extremely poor, state-supported household")

    class Status(models.TextChoices):
        REGISTERED = "registered", _("registered")
        EXITED = "exited", _("exited poverty")
        RETURNED = "returned", _("returned to poverty")

    class Cause(models.TextChoices):
        ILLNESS = "illness", _("illness")
        DISABILITY = "disability", _("disability")
        SCHOOLING = "schooling", _("schooling costs")
        DISASTER = "disaster", _("disaster")
        LAND = "land", _("lack of land")
        WATER = "water", _("lack of water")
        SKILLS = "skills", _("lack of skills")
        LABOUR = "labour", _("lack of labour")
        CAPITAL = "capital", _("lack of capital")
        TRANSPORT = "transport", _("poor transport")
        MOTIVATION = "motivation", _("lack of motivation")

    area = models.ForeignKey(
        Area, on_delete=models.PROTECT, related_name="households", verbose_name=_("village")
    )
    area_code = models.CharField(_("area code"), max_length=12, editable=False)
    head_name = models.CharField(_("head of household"), max_length=50)
    head_id_masked = models.CharField(_("head's ID number"), max_length=18, editable=False)
    household_type = models.CharField(_("household type"), max_length=16, choices=Kind.choices)
    poverty_causes = models.JSONField(_("causes of poverty"), default=list)
    # Changed only by the exit and return chains (``applications.chains``): the county's
    # approval of an exit (脱贫销号) or of a return to poverty (返贫挂号), on ``status_since``.
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.REGISTERED,
        editable=False,
    )
    status_since = models.DateField(_("status since"), null=True, blank=True, editable=False)
    bank_card_cipher = models.TextField(editable=False)
    bank_card_hash = models.CharField(max_length=64, editable=False, db_index=True)
    bank_card_masked = models.CharField(_("bank card"), max_length=32, editable=False)
    # The name on the card (户名), recorded with it: payment goes only to a card in the
    # head's name (DOMAIN rule 5), and the bank checks this name against the account.
    bank_card_holder = models.CharField(_("card holder's name"), max_length=50, editable=False)
    bank_card_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    phone = models.CharField(
        _("phone"), max_length=20, validators=[RegexValidator(r"^1\d{10}$|^0\d{9,11}$")]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        indexes = [
            models.Index(
                fields=["area_code"], name="household_area_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["head_name"], name="household_head_name_idx"),
            # The cards changed lately, which hold a payment for a check (DOMAIN rule 5).
            models.Index(
                fields=["bank_card_changed_at"],
                condition=Q(bank_card_changed_at__isnull=False),
                name="household_card_changed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.head_name} ({self.head_id_masked})"


class BankCardHolders(models.Model):
    """How many households hold each bank card (by its lookup hash): a card held by more than
    one is a red flag (DOMAIN rule 5). Kept by the database itself, by triggers on the
    households' table (``applications.card_holders``), so that no way of writing a household
    (a service, an import, a bulk load, the admin) can leave it behind; it is never written
    from Python. The shared cards are then read from a small partial index instead of by
    counting every household's card: at a million households that count took 0.4 s."""

    card_hash = models.CharField(max_length=64, primary_key=True, editable=False)
    households = models.PositiveIntegerField(editable=False)

    class Meta:
        verbose_name = _("holders of a bank card")
        verbose_name_plural = _("holders of bank cards")
        indexes = [
            models.Index(
                fields=["card_hash"], condition=Q(households__gt=1), name="bank_card_shared_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.card_hash[:16]}…: {self.households}"

    @classmethod
    def shared(cls) -> models.QuerySet[BankCardHolders]:
        """The cards held by more than one household (the partial index's rows)."""
        return cls.objects.filter(households__gt=1)


class Person(models.Model):
    """A member of a household, the head included. The ID number's keyed hash is unique
    across the whole registry: one person, one household."""

    class Relation(models.TextChoices):
        HEAD = "head", _("head of household")
        SPOUSE = "spouse", _("spouse")
        CHILD = "child", _("child")
        PARENT = "parent", _("parent")
        SIBLING = "sibling", _("sibling")
        GRANDPARENT = "grandparent", _("grandparent")
        GRANDCHILD = "grandchild", _("grandchild")
        OTHER = "other", _("other")

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(_("name"), max_length=50)
    relation = models.CharField(_("relation"), max_length=16, choices=Relation.choices)
    id_cipher = models.TextField(editable=False)
    id_hash = models.CharField(max_length=64, unique=True, editable=False)
    id_masked = models.CharField(_("ID number"), max_length=18, editable=False)

    class Meta:
        verbose_name = _("household member")
        verbose_name_plural = _("household members")
        constraints = [
            models.UniqueConstraint(
                fields=["household"], condition=Q(relation="head"), name="one_head_per_household"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id_masked})"


class Program(models.Model):
    class Kind(models.TextChoices):
        SUBSIDY = "subsidy", _("subsidy")
        LOAN = "loan", _("loan")
        # Not money: the household's exit from poverty (脱贫销号) and its return (返贫挂号),
        # each a chain of its own travelled by a "program" of the county that holds its
        # parameters (the posting's days, the monitoring's deadline, the income line).
        EXIT = "exit", _("exit from poverty")
        RETURN = "return", _("return to poverty")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    area = models.ForeignKey(
        Area, on_delete=models.PROTECT, related_name="programs", verbose_name=_("county")
    )
    budget = models.DecimalField(
        _("budget"), validators=[MinValueValidator(0)], max_digits=MAX_DIGITS, decimal_places=PLACES
    )
    # The running total of approved applications (approved or disbursed): raised by
    # ``county_approve`` under the program row's lock, in the approval's transaction, so
    # the budget check reads one row; ``verify_audit`` checks it against the audit trail.
    committed = models.DecimalField(
        _("committed"),
        default=Decimal("0.00"),
        editable=False,
        max_digits=MAX_DIGITS,
        decimal_places=PLACES,
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("programs")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(committed__gte=0), name="program_committed_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name


class ProgramVersion(models.Model):
    """Effective-dated parameters of a program, with the policy text they come from.
    Versions are never edited once an application was decided under them; a change of
    policy is a new version."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="versions")
    effective_from = models.DateField(_("effective from"))
    policy_reference = models.CharField(_("policy reference"), max_length=200)
    household_cap = models.DecimalField(
        _("cap per household"),
        validators=[MinValueValidator(0)],
        max_digits=MAX_DIGITS,
        decimal_places=PLACES,
    )
    posting_days = models.PositiveSmallIntegerField(_("posting period (days)"), default=7)
    loan_max_amount = models.DecimalField(
        _("maximum loan"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        max_digits=MAX_DIGITS,
        decimal_places=PLACES,
    )
    loan_max_months = models.PositiveSmallIntegerField(
        _("maximum term (months)"), null=True, blank=True
    )
    # A payment is held when the household's bank card was changed fewer days than this
    # before it (DOMAIN rule 5; 0 switches the hold off). The default covers one monthly
    # payment round: a card swapped in just before a payment is the trace of 冒领.
    card_change_hold_days = models.PositiveSmallIntegerField(
        _("payment hold after a bank card change (days)"), default=30
    )
    # 先建后补: the township inspects the work before payment (验收), and the county re-checks
    # a random sample of the accepted applications (at least 20% in the seeds' practice).
    acceptance_required = models.BooleanField(_("acceptance before payment"), default=False)
    acceptance_sample_percent = models.PositiveSmallIntegerField(
        _("county re-check sample (percent)"),
        default=20,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    # Exited households keep their policies for the transition period (脱贫不脱政策): where
    # this is set, they may still apply to the program.
    exited_eligible = models.BooleanField(_("open to exited households"), default=False)
    # A return to poverty (返贫监测): identification is finished within this many days of
    # the risk signal (the queues show the days left).
    monitoring_days = models.PositiveSmallIntegerField(
        _("identification deadline (days)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    # An exit: the household's per-capita income for the year must reach this line (yuan;
    # None: no line checked).
    income_line = models.DecimalField(
        _("income line per person (yuan a year)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        max_digits=MAX_DIGITS,
        decimal_places=PLACES,
    )
    # After payment (事后公告): the paid lines of a reconciled round stay on the village
    # notice boards this many days.
    announcement_days = models.PositiveSmallIntegerField(
        _("announcement after payment (days)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )

    class Meta:
        verbose_name = _("program parameters")
        verbose_name_plural = _("program parameters")
        ordering = ["program", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "effective_from"], name="program_version_date_unique"
            ),
            models.CheckConstraint(
                condition=Q(posting_days__gte=1), name="program_version_posting_days_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.program} @ {self.effective_from}"


class ProgramItem(models.Model):
    version = models.ForeignKey(ProgramVersion, on_delete=models.PROTECT, related_name="items")
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    unit = models.CharField(_("unit"), max_length=20)
    unit_amount = models.DecimalField(
        _("amount per unit"),
        validators=[MinValueValidator(Decimal("0.01"))],
        max_digits=MAX_DIGITS,
        decimal_places=PLACES,
    )
    max_quantity = models.PositiveIntegerField(_("maximum quantity"), null=True, blank=True)

    class Meta:
        verbose_name = _("program item")
        verbose_name_plural = _("program items")
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="program_item_code_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Application(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        POSTED = "posted", _("in public posting")
        TOWNSHIP_REVIEW = "township_review", _("township review")
        COUNTY_REVIEW = "county_review", _("county review")
        APPROVED = "approved", _("approved")
        # The loan chain's tail: the bank's credit decision, then the drawdown (disbursed).
        BANK_APPROVED = "bank_approved", _("approved by the bank")
        DECLINED = "declined", _("declined by the bank")
        DISBURSED = "disbursed", _("disbursed")
        RETURNED = "returned", _("returned for correction")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")
        # The end of an exit or a return: approved by the county, the household's status
        # changed (办结).
        CONCLUDED = "concluded", _("concluded")

    CLOSED = (
        Status.REJECTED,
        Status.WITHDRAWN,
        Status.DISBURSED,
        Status.DECLINED,
        Status.CONCLUDED,
    )

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="applications")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="applications")
    program_version = models.ForeignKey(
        ProgramVersion, on_delete=models.PROTECT, related_name="applications"
    )
    area_code = models.CharField(_("area code"), max_length=12, editable=False)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    amount = models.DecimalField(
        _("amount"), editable=False, max_digits=MAX_DIGITS, decimal_places=PLACES
    )
    appraisal_date = models.DateField(_("appraisal meeting date"), null=True, blank=True)
    appraisal_attendees = models.PositiveIntegerField(_("attendees"), null=True, blank=True)
    appraisal_votes_for = models.PositiveIntegerField(_("votes for"), null=True, blank=True)
    appraisal_votes_against = models.PositiveIntegerField(_("votes against"), null=True, blank=True)
    posting_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    posting_ends_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    township_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    county_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    disbursed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    last_reason = models.TextField(_("last reason"), blank=True, editable=False)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    status_changed_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        constraints = [
            models.UniqueConstraint(
                fields=["household", "program"],
                condition=~Q(
                    status__in=["rejected", "withdrawn", "disbursed", "declined", "concluded"]
                ),
                name="one_active_application_per_household_program",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="application_amount_gte_0"),
        ]
        indexes = [
            models.Index(
                fields=["area_code", "status"],
                name="application_scope_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
            models.Index(fields=["status", "posting_ends_at"], name="application_posting_idx"),
            models.Index(fields=["-created_at", "-id"], name="application_recent_idx"),
            # A list filtered by status, newest first, walks only rows of that status.
            models.Index(
                fields=["status", "-created_at", "-id"], name="application_status_recent_idx"
            ),
            # The queues, longest waiting first: a page is read off this index in order.
            models.Index(
                fields=["status", "status_changed_at", "id"], name="application_waiting_idx"
            ),
            # The dashboard's households that applied, per program: counted off this index
            # alone (``workflows.dashboard``).
            models.Index(
                fields=["program", "area_code", "household", "status"],
                name="application_applied_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.household.head_name} {self.program}"

    # Django's own builds a dict of every choice, hashing each lazy label, at every call: a
    # queue page of 50 rows spent about 3 ms on it. The same answer (the label in the
    # request's language; an unknown value as it is) from one dict made once.
    def get_status_display(self) -> str:  # type: ignore[no-redef]
        return str(_STATUS_LABELS.get(self.status, self.status))


_STATUS_LABELS: dict[str, Any] = dict(Application.Status.choices)


class ApplicationItem(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(ProgramItem, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    unit_amount = models.DecimalField(
        _("amount per unit"), max_digits=MAX_DIGITS, decimal_places=PLACES
    )
    amount = models.DecimalField(_("amount"), max_digits=MAX_DIGITS, decimal_places=PLACES)

    class Meta:
        verbose_name = _("application item")
        verbose_name_plural = _("application items")
        constraints = [
            models.UniqueConstraint(fields=["application", "item"], name="application_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.item} × {self.quantity}"


class StatusChange(models.Model):
    """What an exit (脱贫销号) or a return to poverty (返贫挂号) proposes, beside its
    application (as a ``LoanRequest`` is beside a loan's): for an exit, the household's
    per-capita income for the year and the date of the visit that verified it; for a
    return, the risk signal (its cause and date) and the date identification is due. The
    date the household's status changed is written by the county's approval."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="status_change", primary_key=True
    )
    income_per_capita = models.DecimalField(
        _("per-capita income (yuan a year)"),
        null=True,
        blank=True,
        max_digits=MAX_DIGITS,
        decimal_places=PLACES,
    )
    income_year = models.PositiveSmallIntegerField(_("income year"), null=True, blank=True)
    visit_date = models.DateField(_("date of the household visit"), null=True, blank=True)
    risk_cause = models.CharField(
        _("cause of the risk"), max_length=16, choices=Household.Cause.choices, blank=True
    )
    risk_date = models.DateField(_("date of the risk signal"), null=True, blank=True)
    due_on = models.DateField(_("identification due"), null=True, blank=True)
    effective_on = models.DateField(_("status changed on"), null=True, blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        indexes = [models.Index(fields=["due_on"], name="status_change_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(income_per_capita__isnull=True) | Q(income_per_capita__gte=0),
                name="status_change_income_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"status change {self.application_id}"


class KinDeclaration(models.Model):
    """An official's declaration (亲属备案) of their own ID number or a relative's, for the
    conflict-of-interest rule (DOMAIN rule 4): an official is recused from every
    application whose household includes themselves or a close relative they declared.

    The number is kept like a household member's: encrypted, a keyed hash to match
    household members by, and masked for display. Declarations are never edited or
    withdrawn: one that could be withdrawn just before acting would defeat the rule. A wrong
    one is corrected by a new declaration that supersedes it (``supersedes``, with the
    reason); the wrong one stays as it was, marked once with when it was superseded, and
    the flags it raised stay too. Only declarations in force (not superseded) match."""

    class Relation(models.TextChoices):
        SELF = "self", _("the official themselves")
        SPOUSE = "spouse", _("spouse")
        PARENT = "parent", _("parent")
        CHILD = "child", _("child")
        SIBLING = "sibling", _("sibling")
        GRANDPARENT = "grandparent", _("grandparent")
        GRANDCHILD = "grandchild", _("grandchild")
        OTHER = "other", _("other relative")

    # The official and their close relatives (近亲属, as DOMAIN rule 4 names them). Other
    # relatives (in-laws, cousins) may be declared, so that inspectors see them, but do
    # not recuse: the rule draws the circle, and a county that wants it wider says so in
    # its rules, not in a cadre's choice.
    RECUSING = (
        Relation.SELF,
        Relation.SPOUSE,
        Relation.PARENT,
        Relation.CHILD,
        Relation.SIBLING,
        Relation.GRANDPARENT,
        Relation.GRANDCHILD,
    )

    official = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="kin_declarations",
        verbose_name=_("official"),
    )
    relation = models.CharField(_("relation"), max_length=16, choices=Relation.choices)
    name = models.CharField(_("name"), max_length=50)
    id_cipher = models.TextField(editable=False)
    id_hash = models.CharField(max_length=64, editable=False, db_index=True)
    id_masked = models.CharField(_("ID number"), max_length=18, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("declared at"), default=clock.now, editable=False)
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        verbose_name=_("corrects"),
    )
    correction_reason = models.TextField(_("reason for the correction"), blank=True)
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("kin declaration")
        verbose_name_plural = _("kin declarations")
        ordering = ["official", "created_at", "id"]
        # Among the declarations in force: a superseded one leaves room for its correction.
        constraints = [
            models.UniqueConstraint(
                fields=["official", "id_hash"],
                condition=Q(superseded_at__isnull=True),
                name="kin_declaration_person_once",
            ),
            models.UniqueConstraint(
                fields=["official"],
                condition=Q(relation="self", superseded_at__isnull=True),
                name="kin_declaration_one_self",
            ),
            models.UniqueConstraint(
                fields=["id_hash"],
                condition=Q(relation="self", superseded_at__isnull=True),
                name="kin_declaration_self_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.official_id}: {self.get_relation_display()} {self.name}"


class KinFlag(models.Model):
    """An open application whose household includes an official acting in its area, or a
    close relative that official declared: flagged (备案), and that official is recused.
    Written once per application and official, with its audit entry, when first detected
    (at filing, at a declaration, at a grant of a role)."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="kin_flags")
    official = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("official"),
    )
    declaration = models.ForeignKey(KinDeclaration, on_delete=models.PROTECT, related_name="flags")
    detected_at = models.DateTimeField(_("detected at"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("kin flag")
        verbose_name_plural = _("kin flags")
        ordering = ["application", "detected_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["application", "official"], name="kin_flag_once"),
        ]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.official_id}"


class Bank(models.Model):
    """A bank that lends poverty microloans (扶贫小额信贷) and pays subsidies to cards."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("bank")
        verbose_name_plural = _("banks")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class BankOfficer(models.Model):
    """A bank's loan officer (银行信贷员) in one county: the ``bank_officer`` role on the
    county says where, this row says for which bank."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bank_posts"
    )
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="officers")
    county = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("bank officer")
        verbose_name_plural = _("bank officers")
        constraints = [
            models.UniqueConstraint(fields=["user", "bank", "county"], name="bank_officer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.bank_id} in {self.county_id}"


class LoanRequest(models.Model):
    """What a loan application asks the bank for (扶贫小额信贷), and what the bank decided:
    filed with the application by the village cadre, decided by the bank's loan officer
    after the county's approval (``bank_approve``: the amount, rate and term it grants)."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="loan", primary_key=True
    )
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="loan_requests")
    amount = models.DecimalField(_("amount asked"), max_digits=MAX_DIGITS, decimal_places=PLACES)
    months = models.PositiveSmallIntegerField(_("term asked (months)"))
    purpose_category = models.CharField(_("purpose"), max_length=32)
    purpose = models.CharField(_("what the loan is for"), max_length=200)
    repayment_method = models.CharField(_("repayment method"), max_length=20)
    approved_amount = models.DecimalField(
        _("amount granted"), null=True, max_digits=MAX_DIGITS, decimal_places=PLACES
    )
    annual_rate = models.DecimalField(
        _("contract rate (% a year)"), null=True, max_digits=6, decimal_places=4
    )
    approved_months = models.PositiveSmallIntegerField(_("term granted (months)"), null=True)
    reference_rate = models.DecimalField(
        _("reference rate (% a year)"), null=True, max_digits=6, decimal_places=4
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("loan request")
        verbose_name_plural = _("loan requests")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="loan_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True) | Q(approved_amount__lte=F("amount")),
                name="loan_request_granted_within_asked",
            ),
        ]

    def __str__(self) -> str:
        return f"loan request {self.application_id}"


class HouseholdImport(BatchJob):
    """A registry sheet sent to be imported (``applications.imports``): read and checked
    (a dry run), or applied all or nothing. Small files run while their sender waits; large
    ones in the background on the shared batch runner, their progress here. The file is
    kept, encrypted, only until it is applied or abandoned: it holds clear ID numbers."""

    class Phase(models.TextChoices):
        WAITING = "waiting", _("waiting")
        READING = "reading", _("reading the file")
        CHECKING = "checking", _("checking against the registry")
        WRITING = "writing", _("writing the households")
        FINISHED = "finished", _("finished")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The messages of the report are written in the sender's language.
    language = models.CharField(max_length=16, default="zh-hans")
    # The chain its audit entries go on: the sender's area.
    area_code = models.CharField(_("area code"), max_length=12, blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    # The stored, encrypted copy ("" once removed).
    stored_name = models.CharField(max_length=200, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=True)
    # The dry run this run applies (the page's "confirm").
    confirms = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
    phase = models.CharField(
        _("phase"), max_length=10, choices=Phase.choices, default=Phase.WAITING
    )
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    households_found = models.PositiveIntegerField(_("households in the file"), default=0)
    persons_found = models.PositiveIntegerField(_("people in the file"), default=0)
    problem_count = models.PositiveIntegerField(_("problems"), default=0)
    # The first 1,000 problems: {"row", "column", "message"}.
    problems = models.JSONField(default=list)
    applied = models.BooleanField(_("applied"), default=False)
    households_created = models.PositiveIntegerField(_("households created"), default=0)

    class Meta:
        verbose_name = _("registry import")
        verbose_name_plural = _("registry imports")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A dry run is applied once.
            models.UniqueConstraint(
                fields=["confirms"],
                condition=Q(confirms__isnull=False) & ~Q(status="failed"),
                name="household_import_applied_once",
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.file_name})"
