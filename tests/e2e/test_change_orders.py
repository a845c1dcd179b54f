"""A change order end to end: ``ChangeOrderApproved`` on the bus, the ``amend_contract`` state
machine CDK deploys (executed by moto, its tasks dispatched to the real handler), the CRM's
contract read, NetSuite's job and Kantata's workspace amended over HTTP, then time on each side
of the effective date posted and invoiced at the rate in force on its day.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3

from pshub.business_exceptions import Category, OwnerTeam, Status
from pshub.canonical.envelope import ChangeOrderApprovedV1, make_event
from pshub.canonical.model import ContractAmendment, Milestone, Money, Rate, RateCard
from pshub.store.exceptions_store import ExceptionStore
from pshub.workflows.provisioning.resolution import resolve_parked
from pshub_local.platforms.seed import (
    HUBSPOT_DEAL_ID,
    HUBSPOT_QUOTE_ID,
    SALESFORCE_ACCOUNT_ID,
    SALESFORCE_CONTRACT_ID,
)
from tests.e2e.stack import LocalStack
from tests.e2e.test_billing import invoices, run_billing
from tests.e2e.test_time_and_expenses import PROJECT, bill_rates, provision, time_bills, toggl


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


# Amendment 1: from 2026-12-10 a Senior Consultant costs 300.00 (was 260.00), the budget is
# 180,000.00 and the project runs to 2027-06-30.
REPRICED = RateCard(
    id="ratecard_harbourline_v2", name="Harbourline (amendment 1)", version=2, currency="USD",
    effective_from=date(2026, 12, 10), rates=[Rate(role="Senior Consultant", hourly_rate=usd("300.00"))],
)  # fmt: skip
ORDER = ChangeOrderApprovedV1(
    project_code=PROJECT,
    change_order_id="CO-0001",
    amendment=ContractAmendment(
        number=1,
        effective_date=date(2026, 12, 10),
        description="Phase 2: data migration waves 3-5",
        value_change=usd("60000.00"),
    ),
    budget=usd("180000.00"),
    end_date=date(2027, 6, 30),
    rate_card=REPRICED,
    milestones=[
        Milestone(id="ms-harb-migration-wave-5", name="Migration wave 5 accepted", amount=usd("15000.00"),
                  due_date=date(2027, 5, 28)),
    ],
    staffing_changed=True,
)  # fmt: skip


def approve(local: LocalStack, order: ChangeOrderApprovedV1 = ORDER, key: str = "co-1") -> None:
    event = make_event(
        "ChangeOrderApproved", order, connection="hubspot-acme", source_platform="hubspot",
        source_native_id=order.change_order_id, source_event_id=key, occurred_at=datetime.now(UTC),
        correlation_id=key, legal_entity="ACME-US",
    )  # fmt: skip
    boto3.client("events", region_name=local.runtime.region).put_events(
        Entries=[
            {
                "Source": "pshub.canonical",
                "DetailType": "ChangeOrderApproved",
                "Detail": event.model_dump_json(),
                "EventBusName": local.runtime.resource_name("bus", "business_events"),
            }
        ]
    )
    local.runtime.drain()


def exceptions(local: LocalStack) -> ExceptionStore:
    return ExceptionStore(
        boto3.client("dynamodb"), local.runtime.resource_name("table", "business_exceptions")
    )


def workspace(local: LocalStack) -> dict[str, Any]:
    [found] = local.fake("kantata-acme").workspaces.values()
    return dict(found)


def job(local: LocalStack) -> dict[str, Any]:
    [project] = local.records("netsuite-acme", "projects")
    record: dict[str, Any] = local.fake("netsuite-acme").record("job", project["native_id"])
    return record


def test_a_change_order_amends_erp_and_psa_and_the_next_invoice_prices_each_side_of_it(
    local: LocalStack,
) -> None:
    provision(local)
    assert toggl(local, "time_entry.updated") == 200  # 1.5 h on 2026-12-02, before the amendment
    local.runtime.drain()
    approve(local)
    approve(local, key="co-1-again")  # the CRM delivers it twice: one execution, nothing twice
    [execution] = [e for e in local.runtime.executions() if e["name"].startswith("co-")]
    assert execution["status"] == "SUCCEEDED"
    # The ERP's job and the PSA's workspace hold the amended budget and end date ...
    assert (job(local)["projectedEndDate"], job(local)["custentity_pshub_budget"]) == (
        "2027-06-30", "180000.00 USD"
    )  # fmt: skip
    assert (workspace(local)["due_date"], workspace(local)["price"]) == ("2027-06-30", "180000.00")
    # ... the PSA's rate card the new rate (Kantata holds cents) ...
    kantata = local.fake("kantata-acme")
    assert sorted(r["rate"] for r in kantata.rate_card_roles.values()) == [30000]
    # ... and its plan the milestone the change order adds, once (15,000.00 is 1,500,000 cents).
    [milestone] = kantata.milestones(str(workspace(local)["id"]))
    assert (milestone["title"], milestone["due_date"], milestone["budget_estimate_in_cents"]) == (
        "Migration wave 5 accepted", "2027-05-28", 1_500_000
    )  # fmt: skip
    # ... and the bus says so, for resource planning too.
    [amended] = local.events_of_type("ContractAmended")
    payload = amended["detail"]["payload"]
    assert (payload["change_order_id"], payload["rate_card_version"]) == ("CO-0001", 2)
    assert payload["milestone_ids"] == ["ms-harb-migration-wave-5"]
    assert set(payload["systems"]) == {"netsuite-acme", "kantata-acme"}
    [staffing] = local.events_of_type("ResourcingChangeRequested")
    assert staffing["detail"]["payload"]["effective_date"] == "2026-12-10"
    # Time after the effective date is priced at the new rate; the earlier entry keeps the old.
    assert toggl(local, "time_entry.updated", id=3712009999, start="2026-12-14T08:00:00Z",
                 stop="2026-12-14T10:00:00Z", duration=7200) == 200  # fmt: skip
    local.runtime.drain()
    assert sorted(bill_rates(local)) == [260.0, 300.0]
    assert sorted((b["work_date"], b["hours"]) for b in time_bills(local)) == [
        ("2026-12-02", "1.5"), ("2026-12-14", "2.0")
    ]  # fmt: skip
    # December's invoice: 1.5 h x 260.00 = 390.00 and 2 h x 300.00 = 600.00; subtotal 990.00,
    # New York tax 8.875 % = 87.8625 -> 87.86; total 1,077.86.
    assert run_billing(local, "december", project_code=PROJECT, period="2026-12")["statuses"] == ["drafted"]
    [ready] = local.events_of_type("InvoiceReady")
    lines = sorted((line["unit_price"]["amount"], line["quantity"], line["amount"]["amount"])
                   for line in ready["detail"]["payload"]["lines"])  # fmt: skip
    assert lines == [("260.00", "1.50", "390.00"), ("300.00", "2.00", "600.00")]
    assert ready["detail"]["payload"]["total"]["amount"] == "1077.86"
    assert len(invoices(local)) == 1
    assert local.runtime.dead_letters() == []


def test_a_change_order_on_a_contract_not_active_in_the_crm_parks_for_sales_ops(local: LocalStack) -> None:
    provision(local)
    hubspot = local.fake("hubspot-acme")
    with hubspot.lock:  # someone reopens the quote in HubSpot: the terms are a draft again
        hubspot._objects["quotes"][HUBSPOT_QUOTE_ID]["properties"]["hs_status"] = "DRAFT"
    approve(local)
    [parked] = [e for e in exceptions(local).list() if e.category is Category.AMENDMENT_FAILED]
    assert parked.owner_team is OwnerTeam.SALES_OPS
    assert parked.business_keys == {"project": PROJECT, "change_order": "CO-0001"}
    assert "draft" in parked.detail and parked.amount_at_risk == "60000.00 USD"
    assert "due_date" not in workspace(local) or workspace(local)["due_date"] != "2027-06-30"
    assert local.events_of_type("ContractAmended") == []
    # Sales ops approve the quote again; the operator retries: the amendment goes through once.
    with hubspot.lock:
        hubspot._objects["quotes"][HUBSPOT_QUOTE_ID]["properties"]["hs_status"] = "APPROVED"
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    resolve_parked(exceptions(local), sfn, parked.id, "retry", "quote approved again")
    local.runtime.drain()
    assert exceptions(local).get(parked.id).status is Status.RESOLVED  # type: ignore[union-attr]
    assert workspace(local)["due_date"] == "2027-06-30"
    assert len(local.events_of_type("ContractAmended")) == 1


def test_a_psa_refusal_parks_the_amendment_for_the_pmo_after_the_erp_was_amended(local: LocalStack) -> None:
    provision(local)
    local.fake("kantata-acme").inject(
        "update_workspace",
        422,
        {"errors": [{"type": "validation", "message": "Due date is locked"}]},
        times=1,
    )
    approve(local)
    [parked] = [e for e in exceptions(local).list() if e.category is Category.AMENDMENT_FAILED]
    assert parked.owner_team is OwnerTeam.PMO and "Due date is locked" in parked.detail
    assert "UpdatePsa" in parked.title
    assert job(local)["projectedEndDate"] == "2027-06-30"  # the ERP step before it stands
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    resolve_parked(exceptions(local), sfn, parked.id, "retry", "unlocked in Kantata")
    local.runtime.drain()
    assert workspace(local)["due_date"] == "2027-06-30"
    [amended] = local.events_of_type("ContractAmended")
    assert json.dumps(amended["detail"]["payload"]["amendment"]["number"]) == "1"


# -- a change order approved in HubSpot ---------------------------------------------------------
CO_SAMPLE = "hubspot/deal.change_order_approved.json"
CO_EXECUTION = f"co-hubspot-acme-{HUBSPOT_DEAL_ID}-CO1"


def write_change_order_on_the_deal(local: LocalStack, **overrides: str | None) -> None:
    """Sales ops enter change order 1 on the won deal, as HubSpot holds it: the amended amount
    and end date, the change order's own properties, and an approved quote with the new rates."""
    hubspot = local.fake("hubspot-acme")
    quote = hubspot.add_object(
        "quotes",
        {"hs_title": "Harbourline CO-1 (USD)", "hs_status": "APPROVED", "hs_currency": "USD",
         "hs_quote_amount": "60000.00"},
        associations=[("deals", HUBSPOT_DEAL_ID, "quote_to_deal")],
    )  # fmt: skip
    hubspot.add_object(
        "line_items",
        {"name": "Senior Consultant", "price": "300.00", "quantity": "1", "hs_position_on_quote": "0"},
        associations=[("quotes", quote, "line_item_to_quote")],
    )
    properties = {
        "amount": "72,500.00",  # 12,500.00 signed + 60,000.00 of change order 1
        "pshub_contract_end_date": "2027-06-30",
        "pshub_change_order_number": "1",
        "pshub_change_order_effective_date": "2026-12-10",
        "pshub_change_order_description": "Phase 2: data migration waves 3-5",
        "pshub_change_order_value": "60000",
        "pshub_change_order_staffing": "true",
        "pshub_change_order_quote_id": quote,
        "pshub_change_order_status": "approved",
        **overrides,
    }
    with hubspot.lock:
        hubspot._objects["deals"][HUBSPOT_DEAL_ID]["properties"].update(properties)


