"""Importing a registry sheet (建档立卡台账, ``applications.registry_sheet``): the dry run that
reports every problem, the real run that registers every household of the file or none,
and the background run of large files on the shared batch runner.

The households go in as ``household_create`` puts them one by one: each ID number valid and
in no other household, numbers stored only encrypted (with their keyed hash and masked
form), the card in the head's name, one ``household.create`` entry each on the audit trail,
and a ``household.shared_card`` entry for a card another household also holds. (The kin
check has nothing to flag yet: it flags applications, and a new household has none.) Here
they are written in a few statements rather than one by one, so that a county's 100,000
households go in within two minutes (README)."""

from __future__ import annotations

import functools
import hashlib
import io
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from applications import card_holders, idnumbers
from applications.models import Area, Household, HouseholdImport, Person
from applications.registry_sheet import (
    ID_NUMBER,
    VILLAGE,
    HouseholdDraft,
    SheetRead,
    registry_sheet_read,
)
from applications.roles import Role
from applications.selectors import (
    bank_cards_shared,
    households_visible_to,
    is_everywhere,
    scope_prefixes,
)
from applications.services import household_snapshot
from applications.tasks import household_import_task
from audit.services import audit_record, audit_records, model_changes
from common import clock
from common.actors import Actor, person
from common.batches import (
    BatchQueue,
    BatchRecovery,
    Claim,
    Recovered,
    batch_enqueue,
    batch_run,
    batches_recover,
)
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.rows import rows_insert
from common.sheets import SheetError, sheet_rows, sheet_sniff

MAX_IMPORT_BYTES = 40 * 1024 * 1024
MAX_PROBLEMS_KEPT = 1000
# A dry run's file is kept this long for its confirmation, then removed by the timers.
KEEP_UNCONFIRMED = timedelta(hours=24)
IMPORTERS = (Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER)
_CHUNK = 5000

Status = HouseholdImport.Status
Phase = HouseholdImport.Phase


def _invalid(message: str) -> InvalidInput:
    return InvalidInput({"file": [message]}, code=Code.IMPORT_INVALID)


def importer_prefixes(actor: Actor) -> list[str] | None:
    """The area prefixes the actor may import households into (None: everywhere, an
    administrator). ``Forbidden`` for anyone who is neither a village cadre nor a township
    reviewer."""
    if is_everywhere(actor):
        return None
    prefixes = scope_prefixes(actor, IMPORTERS)
    if not prefixes:
        raise Forbidden(
            _("Only a village cadre or a township reviewer imports households."), code=Code.ROLE
        )
    return prefixes


def _audit_area(prefixes: list[str] | None) -> str:
    """Where the import's own entries go: the sender's county (the global chain for an
    administrator or someone acting in several counties)."""
    if not prefixes or len({p[:6] for p in prefixes}) > 1:
        return ""
    return prefixes[0].ljust(12, "0")


