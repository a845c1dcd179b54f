"""Project to invoice, end to end: the ``bill_projects`` state machine CDK deploys, executed by
moto, its tasks dispatched to the real billing handler, invoices drafted in NetSuite's fake
over HTTP by the real connector.

The project is the HubSpot sample deal (time and materials, invoiced in the ERP); its time
comes from Toggl's samples through approvals and posting. Each test states what NetSuite must
hold afterwards (invoices, their lines and amounts, nothing twice) and what the business bus
and the exception list say.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from pshub.business_exceptions import BusinessException, Category, OwnerTeam
from pshub.canonical.envelope import MilestoneCompletedV1, make_event
from pshub.canonical.model import BillingModel, Milestone, Money
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.projects import ProjectDirectory
from tests.e2e.stack import LocalStack
from tests.e2e.test_time_and_expenses import PROJECT, provision, time_bills, toggl

PERIOD = "2026-12"  # the Toggl samples' entries are worked on 2026-12-02


def exceptions(local: LocalStack) -> ExceptionStore:
    return ExceptionStore(
        boto3.client("dynamodb"), local.runtime.resource_name("table", "business_exceptions")
    )


def directory(local: LocalStack) -> ProjectDirectory:
    return ProjectDirectory(boto3.client("dynamodb"), local.runtime.resource_name("table", "identity"))


def run_billing(local: LocalStack, name: str, **state: Any) -> dict[str, Any]:
    """Start ``bill_projects`` as ``pshub billing run`` does, wait for it; its output."""
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    arn = sfn.start_execution(
        stateMachineArn=local.runtime.state_machine_arn("bill_projects"), name=name, input=json.dumps(state)
    )["executionArn"]
    local.runtime.drain()
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED", described
    output: dict[str, Any] = json.loads(described["output"])
    output["statuses"] = [result["status"] for result in output["results"]]
    return output


def invoices(local: LocalStack) -> list[dict[str, Any]]:
    return local.records("netsuite-acme", "invoices")


def held_by_netsuite(local: LocalStack, invoice: dict[str, Any]) -> tuple[str, list[str]]:
    """The invoice as NetSuite holds it: its total and its line amounts (exact, as strings)."""
    record = local.fake("netsuite-acme").record("invoice", invoice["native_id"])
    amounts = [f"{Decimal(str(line['amount'])):.2f}" for line in record["item"]["items"]]
    return f"{Decimal(str(record['total'])):.2f}", amounts


def approved_time(local: LocalStack) -> None:
    """The deal provisioned, and 1.5 h of approved Senior Consultant time on 2026-12-02 posted."""
    provision(local)
    assert toggl(local, "time_entry.updated") == 200
    local.runtime.drain()
    assert [b["hours"] for b in time_bills(local)] == ["1.5"]


def test_a_billing_run_drafts_the_projects_invoice_in_netsuite_once(local: LocalStack) -> None:
    approved_time(local)
    output = run_billing(local, "billing-1", project_code=PROJECT, period=PERIOD)
    assert output["statuses"] == ["drafted"]
    # 1.5 h x 260.00 (the deal's rate card, Senior Consultant) = 390.00; the deal is ACME-US,
    # New York: tax 390.00 x 8.875 % = 34.6125 -> 34.61 (half up); total 424.61.
    [invoice] = invoices(local)
    assert held_by_netsuite(local, invoice) == ("424.61", ["390.00", "34.61"])  # the time, the tax
    assert (invoice["project_code"], invoice["approval"]) == (PROJECT, "Pending Approval")
    [ready] = local.events_of_type("InvoiceReady")
    payload = ready["detail"]["payload"]
    assert (payload["project_code"], payload["period"], payload["invoicing_connection"]) == (
        PROJECT, PERIOD, "netsuite-acme"
    )  # fmt: skip
    assert (payload["subtotal"]["amount"], payload["tax"]["amount"], payload["total"]["amount"]) == (
        "390.00", "34.61", "424.61"
    )  # fmt: skip
    [line] = payload["lines"]
    assert (line["quantity"], line["unit_price"]["amount"], line["amount"]["amount"]) == (
        "1.50",
        "260.00",
        "390.00",
    )
    assert len(line["sources"]) == 1  # the one Toggl entry, at its version
    # A second run (the operator's, the schedule's) bills nothing again.
    again = run_billing(local, "billing-2", project_code=PROJECT, period=PERIOD)
    assert again["statuses"] == ["already_invoiced"]
    assert len(invoices(local)) == 1
    assert len(local.events_of_type("InvoiceReady")) == 1
    assert local.runtime.dead_letters() == []


def test_a_dry_run_says_what_it_would_bill_and_bills_nothing(local: LocalStack) -> None:
    approved_time(local)
    output = run_billing(local, "dry-1", project_code=PROJECT, period=PERIOD, dry_run=True)
    assert output["statuses"] == ["dry_run"]
    assert invoices(local) == []
    assert local.events_of_type("InvoiceReady") == []
    # Nothing was claimed or marked: the real run after it drafts the invoice.
    assert run_billing(local, "real-1", project_code=PROJECT, period=PERIOD)["statuses"] == ["drafted"]
    assert len(invoices(local)) == 1


def test_an_open_exception_on_the_project_holds_its_invoice_with_the_amount(local: LocalStack) -> None:
    approved_time(local)
    exceptions(local).raise_or_reopen(
        BusinessException(
            id="exc-open-1",
            category=Category.POSTING_REJECTED,
            owner_team=OwnerTeam.PMO,
            title=f"{PROJECT}: an expense could not be posted",
            detail="test",
            business_keys={"project": PROJECT},
        )
    )
    output = run_billing(local, "held-1", project_code=PROJECT, period=PERIOD)
    assert output["statuses"] == ["held"]
    assert invoices(local) == []
    [held] = local.events_of_type("BillingHeld")
    payload = held["detail"]["payload"]
    assert [h["reason"] for h in payload["holds"]] == ["open_exceptions"]
    assert payload["amount_held"]["amount"] == "424.61"
    [exception] = [e for e in exceptions(local).list() if e.category is Category.BILLING_HELD]
    assert exception.amount_at_risk == "424.61 USD"
    assert exception.business_keys == {"project": PROJECT, "period": PERIOD}
    assert "exc-open-1" in exception.detail


def test_the_daily_tick_starts_each_entitys_run_for_the_month_before_once(local: LocalStack) -> None:
    approved_time(local)
    today = datetime.now(UTC).date()
    month_before = f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    first = local.runtime.run_schedules(["billing_tick"])["billing_tick"]
    assert (first["period"], first["started"]) == (month_before, ["ACME-UK", "ACME-US"])  # billing day 1
    local.runtime.drain()
    assert local.runtime.run_schedules(["billing_tick"])["billing_tick"]["started"] == []
    names = sorted(e["name"] for e in local.runtime.executions() if e["name"].startswith("bill-"))
    assert names == [f"bill-ACME-UK-{month_before}", f"bill-ACME-US-{month_before}"]
    assert all(e["status"] == "SUCCEEDED" for e in local.runtime.executions() if e["name"] in names)
    # The December time is not the month before's: nothing is invoiced for it yet.
    assert invoices(local) == []


def fixed_fee(local: LocalStack) -> Milestone:
    """The provisioned deal's contract as a fixed fee with two milestones (as a CPQ would hold it)."""
    entries = directory(local)
    entry = entries.get(PROJECT)
    assert entry is not None and entry.contract is not None
    milestones = [
        Milestone(id=f"ms_{n}", name=name, amount=Money(amount=Decimal(amount), currency="USD"))
        for n, (name, amount) in enumerate((("Discovery", "12000.00"), ("Migration", "30000.00")), 1)
    ]
    entry.contract = entry.contract.model_copy(
        update={"billing_model": BillingModel.FIXED_FEE_MILESTONE, "milestones": milestones}
    )
    entry.rev = 0
    entries.register(entry)
    return milestones[0]


