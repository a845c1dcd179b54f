"""The Harvest adapter: poll pages in, canonical ``TimeEntry`` events out.

Expected values are written out from the samples (events/harvest/, Harvest's documented
example entries) and the contract (docs/time-and-expense.md), not computed by the code
under test."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from pshub.canonical.envelope import CanonicalEvent
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for
from pshub.platforms.base import PlatformEvent
from pshub.platforms.fields import FieldProblem
from pshub.platforms.harvest.inbound import HarvestAdapter
from tests.helpers import inbound, sample
from tests.unit.platforms.harvest.support import harvest_connection

adapter = HarvestAdapter()
# 2017-06-27T16:47:14Z and 2017-06-28T02:00:00Z, in milliseconds since the epoch.
UPDATED_MS = 1_498_582_034_000
DETECTED_MS = 1_498_615_200_000


def delivery(body: bytes, **options: str) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-1", connection="harvest-acme", platform="harvest",
        received_at="2017-06-28T02:00:05.000+00:00", method="POLL", url="poll://harvest-acme/time_entries",
        headers={}, source_ip="", legal_entity="ACME-US", body_text=body.decode(), role="time",
        options=options or None,
    )  # fmt: skip


def entry(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sample("harvest/time_entry.json"))
    document.update(changes)
    return document


def page_of(*entries: dict[str, Any], deleted: list[dict[str, Any]] | None = None) -> bytes:
    records = [{"native_id": str(e["id"]), "modified_at": e["updated_at"], "data": e} for e in entries]
    page = {"pshub_poll": 1, "object_type": "time_entries", "records": records, "deleted": deleted or []}
    return json.dumps(page, ensure_ascii=False).encode()


def mapped(body: bytes, **options: str) -> list[CanonicalEvent]:
    return [
        c
        for e in adapter.split(body, "harvest-acme")
        for c in adapter.to_canonical(e, delivery(body, **options))
    ]


# -- the poll page ------------------------------------------------------------------------------------
def test_the_sample_page_splits_into_two_snapshots_and_a_delete() -> None:
    body = sample("harvest/poll_page.json")
    events = adapter.split(body, "harvest-acme")
    assert [e.event_id for e in events] == [
        "636709355@2017-06-27T16:47:14Z",
        "636708574@2017-06-27T16:47:14Z",
        "636707831@deleted@2017-06-28T02:00:00Z",
    ]
    assert [e.native_id for e in events] == ["636709355", "636708574", "636707831"]
    assert [e.event_type for e in events] == ["time_entry", "time_entry", "time_entry.deleted"]
    assert all(e.problem is None for e in events)


def test_the_documented_entry_maps_to_time_entry_changed_with_the_contracts_attributes() -> None:
    body = sample("harvest/poll_page.json")
    first, second, deleted = mapped(body)
    assert first.event_type == "TimeEntryChanged" and first.schema_version == 1
    assert first.source_platform == "harvest" and first.source_native_id == "636709355"
    assert first.source_event_id == "636709355@2017-06-27T16:47:14Z"
    assert first.occurred_at.isoformat() == "2017-06-27T16:47:14+00:00"
    assert first.payload == {
        "native_id": "636709355",
        "change": "snapshot",
        "attributes": {
            "project_id": "MW",
            "worker_id": "1782959",
            "work_date": "2017-03-02",
            "hours": "2.11",  # hours, not rounded_hours (2.25)
            "billable": True,
            "role": "Graphic Design",
            "status": "approved",  # approved and locked
            "notes": "Adding CSS styling",
        },
    }
    assert first.source_version is not None
    assert first.source_version.model_dump() == {
        "scheme": "harvest.updated_at",
        "major": UPDATED_MS,
        "minor": 0,
        "tiebreak": "636709355",
    }
    # The project without a code is known by its id; a non-billable research hour.
    assert second.payload["attributes"] == {
        "project_id": "14308069",
        "worker_id": "1782959",
        "work_date": "2017-03-01",
        "hours": "1",
        "billable": False,
        "role": "Research",
        "status": "approved",
        "notes": "Evaluating 3rd party libraries",
    }
    assert deleted.event_type == "TimeEntryDeleted"
    assert deleted.payload == {"native_id": "636707831"}
    assert deleted.occurred_at.isoformat() == "2017-06-28T02:00:00+00:00"
    assert deleted.source_version is not None
    assert deleted.source_version.key() == (DETECTED_MS, 0, "636707831")
    assert deleted.source_version.key() > first.source_version.key()


def test_the_same_page_twice_makes_the_same_canonical_events() -> None:
    body = sample("harvest/poll_page.json")
    assert [e.event_id for e in mapped(body)] == [e.event_id for e in mapped(body)]


def test_a_known_user_is_their_lower_cased_e_mail_address() -> None:
    body = page_of(entry())
    [event] = mapped(body, users="1782959=Kim.Allen@ABC-Corp.example.com, 42=someone@example.com")
    assert event.payload["attributes"]["worker_id"] == "kim.allen@abc-corp.example.com"
    with pytest.raises(Unmappable, match="option users"):
        mapped(body, users="1782959:kim@example.com")


# -- values exactly ---------------------------------------------------------------------------------------
def test_hours_are_the_exact_decimal_harvest_wrote_never_a_binary_float() -> None:
    a, b = entry(id=636709401, hours=0.1), entry(id=636709402, hours=0.2)
    body = page_of(a, b)
    assert b'"hours": 0.1,' in body and b'"hours": 0.2,' in body
    first, second = mapped(body)
    assert first.payload["attributes"]["hours"] == "0.1"
    assert second.payload["attributes"]["hours"] == "0.2"
    total = Decimal(first.payload["attributes"]["hours"]) + Decimal(second.payload["attributes"]["hours"])
    assert total == Decimal("0.3")  # 0.1 + 0.2 as floats is 0.30000000000000004


def test_long_decimal_hours_keep_every_digit() -> None:
    raw = sample("harvest/time_entry.json").replace(b'"hours": 2.11', b'"hours": 0.4166666666666666667')
    page = {"pshub_poll": 1, "object_type": "time_entries", "records": []}
    body = (
        json.dumps(page)
        .encode()
        .replace(
            b'"records": []',
            b'"records": [{"native_id": "636709355", "modified_at": "2017-06-27T16:47:14Z", "data": '
            + raw
            + b"}]",
        )
    )
    [event] = mapped(body)
    assert event.payload["attributes"]["hours"] == "0.4166666666666666667"


def test_unicode_notes_arrive_unchanged() -> None:
    notes = "Überprüfung der Abnahme — 東京オフィス, naïve café 🚀"
    [event] = mapped(page_of(entry(notes=notes)))
    assert event.payload["attributes"]["notes"] == notes


def test_a_blank_project_code_falls_back_to_the_project_id_and_null_notes_are_absent() -> None:
    project = {"id": 14308069, "name": "Online Store - Phase 1", "code": ""}
    [event] = mapped(page_of(entry(project=project, notes=None)))
    assert event.payload["attributes"]["project_id"] == "14308069"
    assert "notes" not in event.payload["attributes"]


# -- status ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("approval", "closed", "locked", "expected"),
    [
        ("unsubmitted", False, False, "draft"),
        ("submitted", False, False, "submitted"),
        ("approved", True, True, "approved"),
        ("approved", True, False, "approved"),
        ("unsubmitted", False, True, "draft"),  # locked by an invoice or a closed period, not approved
        (None, True, True, "approved"),  # a response from before approval_status
        (None, False, False, "submitted"),
    ],
)
def test_status_follows_harvests_approval_state(
    approval: str | None, closed: bool, locked: bool, expected: str
) -> None:
    fields = {"is_closed": closed, "is_locked": locked, "approval_status": approval}
    document = entry(**fields)
    if approval is None:
        del document["approval_status"]
    [event] = mapped(page_of(document))
    assert event.payload["attributes"]["status"] == expected


def test_an_approval_state_pshub_does_not_know_is_refused_not_guessed() -> None:
    body = page_of(entry(approval_status="pending_review"))
    [event] = adapter.split(body, "harvest-acme")
    with pytest.raises(FieldProblem, match="approval_status is a state pshub does not map") as refused:
        adapter.to_canonical(event, delivery(body))
    assert "pending_review" not in str(refused.value)


def test_running_timers_and_empty_entries_map_to_nothing_yet() -> None:
    running = entry(id=636709500, is_running=True, timer_started_at="2017-06-27T16:00:00Z")
    empty = entry(id=636709501, hours=0.0)
    assert mapped(page_of(running, empty)) == []


# -- what cannot be read ------------------------------------------------------------------------------------
def test_malformed_records_are_marked_and_the_rest_of_the_page_goes_on() -> None:
    good = entry()
    page = json.loads(page_of(good))
    page["records"] += [
        {"native_id": "636709356", "modified_at": "2017-06-27T16:47:14Z", "data": entry(id=636709357)},
        {"native_id": None, "modified_at": "2017-06-27T16:47:14Z", "data": entry()},
        {"native_id": "636709358", "modified_at": "yesterday", "data": entry(id=636709358)},
        {"native_id": "636709359", "modified_at": "2017-06-27T16:47:14Z", "data": "not an entry"},
        "not a record",
    ]
    page["deleted"] = [
        {"native_id": "636707831"},
        {"native_id": "636707832", "detected_at": "2017-06-28T02:00:00Z"},
    ]
    body = json.dumps(page).encode()
    events = adapter.split(body, "harvest-acme")
    problems = [e.problem for e in events]
    assert problems[0] is None and problems[-1] is None
    assert all(problems[1:-1])
    assert events[1].problem == "Harvest poll page records[1]: data.id is not the record's native_id"
    assert events[3].problem == "Harvest poll page records[3].modified_at is not an ISO 8601 date and time"
    assert events[6].problem == "Harvest poll page deleted[0].detected_at is null, expected text"
    malformed = events[2]
    assert malformed == PlatformEvent.malformed(malformed.event_id, malformed.problem or "", malformed.data)
    with pytest.raises(Unmappable):
        adapter.to_canonical(malformed, delivery(body))
    assert [e.event_type for e in mapped_good(body)] == ["TimeEntryChanged", "TimeEntryDeleted"]


def mapped_good(body: bytes) -> list[CanonicalEvent]:
    return [
        c
        for e in adapter.split(body, "harvest-acme")
        if e.problem is None
        for c in adapter.to_canonical(e, delivery(body))
    ]


def test_a_record_with_hours_of_the_wrong_type_is_refused_naming_the_field_not_the_value() -> None:
    body = page_of(entry(hours="2.11"))
    [event] = adapter.split(body, "harvest-acme")
    with pytest.raises(FieldProblem, match="hours is a string, expected a number"):
        adapter.to_canonical(event, delivery(body))


def test_bodies_that_are_not_poll_pages_are_refused() -> None:
    with pytest.raises(UnparseableBody, match="pshub poll page"):
        adapter.parse(sample("harvest/time_entry.json"))
    with pytest.raises(UnparseableBody, match="not JSON"):
        adapter.parse(b"{")
    with pytest.raises(UnparseableBody, match="records"):
        adapter.parse(b'{"pshub_poll": 1, "object_type": "time_entries"}')
    adapter.parse(sample("harvest/poll_page.json"))
    with pytest.raises(Unmappable, match="time_entries only"):
        adapter.split(b'{"pshub_poll": 1, "object_type": "expenses", "records": []}', "harvest-acme")
    with pytest.raises(UnparseableBody, match="not JSON"):
        adapter.split(
            b'{"pshub_poll": 1, "pshub_poll": 1, "object_type": "time_entries", "records": []}', "x"
        )


def test_nothing_reaching_the_webhook_ingress_is_harvest() -> None:
    assert adapter_for("harvest").platform == "harvest"
    request = inbound(sample("harvest/poll_page.json"))
    with pytest.raises(SignatureInvalid, match="sends no webhooks"):
        adapter.verify(request, harvest_connection(), "any-secret", 1_800_000_000.0)


def test_more_than_a_day_in_one_entry_does_not_fit_the_canonical_model() -> None:
    body = page_of(entry(hours=24.5))
    [event] = adapter.split(body, "harvest-acme")
    with pytest.raises(ValidationError, match="hours"):
        adapter.to_canonical(event, delivery(body))
