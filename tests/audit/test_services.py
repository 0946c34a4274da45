"""Writing to the ledger: one hash chain per county, each entry linked to the one before."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from audit.hashing import HASHED_FIELDS as HASHED
from audit.hashing import entry_hash
from audit.models import GENESIS_HASH, AuditEntry, ChainHead
from audit.services import audit_record, audit_refusal, chain_for_area, model_changes
from tests.factories import COUNTY, COUNTY_B, VILLAGE_1, VILLAGE_B, World


def test_chain_for_area_is_county_prefix() -> None:
    assert chain_for_area(VILLAGE_1) == "620902"
    assert chain_for_area(COUNTY_B) == "620903"
    assert chain_for_area("") == "000000"


def test_model_changes_lists_only_differences() -> None:
    before = {"status": "registered", "phone": "138****0000", "amount": Decimal("5.00")}
    after = {"status": "exited", "phone": "138****0000", "amount": Decimal("5.00")}

    assert model_changes(before, after) == {"status": ["registered", "exited"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_audit_record_refused_outside_transaction() -> None:
    before = AuditEntry.objects.count()

    with pytest.raises(RuntimeError):
        audit_record(actor=None, action="test", object_type="test", area_code=VILLAGE_1)

    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_audit_entries_of_two_counties_in_two_chains(world: World) -> None:
    world.household(VILLAGE_1)
    world.household(VILLAGE_B)

    chains = {
        entry.chain: entry.area_code[:6]
        for entry in AuditEntry.objects.filter(action="household.create")
    }

    assert chains == {"620902": "620902", "620903": "620903"}


@pytest.mark.django_db
@pytest.mark.parametrize("county", [COUNTY, COUNTY_B])
def test_audit_chain_links_each_entry_to_previous(world: World, county: str) -> None:
    world.application("approved", area_code=VILLAGE_1 if county == COUNTY else VILLAGE_B)

    entries = list(AuditEntry.objects.filter(chain=county[:6]).order_by("seq"))

    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == GENESIS_HASH
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == previous.hash
    for entry in entries:
        assert entry.hash == entry_hash(**{name: getattr(entry, name) for name in HASHED})


@pytest.mark.django_db
def test_audit_chain_of_one_county_untouched_by_other(world: World) -> None:
    head_b = ChainHead.objects.get(chain="620903")
    entries_b = AuditEntry.objects.filter(chain="620903").count()

    world.application("approved", area_code=VILLAGE_1)

    after = ChainHead.objects.get(chain="620903")
    assert (after.seq, after.hash) == (head_b.seq, head_b.hash)
    assert AuditEntry.objects.filter(chain="620903").count() == entries_b


@pytest.mark.django_db
def test_chain_head_follows_last_entry(world: World) -> None:
    world.household(VILLAGE_1)

    head = ChainHead.objects.get(chain="620902")
    last = AuditEntry.objects.filter(chain="620902").latest("seq")

    assert (head.seq, head.hash) == (last.seq, last.hash)


@pytest.mark.django_db
def test_audit_record_rolled_back_with_change(world: World) -> None:
    before = AuditEntry.objects.count()

    with pytest.raises(ValueError), transaction.atomic():
        audit_record(actor=None, action="test", object_type="test", area_code=VILLAGE_1)
        raise ValueError("the change fails")

    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_household_create_audited_field_by_field(world: World) -> None:
    household = world.household(VILLAGE_1, head_name="马玉梅")

    entry = AuditEntry.objects.get(action="household.create", object_id=str(household.pk))

    assert entry.changes["head_name"] == [None, "马玉梅"]
    assert entry.changes["status"] == [None, "registered"]
    assert entry.actor_name == "cadre_v1"


@pytest.mark.django_db
def test_household_update_audited_before_and_after(world: World) -> None:
    from applications.services import household_update

    household = world.household(VILLAGE_1)

    household_update(actor=world.user("cadre_v1"), household_id=household.pk, phone="13900001111")

    entry = AuditEntry.objects.get(action="household.update", object_id=str(household.pk))
    assert entry.changes == {"phone": ["138****0000", "139****1111"]}


@pytest.mark.django_db
def test_application_edit_audited_before_and_after(world: World) -> None:
    from approvals.services.filing import application_edit

    app = world.application("draft")

    application_edit(
        actor=world.user("cadre_v1"),
        application_id=app.pk,
        items=[{"item": "sheep", "quantity": 2}],
    )

    entry = AuditEntry.objects.filter(action="application.update", object_id=str(app.pk)).latest(
        "seq"
    )
    assert entry.changes["amount"] == ["4000.00", "400.00"]


@pytest.mark.django_db
def test_audit_refusal_is_never_written_inside_a_transaction_that_could_roll_back() -> None:
    """A refusal commits on its own: inside someone else's transaction it would vanish with
    that transaction's rollback, so it is refused outright and nothing is written."""
    before = AuditEntry.objects.count()

    with pytest.raises(RuntimeError, match="durable"):
        with transaction.atomic():
            audit_refusal(actor=None, action="x.y", object_type="t", reason="refused")

    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_many_entries_at_once_chain_as_one_by_one(world: World) -> None:
    from audit.services import audit_records
    from audit.verify import ledger_verify

    actor = world.user("finance_a")
    with transaction.atomic():
        audit_record(actor=actor, action="x.one", object_type="t", area_code=VILLAGE_1)
        audit_records(
            actor=actor,
            entries=[
                {"action": "x.many", "object_type": "t", "object_id": n, "area_code": area}
                for n, area in enumerate([VILLAGE_1, VILLAGE_B, VILLAGE_1])
            ],
        )
        audit_record(actor=actor, action="x.after", object_type="t", area_code=VILLAGE_1)

    ours = list(AuditEntry.objects.filter(chain=COUNTY[:6], action__startswith="x."))
    assert [(e.action, e.object_id) for e in ours] == [
        ("x.one", ""),
        ("x.many", "0"),
        ("x.many", "2"),
        ("x.after", ""),
    ]
    seqs = [e.seq for e in ours]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    assert all(b.prev_hash == a.hash for a, b in zip(ours, ours[1:], strict=False))
    other = AuditEntry.objects.get(chain=COUNTY_B[:6], action="x.many")
    assert ChainHead.objects.get(chain=COUNTY_B[:6]).hash == other.hash
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_many_entries_need_the_transaction_of_the_change() -> None:
    from audit.services import audit_records

    with pytest.raises(RuntimeError):
        audit_records(actor=None, entries=[{"action": "x", "object_type": "t"}])