def test_a_change_order_approved_on_a_hubspot_deal_is_read_from_the_deal_and_applied_once(
    local: LocalStack,
) -> None:
    provision(local)
    assert toggl(local, "time_entry.updated") == 200  # 1.5 h on 2026-12-02, before the amendment
    write_change_order_on_the_deal(local)
    assert local.deliver("hubspot-acme", CO_SAMPLE).status == 200
    local.runtime.drain()
    assert local.deliver("hubspot-acme", CO_SAMPLE).status == 200  # HubSpot retries it: nothing twice
    local.runtime.drain()
    assert [(e["name"], e["status"]) for e in local.runtime.executions() if e["name"].startswith("co-")] == [
        (CO_EXECUTION, "SUCCEEDED")
    ]
    # NetSuite's job and Kantata's workspace hold the deal's amended amount and end date ...
    assert (job(local)["projectedEndDate"], job(local)["custentity_pshub_budget"]) == (
        "2027-06-30", "72500.00 USD"
    )  # fmt: skip
    assert (workspace(local)["due_date"], workspace(local)["price"]) == ("2027-06-30", "72500.00")
    assert sorted(r["rate"] for r in local.fake("kantata-acme").rate_card_roles.values()) == [30000]
    [amended] = local.events_of_type("ContractAmended")
    payload = amended["detail"]["payload"]
    assert (payload["change_order_id"], payload["rate_card_version"]) == (f"{HUBSPOT_DEAL_ID}-CO1", 2)
    assert payload["amendment"]["value_change"] == {"amount": "60000.00", "currency": "USD"}
    assert len(local.events_of_type("ResourcingChangeRequested")) == 1
    # Work on 2026-12-14 is priced by the quote's new rate; the entry of 2026-12-02 keeps 260.00.
    assert toggl(local, "time_entry.updated", id=3712009999, start="2026-12-14T08:00:00Z",
                 stop="2026-12-14T10:00:00Z", duration=7200) == 200  # fmt: skip
    local.runtime.drain()
    assert sorted(bill_rates(local)) == [260.0, 300.0]
    assert local.runtime.dead_letters() == []


