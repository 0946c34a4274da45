"""What inspectors write in the cross-checks: a department's list uploaded, a scan run, a lead
disposed of, and the record that they read leads (PIPL: a match of an ID number against
another department's data is sensitive). Each in one transaction with its audit entry."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from applications.models import Area
from audit.services import audit_record
from common import clock
from common.actors import Actor, person, person_or_none
from common.batches import (
    BatchQueue,
    BatchRecovery,
    Claim,
    Recovered,
    batch_enqueue,
    batch_run,
    batches_recover,
)
from common.errors import Code, InvalidInput, NotFound, Refused
from common.files import sha256_of
from common.replica import replica_caught_up, replica_reads
from common.rows import rows_insert, rows_update
from common.sheets import RowProblem, SheetError, sheet_rows
from crosscheck import formats
from crosscheck.models import Lead, LeadSighting, ReferenceList, ReferenceRow, Scan
from crosscheck.rules import RULES, Context, Finding, list_facts, rule_params
from crosscheck.selectors import county_for, leads_visible_to, lists_in_force
from crosscheck.tasks import scan_task

MAX_LIST_BYTES = 100 * 1024 * 1024
# The skipped rows a list keeps with their reasons (all are counted).
MAX_PROBLEMS_KEPT = 1000

# --- a department's list ------------------------------------------------------------------


def _digest(file: IO[bytes]) -> tuple[str, int]:
    file.seek(0)
    found = sha256_of(file)
    file.seek(0)
    return found


_ALREADY_UPLOADED = gettext_lazy("This very file was uploaded before for this kind of list.")


def _list_invalid(message: str) -> InvalidInput:
    return InvalidInput({"file": [message]}, code=Code.REFERENCE_LIST_INVALID)


def reference_list_upload(
    *,
    actor: Actor,
    kind: str,
    source: str,
    as_of: datetime.date | None,
    file: IO[bytes] | None,
    file_name: str = "",
    county: str | None = None,
) -> ReferenceList:
    """Keep a department's list for the county: each row's ID number as its keyed hash and
    masked form, with the kind's own columns. The list replaces the older ones of its kind
    for later scans.

    Guarantees: only an inspector of the county (``Forbidden``, ``NotFound``); a file whose
    headers do not fit the kind, that cannot be read, or that has no row to keep is refused
    whole (``reference_list_invalid``); the same file uploaded again is refused
    (``already_imported``); a row with a bad ID number or a missing value is skipped and
    reported by row and column. All of the list or none of it is kept, with its audit entry
    (counts and SHA-256)."""
    code = county_for(actor, county)
    errors: dict[str, list[str]] = {}
    if kind not in ReferenceList.Kind.values:
        errors["kind"] = [_("Choose the kind of list.")]
    source = (source or "").strip()
    if not source:
        errors["source"] = [_("Say which department the list comes from.")]
    elif len(source) > 200:
        errors["source"] = [_("The source is at most 200 characters.")]
    if as_of is None:
        errors["as_of"] = [_("Give the date of the list.")]
    elif as_of > clock.today():
        errors["as_of"] = [_("The list's date cannot be in the future.")]
    if file is None:
        errors["file"] = [_("Choose the file (.xlsx or .csv).")]
    if errors or file is None or as_of is None:
        raise InvalidInput(errors)
    sha256, size = _digest(file)
    if size == 0:
        raise _list_invalid(_("The file is empty."))
    if size > MAX_LIST_BYTES:
        raise _list_invalid(
            _("The file is larger than %(limit)s MB.") % {"limit": MAX_LIST_BYTES // (1024 * 1024)}
        )
    if ReferenceList.objects.filter(county_code=code, kind=kind, sha256=sha256).exists():
        raise InvalidInput({"file": [str(_ALREADY_UPLOADED)]}, code=Code.ALREADY_IMPORTED)
    try:
        rows = sheet_rows(file, name=file_name)
        positions = _header(kind, rows)
        with transaction.atomic():
            reference = ReferenceList.objects.create(
                county_code=code,
                kind=kind,
                source=source,
                as_of=as_of,
                file_name=(file_name or "")[-200:],
                sha256=sha256,
                uploaded_by=person(actor),
            )
            counts = _Counts()
            rows_insert(
                ReferenceRow,
                [
                    "list",
                    "row",
                    "id_hash",
                    "id_masked",
                    "name",
                    "detail",
                    "category",
                    "value",
                    "date",
                ],
                _kept_rows(reference, kind, rows, positions, as_of, counts),
            )
            if counts.kept == 0:
                raise _list_invalid(_("No row of the file could be kept: see the problems."))
            reference.rows_read = counts.read
            reference.rows_kept = counts.kept
            reference.rows_skipped = counts.skipped
            reference.skipped = counts.problems
            reference.save(update_fields=["rows_read", "rows_kept", "rows_skipped", "skipped"])
            audit_record(
                actor=actor,
                action="crosscheck.list_upload",
                object_type="reference_list",
                object_id=reference.pk,
                area_code=code + "000000",
                changes={
                    "kind": [None, kind],
                    "source": [None, source],
                    "as_of": [None, as_of.isoformat()],
                    "sha256": [None, sha256],
                    "read": [None, counts.read],
                    "kept": [None, counts.kept],
                    "skipped": [None, counts.skipped],
                },
            )
    except SheetError as error:
        raise _list_invalid(str(error)) from None
    except IntegrityError:  # the same file, uploaded at the same moment by someone else
        raise InvalidInput({"file": [str(_ALREADY_UPLOADED)]}, code=Code.ALREADY_IMPORTED) from None
    return reference


class _Counts:
    def __init__(self) -> None:
        self.read = 0
        self.kept = 0
        self.skipped = 0
        self.problems: list[dict[str, Any]] = []


def _header(kind: str, rows: Iterator[tuple[int, list[Any]]]) -> dict[str, int]:
    """The header row (the first row with anything in it) fitted to the kind."""
    for _number, cells in rows:
        if not cells:
            continue
        positions = formats.header_positions(kind, cells)
        if isinstance(positions, list):
            raise _list_invalid(
                _(
                    "The headers do not fit a list of %(kind)s: %(missing)s missing. The "
                    "columns are: %(columns)s."
                )
                % {
                    "kind": ReferenceList.Kind(kind).label,
                    "missing": "、".join(positions),
                    "columns": "、".join(formats.headers_of(kind)),
                }
            )
        return positions
    raise _list_invalid(_("The file is empty."))


def _kept_rows(
    reference: ReferenceList,
    kind: str,
    rows: Iterator[tuple[int, list[Any]]],
    positions: dict[str, int],
    as_of: datetime.date,
    counts: _Counts,
) -> Iterator[tuple[Any, ...]]:
    for number, cells in rows:
        if not any(c not in (None, "") for c in cells):
            continue  # blank rows are not rows
        counts.read += 1
        parsed = formats.row_parse(kind, number, cells, positions, as_of=as_of)
        if isinstance(parsed, RowProblem):
            counts.skipped += 1
            if len(counts.problems) < MAX_PROBLEMS_KEPT:
                counts.problems.append(parsed.as_dict())
            continue
        counts.kept += 1
        yield (
            reference.pk,
            parsed.row,
            parsed.id_hash,
            parsed.id_masked,
            parsed.name,
            parsed.detail,
            parsed.category,
            parsed.value,
            parsed.date,
        )


# --- scans ------------------------------------------------------------------------------------

# A rule takes seconds at most at 100,000 households (README): ten minutes of silence means
# the worker is gone.
SCAN_STALE_AFTER = datetime.timedelta(minutes=10)
SCAN_MAX_ATTEMPTS = 3


def _scan_gave_up(attempts: int) -> str:
    return _(
        "The worker running this scan stopped %(attempts)d times before finishing it, so it "
        "was not started again. Start the scan again; if this happens again, tell the "
        "system administrator."
    ) % {"attempts": attempts}


def _scan_lost_task() -> str:
    return _("No task was going to run this scan, so it was queued again.")


def _scan_recovery_audited(change: Recovered[Scan]) -> None:
    audit_record(
        actor=None,
        action=f"integrity_scan.{change.action}",
        object_type="integrity_scan",
        object_id=change.job.pk,
        area_code=change.job.county_code + "000000",
        from_state=change.from_state,
        to_state=change.to_state,
        reason=change.reason,
        changes=change.changes,
    )


SCANS = BatchQueue(
    model=Scan,
    task=scan_task,
    task_argument="scan_id",
    stale_after=SCAN_STALE_AFTER,
    max_attempts=SCAN_MAX_ATTEMPTS,
    gave_up_message=_scan_gave_up,
    lost_task_reason=_scan_lost_task,
    record=_scan_recovery_audited,
    related=("requested_by",),
)


def scan_request(*, actor: Actor, county: str | None = None) -> Scan:
    """Queue a scan of the county, run in the background (``crosscheck.tasks``) after this
    transaction commits. Guarantees: only an inspector of the county; audited."""
    code = county_for(actor, county)
    with transaction.atomic():
        scan = _scan_create(actor=actor, county=code)
        transaction.on_commit(lambda: batch_enqueue(SCANS, scan.pk))
    return scan


def _scan_create(*, actor: Actor, county: str) -> Scan:
    scan = Scan.objects.create(county_code=county, requested_by=person_or_none(actor))
    audit_record(
        actor=actor,
        action="integrity_scan.request",
        object_type="integrity_scan",
        object_id=scan.pk,
        area_code=county + "000000",
        changes={"county": [None, county]},
    )
    return scan


def scan_now(*, county: str, actor: Actor = None) -> Scan:
    """A scan of the county run here and now, by the system (``manage.py integrity_scan``)
    or by ``actor``. Raises ``NotFound`` for a county that does not exist."""
    if len(county) == 12 and county.endswith("000000"):
        county = county[:6]
    if not Area.objects.filter(code=county.ljust(12, "0"), level=Area.Level.COUNTY).exists():
        raise NotFound(_("No such county."))
    with transaction.atomic():
        scan = _scan_create(actor=actor, county=county)
    return scan_run(scan_id=scan.pk)


def scan_run(*, scan_id: int) -> Scan:
    """The worker: claim the scan, run every rule over its county, and keep what they find
    as leads (``common.batches.batch_run``).

    Guarantees: one worker runs a scan; the leads are written in one transaction with the
    scan's end and its audit entry (a scan that fails writes no lead); a lead found before
    is the same lead, its evidence brought up to date, and a cleared lead opens again only
    when its evidence changed; two scans of one county never write at once (the county's
    row is locked); the same data gives the same leads."""
    return batch_run(SCANS, scan_id, _scan_work)


# What is not evidence: the list's identity (its date, its hash) and a threshold in force.
_NOT_EVIDENCE = frozenset({"list", "threshold"})
# Of a list's row, what the match is about: the employer, the plate, the address, the
# business, their class, the date. Not where the row stood in the file, nor how the
# department spelled the name or valued the car that year.
_ROW_EVIDENCE = ("detail", "category", "date")


def _fingerprint(facts: Mapping[str, Any]) -> str:
    """The hash of a finding's evidence: the same match on a newer list (its rows in
    another order, say) has the same fingerprint, so a cleared lead stays cleared."""
    evidence = {k: v for k, v in facts.items() if k not in _NOT_EVIDENCE}
    if "rows" in evidence:
        evidence["rows"] = sorted(
            json.dumps({k: r[k] for k in _ROW_EVIDENCE if k in r}, sort_keys=True)
            for r in evidence["rows"]
        )
    text = json.dumps(evidence, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _scan_work(claim: Claim[Scan]) -> None:
    scan = claim.job
    started = time.monotonic()
    # The registry and the lists from the replica once it has replayed everything written so
    # far (a list uploaded a moment ago is there, rows and all); from the primary when it
    # lags more than half a minute. The leads are written, and compared with what is on
    # record, in the transaction below, on the primary.
    reads = replica_reads if replica_caught_up() else contextlib.nullcontext
    with reads():
        lists = lists_in_force(scan.county_code)
    params = rule_params()
    context = Context(county=scan.county_code, lists=lists, params=params)
    claim.heartbeat(total=len(RULES))
    found: dict[str, tuple[str, Finding]] = {}
    counts: dict[str, int] = {}
    for index, rule in enumerate(RULES, start=1):
        with reads():
            findings = list(rule.find(context))
        counts[rule.code] = len(findings)
        for finding in findings:
            found.setdefault(finding.key, (rule.code, finding))
        claim.heartbeat(done=index)
    with transaction.atomic():
        # Two scans of one county write their leads one after the other.
        Area.objects.select_for_update(no_key=True).filter(
            code=scan.county_code.ljust(12, "0")
        ).first()
        new = _leads_keep(scan, found)
        claim.finish(
            lists=[list_facts(r) for _kind, r in sorted(lists.items())],
            rules={r.code: {"severity": str(r.severity), "params": params[r.code]} for r in RULES},
            counts=counts,
            leads_found=len(found),
            leads_new=new,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        audit_record(
            actor=scan.requested_by,
            action="integrity_scan.finish",
            object_type="integrity_scan",
            object_id=scan.pk,
            area_code=scan.county_code + "000000",
            changes={
                "lists": [None, {k: r.sha256 for k, r in sorted(lists.items())}],
                "counts": [None, counts],
                "leads": [None, len(found)],
                "new": [None, new],
            },
        )


def _leads_keep(scan: Scan, found: Mapping[str, tuple[str, Finding]]) -> int:
    """Write the scan's findings as leads and sightings; return how many leads are new.

    A lead found before gets the newest facts (the evidence cites the list in force) but
    keeps its status, note and who disposed of it: those are the inspectors', and a
    conclusion recorded while the scan runs is never written over. A cleared lead whose
    evidence changed opens again by a conditional UPDATE, audited."""
    severity = {r.code: str(r.severity) for r in RULES}
    existing = {
        key: (pk, fingerprint, facts, area)
        for key, pk, fingerprint, facts, area in Lead.objects.filter(
            county_code=scan.county_code
        ).values_list("key", "pk", "fingerprint", "facts", "area_code")
    }
    now = clock.now()
    new_rows = []
    changed: list[Lead] = []
    evidence_changed: list[tuple[int, str]] = []
    seen: list[int] = []
    for key in sorted(found):
        code, finding = found[key]
        fingerprint = _fingerprint(finding.facts)
        if key not in existing:
            new_rows.append(
                (
                    scan.county_code,
                    finding.area_code,
                    key,
                    code,
                    severity[code],
                    finding.household_id,
                    finding.application_id,
                    finding.person_masked,
                    finding.facts,
                    fingerprint,
                    Lead.Status.OPEN.value,
                    "",
                    scan.pk,
                    scan.pk,
                    now,
                )
            )
            continue
        pk, old_fingerprint, old_facts, area = existing[key]
        seen.append(pk)
        if old_facts != finding.facts or old_fingerprint != fingerprint:
            changed.append(Lead(pk=pk, facts=finding.facts, fingerprint=fingerprint))
        if old_fingerprint != fingerprint:
            evidence_changed.append((pk, area))
    rows_insert(
        Lead,
        [
            "county_code",
            "area_code",
            "key",
            "rule",
            "severity",
            "household",
            "application",
            "person_masked",
            "facts",
            "fingerprint",
            "status",
            "note",
            "first_seen_scan",
            "last_seen_scan",
            "created_at",
        ],
        new_rows,
    )
    rows_update(changed, ["facts", "fingerprint"])
    for start in range(0, len(seen), 5000):
        Lead.objects.filter(pk__in=seen[start : start + 5000]).update(last_seen_scan=scan)
    for pk, area in evidence_changed:
        if Lead.objects.filter(pk=pk, status=Lead.Status.CLEARED).update(status=Lead.Status.OPEN):
            audit_record(
                actor=None,
                action="lead.reopen",
                object_type="lead",
                object_id=pk,
                area_code=area,
                from_state=Lead.Status.CLEARED,
                to_state=Lead.Status.OPEN,
                reason=_("The evidence changed in scan %(scan)s.") % {"scan": scan.pk},
            )
    sighted = seen + list(
        Lead.objects.filter(county_code=scan.county_code, first_seen_scan=scan).values_list(
            "pk", flat=True
        )
    )
    rows_insert(LeadSighting, ["scan", "lead"], ((scan.pk, pk) for pk in sorted(sighted)))
    return len(new_rows)


def scans_recover(*, now: datetime.datetime | None = None) -> BatchRecovery:
    """The sweep for scans whose worker died (``common.batches.batches_recover``), audited
    as ``integrity_scan.requeue`` and ``integrity_scan.fail``. Running a scan again is safe:
    it writes its leads only when it finishes."""
    return batches_recover(SCANS, now=now)


# --- leads ------------------------------------------------------------------------------------


def lead_dispose(*, actor: Actor, lead_id: int, status: str, note: str) -> Lead:
    """An inspector's conclusion on a lead: confirmed (a problem), cleared (none), or open
    again, with a note saying why. Guarantees: only an inspector of the lead's county
    (``NotFound`` otherwise); a note is required; the same status again is refused
    (``wrong_state``); audited in the same transaction as the change."""
    errors: dict[str, list[str]] = {}
    if status not in Lead.Status.values:
        errors["status"] = [_("Choose confirmed, cleared or open.")]
    note = (note or "").strip()
    if not note:
        errors["note"] = [_("Say what you found.")]
    elif len(note) > 2000:
        errors["note"] = [_("The note is at most 2,000 characters.")]
    with transaction.atomic():
        lead = leads_visible_to(actor).select_for_update(no_key=True).filter(pk=lead_id).first()
        if lead is None:
            raise NotFound(_("No such lead in your area."))
        if errors:
            raise InvalidInput(errors)
        if lead.status == status:
            raise Refused(
                _("The lead is already %(status)s.") % {"status": lead.get_status_display()},
                code=Code.WRONG_STATE,
            )
        before = lead.status
        lead.status = status
        lead.note = note
        lead.disposed_by = person(actor)
        lead.disposed_at = clock.now()
        lead.save(update_fields=["status", "note", "disposed_by", "disposed_at"])
        audit_record(
            actor=actor,
            action="lead.dispose",
            object_type="lead",
            object_id=lead.pk,
            area_code=lead.area_code,
            from_state=before,
            to_state=status,
            reason=note,
            changes={"rule": [None, lead.rule], "key": [None, lead.key]},
        )
    return lead


def lead_read(*, actor: Actor, lead_id: int) -> Lead:
    """One lead, for its page or the API, and the record that the actor read it."""
    lead = (
        leads_visible_to(actor)
        .select_related("household", "application", "application__program", "disposed_by")
        .filter(pk=lead_id)
        .first()
    )
    if lead is None:
        raise NotFound(_("No such lead in your area."))
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="lead.read",
            object_type="lead",
            object_id=lead.pk,
            area_code=lead.area_code,
        )
    return lead


def leads_read_record(
    *, actor: Actor, leads: QuerySet[Lead] | list[Lead], filters: Mapping[str, Any], what: str
) -> None:
    """The record that the actor read a list of leads (a page, an export): one entry per
    county, with the filters and the leads' ids."""
    by_county: dict[str, list[int]] = {}
    for lead in leads:
        by_county.setdefault(lead.county_code, []).append(lead.pk)
    if not by_county:
        return
    with transaction.atomic():
        for county, ids in sorted(by_county.items()):
            audit_record(
                actor=actor,
                action=f"lead.{what}",
                object_type="lead",
                object_id="",
                area_code=county + "000000",
                changes={
                    "filters": [
                        None,
                        {k: str(v) for k, v in filters.items() if v not in (None, "")},
                    ],
                    "leads": [None, ids],
                },
            )
