"""Echo suppression, round trip: CRM deal -> pshub writes the billing customer -> the billing
platform's webhook echoes that write -> recognised, not propagated, no conflict raised."""

from __future__ import annotations

import json

from pshub_local.client import send
from tests.e2e.stack import LocalStack
from tests.helpers import sample

SALESFORCE_OPPORTUNITY = "0065e00000KxYzAAAV"
SALESFORCE_CONTRACT = "8005e00000CoNtRAAV"


def stripe_customer_updated(customer_id: str, name: str, event_id: str) -> bytes:
    event = json.loads(sample("stripe/customer.updated.json"))
    customer = event["data"]["object"]
    customer.update({"id": customer_id, "name": name, "address": None, "email": None})
    event["data"]["previous_attributes"] = {"name": None}
    event["id"] = event_id
    return json.dumps(event).encode()


def test_billing_platforms_echo_of_pshubs_write_is_not_propagated(local: LocalStack) -> None:
    # Given a won retainer deal (its contract edited in Salesforce), which pshub bills in Stripe
    local.fake("salesforce-acme").update_record(
        "Contract",
        SALESFORCE_CONTRACT,
        {"pshub_Billing_Model__c": "Retainer", "pshub_Retainer_Per_Month__c": 10000.0},
    )
    details = local.connector("salesforce-acme").get_opportunity(SALESFORCE_OPPORTUNITY)
    assert details.contract is not None and details.contract.retainer_per_month is not None
    local.deliver("salesforce-acme", "salesforce/account.updated.xml")  # the CRM's account, named
    local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml")
    local.runtime.drain()
    # ... so pshub wrote the client to Stripe as a customer
    [activated] = local.events_of_type("ProjectActivated")
    assert activated["detail"]["payload"]["billing_route"] == "billing_platform"
    [customer] = local.records("stripe-acme", "customers")
    customer_id = customer["native_id"]
    assert local.requests("stripe-acme", "create_customer") == 1
    [plan] = local.records("stripe-acme", "billing_plans")
    assert (plan["kind"], plan["customer"], plan["cancelled"]) == ("subscription", customer_id, False)
    before = len(local.runtime.canonical_events())

    # When Stripe's webhook echoes that write back (same name)
    echo = send(
        local.signed(
            "stripe-acme",
            stripe_customer_updated(customer_id, details.client.name, "evt_1EchoRoundTrip00000000A1"),
        )
    )
    local.runtime.drain()

    # Then it was accepted but nothing was propagated and no ownership conflict was raised
    assert echo.status == 200
    assert len(local.runtime.canonical_events()) == before
    assert [
        e for e in local.runtime.business_exceptions() if e.get("correlation_id") == echo.request_id
    ] == []

    # While a real change made in Stripe (a different name) is a conflict, not an echo
    renamed = send(
        local.signed(
            "stripe-acme",
            stripe_customer_updated(customer_id, "Acme Renamed In Billing", "evt_1EchoRoundTrip00000000B2"),
        )
    )
    local.runtime.drain()
    assert len(local.runtime.canonical_events()) == before
    [conflict] = [
        e for e in local.runtime.business_exceptions() if e.get("correlation_id") == renamed.request_id
    ]
    assert conflict["category"] == "ownership_conflict"
    assert conflict["context"]["incoming_value"] == "Acme Renamed In Billing"
    assert conflict["context"]["owner_current_value"] == details.client.name  # the CRM's name