def test_a_hubspot_change_order_without_its_effective_date_opens_an_exception_for_sales_ops(
    local: LocalStack,
) -> None:
    provision(local)
    write_change_order_on_the_deal(local, pshub_change_order_effective_date=None)
    assert local.deliver("hubspot-acme", CO_SAMPLE).status == 200
    local.runtime.drain()
    [refused] = [e for e in exceptions(local).list() if e.category is Category.AMENDMENT_FAILED]
    assert refused.owner_team is OwnerTeam.SALES_OPS
    assert refused.business_keys == {"opportunity": HUBSPOT_DEAL_ID, "connection": "hubspot-acme"}
    assert "pshub_change_order_effective_date" in refused.detail
    assert [e for e in local.runtime.executions() if e["name"].startswith("co-")] == []
    assert job(local).get("projectedEndDate") != "2027-06-30"
    assert local.runtime.dead_letters() == []


# -- a CPQ amendment won in Salesforce ----------------------------------------------------------
AMENDMENT_OPPORTUNITY = "0065e00000AmEnDAAV"
AMENDMENT_QUOTE = "a0A5e00000AmQt1EAF"


def amend_the_contract_in_cpq(local: LocalStack) -> None:
    """Sales ops amend the Salesforce contract in CPQ: an amendment opportunity (its Amount the
    change, 40,000.00) and its approved primary quote, whose lines are every role at its new rate."""
    salesforce = local.fake("salesforce-acme")
    salesforce.add_record(
        "Opportunity",
        {"Id": AMENDMENT_OPPORTUNITY, "Name": "Amendment for contract #00000101", "StageName": "Closed Won",
         "IsWon": True, "IsClosed": True, "Amount": 40000.0, "CurrencyIsoCode": "USD", "CloseDate": "2026-12-03",
         "AccountId": SALESFORCE_ACCOUNT_ID, "SBQQ__AmendedContract__c": SALESFORCE_CONTRACT_ID},
    )  # fmt: skip
    salesforce.add_record(
        "SBQQ__Quote__c",
        {"Id": AMENDMENT_QUOTE, "Name": "Q-00057", "SBQQ__Opportunity2__c": AMENDMENT_OPPORTUNITY,
         "SBQQ__Account__c": SALESFORCE_ACCOUNT_ID, "SBQQ__Primary__c": True, "SBQQ__Status__c": "Approved",
         "SBQQ__StartDate__c": "2026-12-10", "SBQQ__EndDate__c": "2028-05-31", "SBQQ__NetAmount__c": 40000.0,
         "CurrencyIsoCode": "USD"},
    )  # fmt: skip
    for number, (role, rate) in enumerate([("Partner", 410.0), ("Senior Consultant", 265.0)], start=1):
        salesforce.add_record(
            "SBQQ__QuoteLine__c",
            {"SBQQ__Quote__c": AMENDMENT_QUOTE, "SBQQ__Number__c": float(number), "SBQQ__ProductName__c": role,
             "SBQQ__NetPrice__c": rate, "CurrencyIsoCode": "USD"},
        )  # fmt: skip


