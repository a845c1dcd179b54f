"""Concur notifications mapped by reading the report through the connector, against the fake.

Reports and expenses are shaped as Expense Report v4 documents them (``ReportExpenseDetail``,
allocations with ``customData``, List v4 items); the expected attributes follow
``docs/time-and-expense.md``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pshub.canonical.envelope import CanonicalEvent, SourceVersion
from pshub.errors import Unmappable
from pshub.platforms.concur.inbound import ConcurAdapter
from pshub_local.platforms.concur.fake import (
    DEMO_OWNER,
    DEMO_PROJECT_CODE,
    DEMO_PROJECT_ITEM,
    allocation,
    amount,
    form_field,
)
from tests.helpers import sample
from tests.unit.platforms.concur.support import Harness, delivery

ADAPTER = ConcurAdapter()
APPROVED = sample("concur/report.approved.json")
SENT_BACK = sample("concur/report.sent_back.json")
REPORT = "9A1B2C3D4E5F60718293"
AIRFARE, HOTEL, TAXI, PERSONAL = (
    "84FCBB92BD4E5342B849DAC29FD163A1",
    "29EE3C62F5D844458828A5C1086072D1",
    "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
    "F9E8D7C6B5A4938271605F4E3D2C1B0A",
)
LIST_ID = "5A1F0C2B8E3D4A6F9B7C0D1E2F3A4B5C"
NOTIFIED_MS = 1_795_424_550_977  # facts.lastModifiedDate 2026-11-23T09:02:30.977Z


def ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def seed_approved_report(harness: Harness) -> None:
    """A EUR report: airfare and a hotel paid in yen on the project, a taxi without one, a personal meal."""
    fake = harness.fake
    fake.add_list_item(
        DEMO_PROJECT_ITEM,
        DEMO_PROJECT_CODE,
        "Acme Consulting: harbour redesign",
        code=f"ACME-{DEMO_PROJECT_CODE}",
    )
    for type_id in ("AIRFR", "LODNG", "TAXI", "BRKFT"):
        fake.set_form_fields(
            type_id,
            [form_field("ExpName", "Expense Type"), form_field("custom9", "Project", list_id=LIST_ID)],
        )
    fake.add_report(REPORT, DEMO_OWNER, currency="EUR")
    fake.add_expense(
        REPORT,
        AIRFARE,
        expense_type=("AIRFR", "Airfare"),
        transaction_date="2026-11-17",
        approved=amount("412.80", "EUR"),
        allocations=[
            allocation("3BBB494511E1C74DA04469C45B039871", DEMO_PROJECT_ITEM, amount("412.80", "EUR"))
        ],
        isExpenseBillable=True,
        receiptImageId="1E2D3C4B5A69788796A5B4C3D2E1F0A9",
        vendor={"id": None, "name": None, "description": "Lufthansa"},
        lastModifiedDate="2026-11-23T08:58:10Z",
    )
    fake.add_expense(
        REPORT,
        HOTEL,
        expense_type=("LODNG", "Hotel"),
        transaction_date="2026-11-18",
        approved=amount("276.35", "EUR"),
        transaction=amount("45000", "JPY"),
        exchangeRate={"value": Decimal("0.00614111"), "operation": "MULTIPLY"},
        allocations=[
            allocation("4DB06B4360E31443AD43ED52B2AE007E", DEMO_PROJECT_ITEM, amount("276.35", "EUR"))
        ],
        ereceiptImageId="E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0",
        vendor={"id": None, "name": None, "description": "Hôtel 東京 Ginza ☕"},
        lastModifiedDate="2026-11-23T09:05:00Z",
    )
    fake.add_expense(
        REPORT,
        TAXI,
        expense_type=("TAXI", "Taxi"),
        transaction_date="2026-11-18",
        approved=amount("23.50", "EUR"),
    )
    fake.add_expense(
        REPORT,
        PERSONAL,
        expense_type=("BRKFT", "Breakfast"),
        transaction_date="2026-11-18",
        approved=amount("0", "EUR"),
        isPersonalExpense=True,
    )


def mapped(harness: Harness, body: bytes = APPROVED, **options: str) -> list[CanonicalEvent]:
    [event] = ADAPTER.split(body, "concur-acme")
    return ADAPTER.read_and_map(event, delivery(body, **options), harness.connector(**options))


def by_native_id(events: list[CanonicalEvent]) -> dict[str, CanonicalEvent]:
    return {e.source_native_id: e for e in events}


# -- an approved report -----------------------------------------------------------------------------
def test_an_approved_report_is_one_expense_snapshot_per_business_expense(harness: Harness) -> None:
    seed_approved_report(harness)
    events = by_native_id(mapped(harness))

    assert sorted(events) == sorted(
        f"{REPORT}/{e}" for e in (AIRFARE, HOTEL, TAXI)
    )  # the personal one is not the firm's
    assert {e.event_type for e in events.values()} == {"ExpenseChanged"}
    assert events[f"{REPORT}/{AIRFARE}"].payload == {
        "native_id": f"{REPORT}/{AIRFARE}",
        "change": "snapshot",
        "attributes": {
            "project_id": "PRJ-HARBLOGI-0001",  # the list item's own (short) code, not its long code
            "worker_id": DEMO_OWNER,
            "incurred_on": "2026-11-17",
            "amount": {"amount": "412.80", "currency": "EUR"},
            "category": "airfare",
            "billable": True,
            "status": "approved",
            "approved_at": "2026-11-23T09:02:30.977000Z",
            "receipt_ref": "1E2D3C4B5A69788796A5B4C3D2E1F0A9",
        },
    }
    # Paid in yen, reimbursed in the report's euros: the approved amount, exact.
    assert events[f"{REPORT}/{HOTEL}"].payload["attributes"] == {
        "project_id": "PRJ-HARBLOGI-0001",
        "worker_id": DEMO_OWNER,
        "incurred_on": "2026-11-18",
        "amount": {"amount": "276.35", "currency": "EUR"},
        "category": "hotel",
        "billable": False,
        "status": "approved",
        "approved_at": "2026-11-23T09:02:30.977000Z",
        "receipt_ref": "E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0",
    }
    # No project on the taxi: mapped without project_id (the posting side raises it as a business exception).
    assert events[f"{REPORT}/{TAXI}"].payload["attributes"] == {
        "worker_id": DEMO_OWNER,
        "incurred_on": "2026-11-18",
        "amount": {"amount": "23.50", "currency": "EUR"},
        "category": "taxi",
        "billable": False,
        "status": "approved",
        "approved_at": "2026-11-23T09:02:30.977000Z",
    }


def test_each_expense_carries_concurs_version_and_the_notification_time(harness: Harness) -> None:
    seed_approved_report(harness)
    events = by_native_id(mapped(harness))
    airfare, hotel = events[f"{REPORT}/{AIRFARE}"], events[f"{REPORT}/{HOTEL}"]

    # The expense was last modified before the approval: the notification's stamp is the version.
    assert airfare.source_version == SourceVersion(
        scheme="concur.lastModifiedDate", major=NOTIFIED_MS, minor=0, tiebreak=AIRFARE
    )
    # Modified after it (an edit the read saw): the expense's own stamp.
    assert hotel.source_version == SourceVersion(
        scheme="concur.lastModifiedDate", major=ms("2026-11-23T09:05:00+00:00"), minor=0, tiebreak=HOTEL
    )
    assert {e.occurred_at for e in events.values()} == {datetime(2026, 11, 23, 9, 2, 31, 418000, tzinfo=UTC)}
    assert {e.source_event_id for e in events.values()} == {
        f"3f2c9a1e-7b4d-4e8a-9c61-2d5f0b8e7a14:{x}" for x in (AIRFARE, HOTEL, TAXI)
    }
    assert len({e.event_id for e in events.values()}) == 3
    assert {(e.connection, e.source_platform, e.correlation_id) for e in events.values()} == {
        ("concur-acme", "concur", "corr-1")
    }


def test_the_read_follows_the_documented_endpoints_and_reads_each_list_item_once(harness: Harness) -> None:
    seed_approved_report(harness)
    mapped(harness)
    assert harness.operations() == [
        "token",
        "get_report",
        "list_expenses",
        *("get_expense", "list_allocations", "form_fields", "get_list_item"),
        *("get_expense", "list_allocations", "form_fields"),  # the same list item: read once
        *("get_expense", "list_allocations", "form_fields"),
        *("get_expense", "list_allocations", "form_fields"),
    ]
    paths = [e.request.path for e in harness.fake.exchanges]
    assert paths[1] == f"/expensereports/v4/users/{DEMO_OWNER}/context/TRAVELER/reports/{REPORT}"
    assert f"/list/v4/items/{DEMO_PROJECT_ITEM}" in paths


def test_a_project_field_given_by_its_id_needs_no_form_fields(harness: Harness) -> None:
    seed_approved_report(harness)
    events = by_native_id(mapped(harness, project_field="Custom9"))
    assert events[f"{REPORT}/{AIRFARE}"].payload["attributes"]["project_id"] == "PRJ-HARBLOGI-0001"
    assert harness.fake.calls("form_fields") == []


def test_a_project_in_a_text_field_is_its_value(harness: Harness) -> None:
    fake = harness.fake
    fake.add_report(REPORT, DEMO_OWNER, currency="JPY")
    fake.add_expense(
        REPORT,
        AIRFARE,
        expense_type=("AIRFR", "Airfare"),
        transaction_date="2026-11-17",
        approved=amount("4500", "JPY"),
        customData=[{"id": "custom2", "value": "PRJ-TOKY-0007", "isValid": True, "listItemUrl": None}],
    )
    [event] = mapped(harness, project_field="custom2")
    assert event.payload["attributes"]["project_id"] == "PRJ-TOKY-0007"
    assert event.payload["attributes"]["amount"] == {"amount": "4500", "currency": "JPY"}  # no minor unit


def test_an_expense_split_across_two_projects_is_refused(harness: Harness) -> None:
    seed_approved_report(harness)
    harness.fake.add_list_item("11112222333344445555666677778888", "PRJ-BETA-0002", "Beta")
    harness.fake.allocations[AIRFARE] = [
        allocation("A1", DEMO_PROJECT_ITEM, amount("206.40", "EUR"), percentage="50"),
        allocation("A2", "11112222333344445555666677778888", amount("206.40", "EUR"), percentage="50"),
    ]
    with pytest.raises(Unmappable, match="allocated to 2 projects"):
        mapped(harness)


def test_an_amount_finer_than_its_currency_is_refused_not_rounded(harness: Harness) -> None:
    fake = harness.fake
    fake.add_report(REPORT, DEMO_OWNER, currency="EUR")
    fake.add_expense(
        REPORT,
        TAXI,
        expense_type=("TAXI", "Taxi"),
        transaction_date="2026-11-18",
        approved=amount("23.505", "EUR"),
    )
    with pytest.raises(Unmappable, match="approvedAmount is not an amount in EUR"):
        mapped(harness, project_field="custom9")


# -- sent back, recalled, pending ---------------------------------------------------------------------
def test_a_report_sent_back_after_approval_rejects_each_expense(harness: Harness) -> None:
    harness.fake.add_demo_reports()
    [event] = mapped(harness, SENT_BACK)
    assert event.source_native_id == "7F6E5D4C3B2A19081726/29EE3C62F5D844458828A5C1086072D1"
    assert event.payload["attributes"] == {
        "project_id": "PRJ-HARBLOGI-0001",
        "worker_id": DEMO_OWNER,
        "incurred_on": "2026-11-18",
        "amount": {"amount": "189.00", "currency": "USD"},
        "category": "hotel",
        "billable": True,
        "status": "rejected",  # no approved_at: it is not approved any more
    }
    assert event.source_version is not None and event.source_version.major == ms(
        "2026-11-24T14:45:06.610+00:00"
    )


def test_the_report_as_read_decides_not_the_notification(harness: Harness) -> None:
    """An approval notification handled after the report was sent back maps the send-back, under the
    approval's older version: entity sync keeps the send-back's newer one."""
    seed_approved_report(harness)
    harness.fake.set_status(REPORT, "A_RESU")
    events = mapped(harness)
    assert {e.payload["attributes"]["status"] for e in events} == {"rejected"}
    assert all("approved_at" not in e.payload["attributes"] for e in events)


def test_an_expense_the_approver_rejected_inside_an_approved_report_is_rejected(harness: Harness) -> None:
    seed_approved_report(harness)
    harness.fake.expenses[REPORT][TAXI]["isExpenseRejected"] = True
    events = by_native_id(mapped(harness))
    assert events[f"{REPORT}/{TAXI}"].payload["attributes"]["status"] == "rejected"
    assert "approved_at" not in events[f"{REPORT}/{TAXI}"].payload["attributes"]


def test_a_report_still_pending_approval_maps_to_nothing(harness: Harness) -> None:
    seed_approved_report(harness)
    harness.fake.set_status(REPORT, "A_ACCO")
    assert mapped(harness) == []
    # ...unless the connection counts "approved, in accounting review" as approved.
    statuses = {e.payload["attributes"]["status"] for e in mapped(harness, approved_statuses="A_APPR,A_ACCO")}
    assert statuses == {"approved"}


def test_a_report_created_updated_or_deleted_maps_to_nothing_without_a_read(harness: Harness) -> None:
    notification = json.loads(APPROVED)
    notification["eventType"] = "reportDeleted"
    assert mapped(harness, json.dumps(notification).encode()) == []
    assert harness.fake.calls() == []


def test_the_report_is_read_as_its_owner_named_in_href_not_as_the_approver(harness: Harness) -> None:
    seed_approved_report(harness)
    notification: dict[str, Any] = json.loads(APPROVED)
    assert notification["facts"]["userId"] != DEMO_OWNER  # the approver
    del notification["facts"]["href"]
    with pytest.raises(Exception, match="not found"):  # read as the approver: Concur answers 404
        mapped(harness, json.dumps(notification).encode())
