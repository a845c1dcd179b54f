"""Approved time and expenses end to end: from Toggl's webhooks, Harvest's feed and Concur's
notifications to NetSuite, through the local runtime (moto) and each vendor's fake over HTTP.

Each test states what NetSuite must hold afterwards: the time bills and expense reports, their
hours and rates, and nothing twice.
"""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest

from pshub.business_exceptions import OwnerTeam, Status
from pshub.canonical.model import Money, Rate, RateCard
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.postings import PostingLedger
from pshub.store.projects import ProjectDirectory
from pshub_infra.topology import posting_key
from pshub_local.client import send
from tests.e2e.stack import LocalStack
from tests.helpers import sample

PROJECT = "PRJ-HARBLOGI-0001"  # the code the HubSpot sample deal is provisioned under


def exceptions(local: LocalStack) -> ExceptionStore:
    return ExceptionStore(
        boto3.client("dynamodb"), local.runtime.resource_name("table", "business_exceptions")
    )


def ledger(local: LocalStack) -> PostingLedger:
    return PostingLedger(boto3.client("dynamodb"), local.runtime.resource_name("table", "postings"))


def provision(local: LocalStack) -> None:
    assert local.deliver("hubspot-acme", "hubspot/deal.closed_won.json").status == 200
    local.runtime.drain()
    assert [p["code"] for p in local.records("netsuite-acme", "projects")] == [PROJECT]


def toggl(local: LocalStack, name: str, **payload: Any) -> int:
    """A Toggl sample, its time entry changed as given (and ``at`` moved on), signed and sent."""
    document = json.loads(sample(f"toggl/{name}.json"))
    if payload:
        document["payload"] = {**document["payload"], **payload}
        document["event_id"] = int(document["event_id"]) + len(json.dumps(payload))
    response = send(local.signed("toggl-acme", json.dumps(document).encode()))
    return response.status


def time_bills(local: LocalStack) -> list[dict[str, Any]]:
    return local.records("netsuite-acme", "time_entries")


def bill_rates(local: LocalStack) -> list[float]:
    fake = local.fake("netsuite-acme")
    return [fake.record("timeBill", b["native_id"])["rate"] for b in time_bills(local)]


def test_approved_toggl_time_posts_once_and_follows_its_corrections(local: LocalStack) -> None:
    provision(local)
    assert toggl(local, "time_entry.created") == 200  # 1.25 h, not approved yet
    local.runtime.drain()
    assert time_bills(local) == []
    assert toggl(local, "time_entry.updated") == 200  # approved: 1.5 h as Senior Consultant
    assert toggl(local, "time_entry.updated") == 200  # Toggl delivers it again
    local.runtime.drain()
    [bill] = time_bills(local)
    assert (bill["project_code"], bill["work_date"], bill["hours"]) == (PROJECT, "2026-12-02", "1.5")
    assert bill_rates(local) == [260.0]  # the deal's rate card: Senior Consultant 260.00
    # The approver corrects the hours after approval: a correction, not a second bill.
    assert toggl(local, "time_entry.updated", duration=7200, stop="2026-12-02T10:15:00Z",
                 at="2026-12-03T16:00:00+00:00") == 200  # fmt: skip
    local.runtime.drain()
    [corrected] = time_bills(local)
    assert (corrected["native_id"], corrected["hours"]) == (bill["native_id"], "2.0")
    assert local.requests("netsuite-acme", "upsert_time_bill") == 1
    assert local.requests("netsuite-acme", "update_time_bill") == 1
    # Un-approved (the tag removed): reversed; the ERP holds no hours for it.
    assert toggl(local, "time_entry.updated", duration=7200, stop="2026-12-02T10:15:00Z",
                 tags=["Senior Consultant"], at="2026-12-03T17:00:00+00:00") == 200  # fmt: skip
    local.runtime.drain()
    assert time_bills(local) == []
    [record] = ledger(local).scan_postings()
    assert (record.state, record.version, record.line) == ("reversed", 3, None)
    assert len(local.events_of_type("TimeEntryApproved")) == 1
    assert len(local.events_of_type("TimeEntryAdjusted")) == 1
    assert len(local.events_of_type("TimeEntryRejected")) == 1
    assert local.runtime.dead_letters() == []


def test_time_logged_before_the_project_exists_posts_when_it_is_activated(local: LocalStack) -> None:
    assert toggl(local, "time_entry.updated") == 200
    local.runtime.drain()
    [waiting] = exceptions(local).list()
    assert waiting.owner_team is OwnerTeam.PMO and waiting.hours_at_risk == "1.50"
    provision(local)
    assert len(time_bills(local)) == 1
    assert exceptions(local).get(waiting.id).status is Status.RESOLVED  # type: ignore[union-attr]


