"""A creation webhook that names only an id: the record is read from the platform before identity."""

from __future__ import annotations

import json
import time

from pshub_local.client import send
from tests.e2e.stack import LocalStack

SALESFORCE_ACCOUNT = "0015e00000AcMe1AAF"  # Acme Consulting Ltd, US, acme-consulting.example.com


CREATED_AT = int(time.time() * 1000)


def company_creation(object_id: str, event_id: int) -> bytes:
    # As HubSpot sends it (Webhooks API v3): the new company's id and nothing of the company
    return json.dumps(
        [
            {
                "eventId": event_id, "subscriptionId": 3920101, "portalId": 24681357, "appId": 5551234,
                "occurredAt": CREATED_AT, "subscriptionType": "company.creation",
                "attemptNumber": 0, "objectId": int(object_id), "changeFlag": "CREATED", "changeSource": "CRM_UI",
            }
        ]
    ).encode()  # fmt: skip


def client_events(local: LocalStack, native_id: str) -> list[dict]:
    return [e for e in local.events_of_type("ClientUpserted") if e["detail"]["source_native_id"] == native_id]


def test_a_company_created_in_hubspot_is_read_and_joins_the_client_known_from_salesforce(
    local: LocalStack,
) -> None:
    # Given the Salesforce account Acme Consulting Ltd (United States, acme-consulting.example.com)
    assert local.deliver("salesforce-acme", "salesforce/account.updated.xml").status == 200
    local.runtime.drain()
    [known] = client_events(local, SALESFORCE_ACCOUNT)
    # and the same company created in HubSpot by hand, typed its own way
    company = local.fake("hubspot-acme").add_object(
        "companies",
        {
            "name": "ACME CONSULTING LIMITED",
            "domain": "www.acme-consulting.example.com",
            "country": "United States",
        },
    )

    # When HubSpot's creation webhook arrives, twice (a retry), naming only the company's id
    for _ in range(2):
        assert send(local.signed("hubspot-acme", company_creation(company, 2063559901))).status == 200
        local.runtime.drain()

    # Then the company was read from HubSpot before identity ran, and it is the known client:
    # one canonical client, the HubSpot company bound to it, with the name it was read with
    assert local.requests("hubspot-acme", "get_company") >= 1
    [created] = client_events(local, company)
    assert created["detail"]["canonical_id"] == known["detail"]["canonical_id"]
    assert created["detail"]["payload"]["name"] == "ACME CONSULTING LIMITED"
    # and nothing was raised about it: no possible duplicate, no ownership conflict
    assert not [
        e for e in local.runtime.business_exceptions() if e["business_keys"].get("native_id") == company
    ]


def test_a_company_deleted_before_it_is_read_is_left_to_its_deletion(local: LocalStack) -> None:
    # Given a creation webhook for a company that no longer exists in HubSpot
    assert send(local.signed("hubspot-acme", company_creation("49999999999", 2063559902))).status == 200
    local.runtime.drain()
    # Then nothing was parked or dead-lettered: the read found nothing and the event went on
    assert local.requests("hubspot-acme", "get_company") >= 1
    assert local.runtime.dead_letters() == []
    assert local.runtime.queue_depth("unmappable_deliveries") == 0