def test_a_cpq_amendment_won_in_salesforce_amends_the_project_it_amends_and_starts_no_other(
    local: LocalStack,
) -> None:
    assert local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml").status == 200
    local.runtime.drain()
    [project] = local.records("netsuite-acme", "projects")
    amend_the_contract_in_cpq(local)
    assert local.deliver("salesforce-acme", "salesforce/opportunity.amendment_won.xml").status == 200
    local.runtime.drain()
    assert local.deliver("salesforce-acme", "salesforce/opportunity.amendment_won.xml").status == 200  # again
    local.runtime.drain()
    # One amendment, and no second project: the amendment is not a new deal.
    assert [(e["name"], e["status"]) for e in local.runtime.executions() if e["name"].startswith("co-")] == [
        (f"co-salesforce-acme-{AMENDMENT_OPPORTUNITY}", "SUCCEEDED")
    ]
    assert len(local.records("netsuite-acme", "projects")) == 1
    assert len(local.events_of_type("ProjectActivated")) == 1
    # The budget is the contract's 12,500.00 plus the amendment's 40,000.00; it runs to the
    # amendment quote's end date.
    record = local.fake("netsuite-acme").record("job", project["native_id"])
    assert (record["custentity_pshub_budget"], record["projectedEndDate"]) == ("52500.00 USD", "2028-05-31")
    assert (workspace(local)["price"], workspace(local)["due_date"]) == ("52500.00", "2028-05-31")
    # Kantata's rate card is the amendment quote's: 410.00 and 265.00 (in cents).
    assert sorted(r["rate"] for r in local.fake("kantata-acme").rate_card_roles.values()) == [26500, 41000]
    [amended] = local.events_of_type("ContractAmended")
    payload = amended["detail"]["payload"]
    assert (payload["change_order_id"], payload["amendment"]["number"], payload["rate_card_version"]) == (
        AMENDMENT_OPPORTUNITY, 1, 2
    )  # fmt: skip
    assert payload["amendment"]["effective_date"] == "2026-12-10"
    assert local.runtime.dead_letters() == []