def test_a_closed_period_is_an_exception_and_retrying_it_posts_once(local: LocalStack, capsys: Any) -> None:
    from pshub_local.cli import main

    provision(local)
    # Dated 2026-09-14, inside the period NetSuite has closed (closed_periods_through 2026-09-30).
    # The deal's rate card starts 2026-12-01, so the older entry is priced by a backdated card.
    directory = ProjectDirectory(boto3.client("dynamodb"), local.runtime.resource_name("table", "identity"))
    directory.add_rate_card(
        PROJECT,
        RateCard(
            id="rc_backdated",
            name="Harbourline pilot",
            version=1,
            currency="USD",
            effective_from=date(2026, 9, 1),
            effective_to=date(2026, 11, 30),
            rates=[
                Rate(role="Senior Consultant", hourly_rate=Money(amount=Decimal("240.00"), currency="USD"))
            ],
        ),
    )
    assert (
        toggl(local, "time_entry.updated", start="2026-09-14T14:00:00Z", stop="2026-09-14T15:30:00Z") == 200
    )
    local.runtime.drain()
    assert time_bills(local) == []
    [refused] = [e for e in exceptions(local).list() if "closed" in e.title]
    # 1.5 h x 240.00 = 360.00 at risk, for finance ops
    assert (refused.owner_team, refused.hours_at_risk, refused.amount_at_risk) == (
        OwnerTeam.FINANCE_OPS, "1.50", "360.00 USD"
    )  # fmt: skip
    table = [
        "--table", local.runtime.resource_name("table", "business_exceptions"),
        "--audit-table", local.runtime.resource_name("table", "audit"),
    ]  # fmt: skip
    assert main(["exceptions", *table, "list"]) == 0
    listing = capsys.readouterr().out
    assert (
        refused.id in listing
        and "finance_ops" in listing
        and "at risk: hours 1.50, amount 360.00 USD" in listing
        and "finance_ops: 1, at risk 360.00 USD, 1.50 h" in listing  # the owner's totals
    )
    assert main(["exceptions", *table, "list", "--owner", "pmo"]) == 0
    assert capsys.readouterr().out.endswith("0 exception(s)\n")
    # Finance reopens the period; the operator retries from the command line.
    local.fake("netsuite-acme")._closed_through = None
    key = posting_key("netsuite-acme")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"PSHUB_QUEUE_{key.upper()}", local.runtime.queue_url(key))
        assert (
            main(["exceptions", *table, "resolve", refused.id, "--retry", "--note", "period reopened"]) == 0
        )
        local.runtime.drain()
        assert main(["exceptions", *table, "resolve", refused.id, "--retry", "--note", "again"]) == 2
    # The retry is on the audit trail: who, what, the status before and after, the note.
    capsys.readouterr()
    assert main(["exceptions", *table, "show", refused.id]) == 0
    shown = capsys.readouterr().out
    assert "audit (1)" in shown and "exception.retry  open -> resolved  period reopened" in shown
    [bill] = time_bills(local)
    assert (bill["work_date"], bill["hours"]) == ("2026-09-14", "1.5")
    assert bill_rates(local) == [240.0]
    assert exceptions(local).get(refused.id).status is Status.RESOLVED  # type: ignore[union-attr]


def test_harvest_is_polled_and_its_approved_time_posted_once(local: LocalStack) -> None:
    provision(local)
    harvest = local.fake("harvest-acme")
    project = {"id": 14307913, "name": "Harbourline data platform", "code": PROJECT}
    entry = harvest.add_time_entry(spent_date="2026-12-03", hours="3.75", project=project,
                                   task={"id": 1, "name": "Senior Consultant"}, approval_status="approved")  # fmt: skip
    harvest.add_time_entry(spent_date="2026-12-03", hours="1", project=project, approval_status="submitted")
    results = local.runtime.run_schedules()
    local.runtime.drain()
    assert results["poll_harvest_acme"]["polled"][0]["records"] == 2
    [bill] = time_bills(local)
    assert (bill["work_date"], bill["hours"]) == ("2026-12-03", "3.75")
    # The next poll re-reads its overlap: nothing is posted again.
    local.runtime.run_schedules()
    local.runtime.drain()
    assert len(time_bills(local)) == 1
    # The entry is deleted in Harvest: the delete scan finds it and the bill is reversed.
    harvest.delete_time_entry(int(entry["id"]))
    harvest.advance(2 * 3600)
    with pytest.MonkeyPatch.context() as patch:
        later = time.time() + 2 * 3600
        patch.setattr("pshub.pipeline.poller.time.time", lambda: later)
        local.runtime.run_schedules()
    local.runtime.drain()
    assert time_bills(local) == []


def test_an_approved_concur_report_posts_its_expense_once(local: LocalStack) -> None:
    provision(local)
    assert local.deliver("concur-acme", "concur/report.approved.json").status == 200
    assert local.deliver("concur-acme", "concur/report.approved.json").status == 200
    local.runtime.drain()
    [report] = local.records("netsuite-acme", "expense_reports")
    line = local.fake("netsuite-acme").record("expenseReport", report["native_id"])["expense"]["items"][0]
    assert (report["work_date"], line["amount"], line["currency"]) == (
        "2026-11-17",
        412.8,
        {"refName": "EUR"},
    )
    assert len(local.events_of_type("ExpenseApproved")) == 1