def put_canonical(local: LocalStack, kind: str, payload: Any, key: str) -> None:
    event = make_event(
        kind, payload, connection="kantata-acme", source_platform="kantata", source_native_id=key,
        source_event_id=key, occurred_at=datetime.now(UTC), correlation_id=key, legal_entity="ACME-US",
    )  # fmt: skip
    boto3.client("events", region_name=local.runtime.region).put_events(
        Entries=[
            {
                "Source": "pshub.canonical",
                "DetailType": kind,
                "Detail": event.model_dump_json(),
                "EventBusName": local.runtime.resource_name("bus", "business_events"),
            }
        ]
    )


def test_a_completed_milestone_is_invoiced_once_under_its_own_key(local: LocalStack) -> None:
    provision(local)
    discovery = fixed_fee(local)
    completed = MilestoneCompletedV1(
        project_code=PROJECT, milestone_id=discovery.id, name=discovery.name, completed_on=date(2026, 12, 4)
    )
    put_canonical(local, "MilestoneCompleted", completed, "ms-1-done")
    local.runtime.drain()
    put_canonical(local, "MilestoneCompleted", completed, "ms-1-done-again")  # delivered twice
    local.runtime.drain()
    # Discovery: 12,000.00 + 8.875 % tax 1,065.00 = 13,065.00; Migration is not complete.
    [invoice] = invoices(local)
    assert held_by_netsuite(local, invoice) == ("13065.00", ["12000.00", "1065.00"])
    [ready] = local.events_of_type("InvoiceReady")
    assert ready["detail"]["payload"]["invoice_key"].endswith(f"#{PERIOD}#milestone-ms_1")
    assert [line["sources"] for line in ready["detail"]["payload"]["lines"]] == [["ms_1"]]
    # The period's own run later bills neither the milestone again nor anything else.
    assert run_billing(local, "period-1", project_code=PROJECT, period=PERIOD)["statuses"] == [
        "nothing_to_bill"
    ]
    assert len(invoices(local)) == 1