def _digest(file: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    file.seek(0)
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
        size += len(block)
        if size > MAX_IMPORT_BYTES:
            break
    file.seek(0)
    return digest.hexdigest(), size


def household_import_start(
    *, actor: Actor, file: IO[bytes] | None, file_name: str = "", dry_run: bool = True
) -> HouseholdImport:
    """Check a registry sheet (``dry_run``), or import it all or nothing.

    Guarantees: only a village cadre (their villages) or a township reviewer (their
    township), ``Forbidden`` otherwise; an empty file, one over 40 MB, or one that is no
    table is refused at once (``import_invalid``) and changes nothing. A file up to
    ``FUPIN_IMPORT_INLINE_BYTES`` runs now and the import comes back finished; a larger
    one is queued for the background and comes back queued. Either way the report is on
    the import: rows, households and people found, every problem by row and column."""
    prefixes = importer_prefixes(actor)
    if file is None:
        raise InvalidInput({"file": [_("Choose the file (.xlsx or .csv).")]})
    sha256, size = _digest(file)
    if size == 0:
        raise _invalid(_("The file is empty."))
    if size > MAX_IMPORT_BYTES:
        raise _invalid(
            _("The file is larger than %(limit)s MB: split it, by township for instance.")
            % {"limit": MAX_IMPORT_BYTES // (1024 * 1024)}
        )
    try:
        sheet_sniff(file, name=file_name)
    except SheetError as error:
        raise _invalid(str(error)) from None
    content = idnumbers.encrypt_bytes(file.read())
    name = default_storage.save(f"imports/{uuid.uuid4().hex}.bin", io.BytesIO(content))
    try:
        with transaction.atomic():
            job = _import_create(
                actor=actor,
                prefixes=prefixes,
                file_name=file_name,
                sha256=sha256,
                size=size,
                stored_name=name,
                dry_run=dry_run,
            )
    except BaseException:
        default_storage.delete(name)
        raise
    return _import_launch(job)


def household_import_confirm(*, actor: Actor, import_id: int) -> HouseholdImport:
    """Apply the file of a clean dry run (the page's "confirm"): a new, real run of the same
    file, checked again against the registry as it now is.

    Guarantees: only the dry run's sender (``NotFound`` for anyone else's); refused
    (``wrong_state``) unless the dry run finished without a problem and its file is still
    kept; a dry run is applied once (``already_imported``), even by two confirmations at
    the same moment."""
    prefixes = importer_prefixes(actor)
    with transaction.atomic():
        dry = (
            HouseholdImport.objects.select_for_update(no_key=True)
            .filter(pk=import_id, requested_by_id=getattr(actor, "pk", None), dry_run=True)
            .first()
        )
        if dry is None:
            raise NotFound(_("No such import of yours."))
        if HouseholdImport.objects.filter(confirms=dry).exclude(status=Status.FAILED).exists():
            raise Refused(_("This file has been applied already."), code=Code.ALREADY_IMPORTED)
        if dry.status != Status.DONE or dry.problem_count or not dry.stored_name:
            raise Refused(
                _("Only a dry run that found no problem can be applied; send the file again."),
                code=Code.WRONG_STATE,
            )
        job = _import_create(
            actor=actor,
            prefixes=prefixes,
            file_name=dry.file_name,
            sha256=dry.sha256,
            size=dry.size,
            stored_name=dry.stored_name,
            dry_run=False,
            confirms=dry,
        )
    return _import_launch(job)


def _import_create(
    *,
    actor: Actor,
    prefixes: list[str] | None,
    file_name: str,
    sha256: str,
    size: int,
    stored_name: str,
    dry_run: bool,
    confirms: HouseholdImport | None = None,
) -> HouseholdImport:
    job = HouseholdImport.objects.create(
        requested_by=person(actor),
        language=translation.get_language() or settings.LANGUAGE_CODE,
        area_code=_audit_area(prefixes),
        file_name=(file_name or "")[-200:],
        sha256=sha256,
        size=size,
        stored_name=stored_name,
        dry_run=dry_run,
        confirms=confirms,
    )
    audit_record(
        actor=actor,
        action="household_import.request",
        object_type="household_import",
        object_id=job.pk,
        area_code=job.area_code,
        changes={
            "file": [None, job.file_name],
            "sha256": [None, sha256],
            "size": [None, size],
            "dry_run": [None, dry_run],
            **({"confirms": [None, confirms.pk]} if confirms else {}),
        },
    )
    return job


def _import_launch(job: HouseholdImport) -> HouseholdImport:
    if job.size <= settings.FUPIN_IMPORT_INLINE_BYTES:
        return household_import_run(import_id=job.pk)
    batch_enqueue(IMPORTS, job.pk)
    job.refresh_from_db()
    return job


def household_import_run(*, import_id: int) -> HouseholdImport:
    """The worker (``common.batches.batch_run``): read the file, check it, and for a real
    run without a problem write every household in one transaction with the import's end.

    Guarantees: one worker runs an import; a real run writes all of the file or nothing
    (a person registered by someone else meanwhile refuses the whole file, as a problem
    of its row); running it again after a worker died is safe, as nothing was written."""
    return batch_run(IMPORTS, import_id, _import_work)


def _import_work(claim: Claim[HouseholdImport]) -> None:
    job = claim.job
    with translation.override(job.language):
        claim.heartbeat(phase=Phase.READING)
        content = idnumbers.decrypt_bytes(default_storage.open(job.stored_name, "rb").read())
        try:
            read = registry_sheet_read(
                sheet_rows(io.BytesIO(content), name=job.file_name),
                keep=MAX_PROBLEMS_KEPT,
                progress=lambda n: claim.heartbeat(done=n),
            )
        except SheetError as error:
            claim.heartbeat(phase=Phase.FINISHED)
            _import_finish(claim, None, error=str(error))
            return
        del content
        claim.heartbeat(phase=Phase.CHECKING, done=read.rows, total=read.rows)
        if not read.fatal:
            _registry_checks(job.requested_by, read)
        if job.dry_run or read.problems.count:
            _import_finish(claim, read)
            return
        claim.heartbeat(phase=Phase.WRITING)
        try:
            with transaction.atomic():
                created = _households_write(job, read)
                _import_finish(claim, read, created=created)
        except IntegrityError:
            # Someone registered one of these people since the check: say who, refuse all.
            read.problems.count = 0
            read.problems.kept.clear()
            _registry_checks(job.requested_by, read)
            if not read.problems.count:
                raise
            _import_finish(claim, read)


def _import_finish(
    claim: Claim[HouseholdImport],
    read: SheetRead | None,
    *,
    created: int = 0,
    error: str = "",
) -> None:
    """The report, the import's end on the record, and the file removed unless a clean dry
    run keeps it for its confirmation; in the caller's transaction when it wrote."""
    job = claim.job
    problems = (
        [p.as_dict() for p in read.problems.kept]
        if read is not None
        else [{"row": 0, "column": "", "message": error}]
    )
    report = {
        "phase": Phase.FINISHED,
        "rows_read": read.rows if read else 0,
        "households_found": len(read.households) if read else 0,
        "persons_found": read.persons if read else 0,
        "problem_count": read.problems.count if read else 1,
        "problems": problems,
        "applied": bool(created),
        "households_created": created,
    }
    keep_file = job.dry_run and not report["problem_count"]
    with transaction.atomic():
        claim.finish(**report, **({} if keep_file else {"stored_name": ""}))
        if job.confirms_id and not keep_file:
            HouseholdImport.objects.filter(pk=job.confirms_id).update(stored_name="")
        audit_record(
            actor=job.requested_by,
            action="household_import.finish",
            object_type="household_import",
            object_id=job.pk,
            area_code=job.area_code,
            changes={
                "dry_run": [None, job.dry_run],
                "rows_read": [None, report["rows_read"]],
                "households_found": [None, report["households_found"]],
                "problem_count": [None, report["problem_count"]],
                "households_created": [None, created],
            },
        )
        if not keep_file:
            name = job.stored_name
            transaction.on_commit(lambda: default_storage.delete(name))


def _registry_checks(actor: Actor, read: SheetRead) -> None:
    """The problems only the registry shows: a village unknown or outside the sender's
    area, and a person already registered (which household, only when it is in the
    sender's area)."""
    add = read.problems.add
    prefixes = None if is_everywhere(actor) else scope_prefixes(actor, IMPORTERS)
    villages = {d.village for d in read.households.values() if d.village}
    known = set(
        Area.objects.filter(code__in=villages, level=Area.Level.VILLAGE).values_list(
            "code", flat=True
        )
    )
    for draft in read.households.values():
        if not draft.head or not draft.village or len(draft.village) != 12:
            continue
        if draft.village not in known:
            add(
                draft.row, VILLAGE, _("No village has the code %(code)s.") % {"code": draft.village}
            )
        elif prefixes is not None and not any(draft.village.startswith(p) for p in prefixes):
            add(
                draft.row,
                VILLAGE,
                _("The village %(code)s is outside your area.") % {"code": draft.village},
            )
    lookup = idnumbers.lookup_hash
    hashes: dict[str, Any] = {}
    for draft in read.households.values():
        for p in draft.people:
            if p.number:
                digest = read.digests.get(p.number)
                if digest is None:
                    digest = read.digests[p.number] = lookup(p.number)
                hashes[digest] = p
    visible = households_visible_to(actor)
    ordered = list(hashes)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        found = Person.objects.filter(id_hash__in=chunk).values_list(
            "id_hash", "household_id", "household__area_code", "household__head_name"
        )
        rows = list(found)
        seen_here = set(visible.filter(pk__in={r[1] for r in rows}).values_list("pk", flat=True))
        for digest, household_id, area_code, head_name in rows:
            person_row = hashes[digest]
            if household_id in seen_here:
                message = _(
                    "This person is already registered, in household %(id)s (head: %(head)s, "
                    "village %(village)s)."
                ) % {"id": household_id, "head": head_name, "village": area_code}
            else:
                message = _("This person is already registered in another household.")
            add(person_row.row, ID_NUMBER, message)
    read.problems.kept.sort(key=lambda p: (p.row, p.column))


WRITE_CHUNK = 5000


def _households_write(job: HouseholdImport, read: SheetRead) -> int:
    """Every household of a clean sheet, with its people and its audit entries, in the
    caller's transaction: written 5,000 households at a time, so that what is held at once
    is one chunk's rows, never the whole county's."""
    actor = job.requested_by
    drafts = sorted(read.households.values(), key=lambda d: (d.village, d.row))
    areas = dict(
        Area.objects.filter(code__in={d.village for d in drafts}).values_list("code", "pk")
    )
    now = clock.now()
    reason = _("Imported from %(file)s (import %(id)s).") % {"file": job.file_name, "id": job.pk}
    # The cards' counts (BankCardHolders) in their triggers' order, before any household.
    card_holders.lock(idnumbers.lookup_hash(d.card) for d in drafts)
    for start in range(0, len(drafts), WRITE_CHUNK):
        chunk = drafts[start : start + WRITE_CHUNK]
        households = [_household_of(d, areas[d.village], actor, now) for d in chunk]
        Household.objects.bulk_create(households, batch_size=1000)
        people = [
            (household, [_person_of(household, p, read.digests) for p in draft.people])
            for household, draft in zip(households, chunk, strict=True)
        ]
        rows_insert(
            Person,
            ["household", "name", "relation", "id_cipher", "id_hash", "id_masked"],
            (
                (p.household_id, p.name, p.relation, p.id_cipher, p.id_hash, p.id_masked)
                for _h, members in people
                for p in members
            ),
        )
        entries: list[dict[str, Any]] = [
            {
                "action": "household.create",
                "object_type": "household",
                "object_id": household.pk,
                "area_code": household.area_code,
                "changes": model_changes(None, household_snapshot(household, members)),
                "reason": reason,
            }
            for household, members in people
        ]
        entries.extend(_shared_card_entries(households))
        audit_records(actor=actor, entries=entries)
    return len(drafts)


def _household_of(draft: HouseholdDraft, area_id: str, actor: Any, now: Any) -> Household:
    if draft.head is None:  # a clean sheet's households all have their head
        raise ValueError(f"household {draft.key} has no head")
    return Household(
        area_id=area_id,
        area_code=draft.village,
        head_name=draft.head.name,
        head_id_masked=idnumbers.mask_id_number(draft.head.number),
        household_type=draft.household_type,
        poverty_causes=draft.causes,
        phone=draft.phone,
        bank_card_cipher=idnumbers.encrypt(draft.card),
        bank_card_hash=idnumbers.lookup_hash(draft.card),
        bank_card_masked=idnumbers.mask_bank_card(draft.card),
        bank_card_holder=draft.holder,
        created_by=actor,
        created_at=now,
    )


def _person_of(household: Household, row: Any, digests: dict[str, str]) -> Person:
    return Person(
        household_id=household.pk,
        name=row.name,
        relation=row.relation,
        id_cipher=idnumbers.encrypt(row.number),
        id_hash=digests[row.number],
        id_masked=idnumbers.mask_id_number(row.number),
    )


def _shared_card_entries(households: Iterable[Household]) -> list[dict[str, Any]]:
    """A ``household.shared_card`` entry for each new household whose card another
    household also holds (DOMAIN rule 5), as ``household_create`` writes it."""
    by_hash: dict[str, list[Household]] = {}
    for household in households:
        by_hash.setdefault(household.bank_card_hash, []).append(household)
    hashes = list(by_hash)
    entries = []
    for start in range(0, len(hashes), _CHUNK):
        for digest, holders in bank_cards_shared(hashes[start : start + _CHUNK]):
            for household in by_hash[digest]:
                entries.append(
                    {
                        "action": "household.shared_card",
                        "object_type": "household",
                        "object_id": household.pk,
                        "area_code": household.area_code,
                        "changes": {
                            "bank_card": [None, household.bank_card_masked],
                            "bank_card_hash": [None, household.bank_card_hash[:16]],
                            "other_households": [None, holders - 1],
                        },
                    }
                )
    return entries


# --- the background runner ----------------------------------------------------------------

IMPORT_STALE_AFTER = timedelta(minutes=10)
IMPORT_MAX_ATTEMPTS = 3


def _gave_up(attempts: int) -> str:
    return _(
        "The worker running this import stopped %(attempts)d times before finishing it, so "
        "it was not started again. Nothing was imported; send the file again."
    ) % {"attempts": attempts}


def _lost_task() -> str:
    return _("No task was going to run this import, so it was queued again.")


def _recovery_audited(change: Recovered[HouseholdImport]) -> None:
    audit_record(
        actor=None,
        action=f"household_import.{change.action}",
        object_type="household_import",
        object_id=change.job.pk,
        area_code=change.job.area_code,
        from_state=change.from_state,
        to_state=change.to_state,
        reason=change.reason,
        changes=change.changes,
    )


IMPORTS = BatchQueue(
    model=HouseholdImport,
    task=household_import_task,
    task_argument="import_id",
    stale_after=IMPORT_STALE_AFTER,
    max_attempts=IMPORT_MAX_ATTEMPTS,
    gave_up_message=_gave_up,
    lost_task_reason=_lost_task,
    record=_recovery_audited,
    related=("requested_by",),
)


def household_imports_recover(*, now: Any = None) -> BatchRecovery:
    """The timers' sweep: imports whose worker died go back to the queue (or fail after
    three attempts), and the files of dry runs nobody confirmed within a day are removed
    (they hold clear ID numbers)."""
    recovery = batches_recover(IMPORTS, now=now)
    cutoff = (now or clock.now()) - KEEP_UNCONFIRMED
    for job in HouseholdImport.objects.filter(
        created_at__lt=cutoff, status__in=[Status.DONE, Status.FAILED]
    ).exclude(stored_name=""):
        # Under the row's lock, which a confirmation holds while it queues its real run:
        # a file is never removed from under a run about to read it.
        with transaction.atomic():
            locked = (
                HouseholdImport.objects.select_for_update(no_key=True)
                .filter(pk=job.pk, stored_name=job.stored_name)
                .first()
            )
            if (
                locked is None
                or HouseholdImport.objects.filter(
                    confirms=locked, status__in=[Status.QUEUED, Status.RUNNING]
                ).exists()
            ):
                continue
            locked.stored_name = ""
            locked.save(update_fields=["stored_name"])
            transaction.on_commit(functools.partial(default_storage.delete, job.stored_name))
    return recovery