def test_a_milestone_the_change_order_added_is_billed_once_its_project_manager_completes_it_in_kantata(
    local: LocalStack,
) -> None:
    provision(local)
    approve(local)  # change order 1 adds "Migration wave 5 accepted", 15,000.00, to the plan
    kantata = local.fake("kantata-acme")
    [story] = kantata.milestones(str(workspace(local)["id"]))
    local.runtime.run_schedules()  # polled before it is delivered: nothing to bill
    local.runtime.drain()
    assert local.events_of_type("MilestoneCompleted") == []
    kantata.set_story(story["id"], state="completed")
    local.runtime.run_schedules()
    local.runtime.drain()
    local.runtime.run_schedules()  # the next poll overlaps and reads it again: nothing twice
    local.runtime.drain()
    [completed] = local.events_of_type("MilestoneCompleted")
    assert (completed["detail"]["payload"]["milestone_id"], completed["detail"]["payload"]["project_code"]) == (
        "ms-harb-migration-wave-5", PROJECT
    )  # fmt: skip
    # 15,000.00 + New York tax 8.875 % (1,331.25) = 16,331.25, drafted once.
    assert len(invoices(local)) == 1
    [ready] = local.events_of_type("InvoiceReady")
    assert ready["detail"]["payload"]["total"]["amount"] == "16331.25"
    assert [line["sources"] for line in ready["detail"]["payload"]["lines"]] == [["ms-harb-migration-wave-5"]]
    assert local.runtime.dead_letters() == []
