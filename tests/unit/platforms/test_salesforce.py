"""Salesforce Outbound Messages: endpoint token + OrganizationId, SOAP parsing, the Ack."""

from __future__ import annotations

from decimal import Decimal

import pytest
from defusedxml.ElementTree import fromstring

from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.platforms.salesforce import OUTBOUND_NS, SOAP_NS, SalesforceAdapter
from pshub.raw_delivery import RawDelivery
from tests.helpers import connections, inbound, sample

TOKEN = "localtest-token-7f3a"  # test-only
adapter = SalesforceAdapter()
connection = connections()["salesforce-acme"]
URL = f"https://hooks.example.com/webhooks/salesforce-acme?token={TOKEN}"


def verify(body: bytes, url: str = URL) -> None:
    adapter.verify(inbound(body, {"Content-Type": "text/xml"}, url=url), connection, TOKEN, 0.0)


def test_message_from_the_configured_org_with_the_token_is_accepted() -> None:
    verify(sample("salesforce/opportunity.closed_won.xml"))


def test_fifteen_character_org_id_in_config_matches_eighteen_in_message() -> None:
    body = sample("salesforce/account.updated.xml").replace(b"00D5e000000ABCDEAA", b"00D5e000000ABCDxyz")
    verify(body)  # the last three characters are only a case checksum


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://hooks.example.com/webhooks/salesforce-acme", "missing"),
        ("https://hooks.example.com/webhooks/salesforce-acme?token=wrong", "does not match"),
    ],
)
def test_missing_or_wrong_token_is_rejected(url, reason) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        verify(sample("salesforce/opportunity.closed_won.xml"), url)


def test_message_from_another_org_is_rejected() -> None:
    body = sample("salesforce/opportunity.closed_won.xml").replace(
        b"00D5e000000ABCDEAA", b"00D000000000001AAA"
    )
    with pytest.raises(SignatureInvalid, match="org 00D000000000001AAA"):
        verify(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<not-xml", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "not well-formed, safe XML"),
        (f'<e:Envelope xmlns:e="{SOAP_NS}"><e:Body/></e:Envelope>'.encode(), "not a SOAP notifications"),
        (
            f'<e:Envelope xmlns:e="{SOAP_NS}"><e:Body><notifications xmlns="{OUTBOUND_NS}">'
            "<OrganizationId>00D5e000000ABCDEAA</OrganizationId></notifications></e:Body></e:Envelope>".encode(),
            "no Notification",
        ),
    ],
)
def test_unparseable_and_unsafe_xml_is_named(body, reason) -> None:
    with pytest.raises(UnparseableBody, match=reason):
        adapter.parse(body)


def test_ack_is_the_documented_notifications_response() -> None:
    response = adapter.acknowledge(inbound(b""))
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/xml")
    ack = fromstring(response.body.encode()).find(
        f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack"
    )
    assert ack is not None and ack.text == "true"


def delivery(body: bytes) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-sf", connection="salesforce-acme", platform="salesforce",
        received_at="2026-11-20T00:00:00.000+00:00", method="POST", url=URL, headers={},
        source_ip="192.0.2.1", legal_entity="ACME-UK", body_text=body.decode(), options=dict(connection.options),
    )  # fmt: skip


def test_closed_won_opportunity_maps_with_amount_and_account() -> None:
    body = sample("salesforce/opportunity.closed_won.xml")
    [event] = adapter.split(body, "salesforce-acme")
    assert event.event_id == "04l5e00000QwErTAAV"  # the Notification Id Salesforce reuses on redelivery
    [won] = adapter.to_canonical(event, delivery(body))
    assert won.event_type == "OpportunityClosedWon"
    assert won.source_native_id == "0065e00000KxYzAAAV"
    assert won.legal_entity == "ACME-UK"
    assert won.payload["amount"] == {"amount": "12500.0", "currency": "USD"}
    assert Decimal(won.payload["amount"]["amount"]) == Decimal("12500")
    assert won.payload["client_id"] == "0015e00000AcMe1AAF"
    assert won.payload["close_date"] == "2026-11-20"
    assert won.payload["complete"] is True


def test_open_opportunity_is_an_update_not_a_win() -> None:
    body = (
        sample("salesforce/opportunity.closed_won.xml")
        .replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>")
        .replace(b"Closed Won", b"Negotiation/Review")
    )
    [event] = adapter.split(body, "salesforce-acme")
    [update] = adapter.to_canonical(event, delivery(body))
    assert update.event_type == "OpportunityUpdated"
    assert update.payload["properties"]["StageName"] == "Negotiation/Review"


def test_account_notifications_map_to_client_upserts() -> None:
    body = sample("salesforce/account.updated.xml")
    events = adapter.split(body, "salesforce-acme")
    assert len(events) == 2
    mapped = [adapter.to_canonical(e, delivery(body))[0] for e in events]
    assert {m.event_type for m in mapped} == {"ClientUpserted"}
    assert all(m.payload["name"] for m in mapped)


def test_other_sobjects_are_unmappable() -> None:
    body = sample("salesforce/account.updated.xml").replace(b'xsi:type="sf:Account"', b'xsi:type="sf:Case"')
    event = adapter.split(body, "salesforce-acme")[0]
    with pytest.raises(Unmappable, match="Case"):
        adapter.to_canonical(event, delivery(body))