def test_a_milestone_not_on_the_contract_is_an_exception_for_the_pmo(local: LocalStack) -> None:
    provision(local)
    unknown = MilestoneCompletedV1(
        project_code=PROJECT, milestone_id="ms_404", completed_on=date(2026, 12, 4)
    )
    put_canonical(local, "MilestoneCompleted", unknown, "ms-404")
    local.runtime.drain()
    [exception] = exceptions(local).list()
    assert (exception.owner_team, exception.business_keys) == (
        OwnerTeam.PMO, {"project": PROJECT, "milestone": "ms_404"}
    )  # fmt: skip
    assert invoices(local) == [] and local.runtime.dead_letters() == []


@pytest.mark.parametrize("state", [{"project_code": PROJECT, "period": "2026-13"}, {"period": PERIOD}])
def test_a_run_that_cannot_start_fails_with_the_reason(local: LocalStack, state: dict[str, Any]) -> None:
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    arn = sfn.start_execution(
        stateMachineArn=local.runtime.state_machine_arn("bill_projects"), name="bad", input=json.dumps(state)
    )["executionArn"]
    local.runtime.drain()
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "FAILED"
    assert "YYYY-MM" in described.get("cause", "") or "project_code or legal_entity" in described.get(
        "cause", ""
    )


def test_pshub_billing_run_from_the_command_line(local: LocalStack, capsys: Any, monkeypatch: Any) -> None:
    from pshub_local.cli import main

    approved_time(local)
    monkeypatch.setenv("PSHUB_BILLING_STATE_MACHINE_ARN", local.runtime.state_machine_arn("bill_projects"))
    # The workflow runs in moto's threads while the command waits for it.
    command = ["billing", "run", "--project", PROJECT, "--period", PERIOD]
    assert main([*command, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "dry_run" in dry and "390.00 USD" in dry and "total 424.61 USD" in dry and "(1 source(s))" in dry
    assert invoices(local) == []
    assert main(command) == 0
    assert "drafted" in capsys.readouterr().out
    assert main([*command, "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out.split("\n", 1)[1])["results"]
    assert result["status"] == "already_invoiced"
    assert len(invoices(local)) == 1
    assert main(["billing", "run", "--project", PROJECT, "--period", "2026-13"]) == 1


def test_time_not_approved_yet_holds_the_period_until_it_is(local: LocalStack) -> None:
    provision(local)
    assert toggl(local, "time_entry.created") == 200  # 1.25 h on 2026-12-02, not approved
    local.runtime.drain()
    assert run_billing(local, "unapproved-1", project_code=PROJECT, period=PERIOD)["statuses"] == ["held"]
    [held] = local.events_of_type("BillingHeld")
    assert [(h["reason"], h["owner"]) for h in held["detail"]["payload"]["holds"]] == [("unapproved", "pmo")]
    assert "1 time entr(ies)" in held["detail"]["payload"]["holds"][0]["message"]
    assert invoices(local) == []
    # Approved (1.5 h): the period bills, and November, which it is not in, holds nothing.
    assert toggl(local, "time_entry.updated") == 200
    local.runtime.drain()
    assert run_billing(local, "unapproved-2", project_code=PROJECT, period=PERIOD)["statuses"] == ["drafted"]
    assert run_billing(local, "november", project_code=PROJECT, period="2026-11")["statuses"] == [
        "nothing_to_bill"
    ]
