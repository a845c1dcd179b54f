"""Salesforce Outbound Messages: endpoint token + OrganizationId, SOAP parsing, the Ack."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from defusedxml.ElementTree import fromstring

from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms.fields import FieldProblem
from pshub.platforms.salesforce.inbound import (
    OUTBOUND_NS,
    SOAP_NS,
    SalesforceAdapter,
    case_safe_id,
    salesforce_id,
)
from tests.helpers import connections, inbound, sample

TOKEN = "localtest-token-7f3a"  # test-only
adapter = SalesforceAdapter()
connection = connections()["salesforce-acme"]
URL = f"https://hooks.example.com/webhooks/salesforce-acme?token={TOKEN}"


def verify(body: bytes, url: str = URL) -> None:
    adapter.verify(inbound(body, {"Content-Type": "text/xml"}, url=url), connection, TOKEN, 0.0)


def test_message_from_the_configured_org_with_the_token_is_accepted() -> None:
    verify(sample("salesforce/opportunity.closed_won.xml"))


def test_fifteen_character_org_id_in_config_matches_its_eighteen_character_form_in_message() -> None:
    fifteen = replace(connection, options={"organization_id": "00D5e000000ABCD"})
    body = sample("salesforce/account.updated.xml")  # carries 00D5e000000ABCDEA4
    adapter.verify(inbound(body, {"Content-Type": "text/xml"}, url=URL), fifteen, TOKEN, 0.0)


def test_eighteen_character_org_id_in_config_matches_the_fifteen_character_id_in_message() -> None:
    verify(sample("salesforce/account.updated.xml").replace(b"00D5e000000ABCDEA4", b"00D5e000000ABCD"))


@pytest.mark.parametrize(
    "org_id",
    [
        b"00D5e000000ABCDxyz",  # right first fifteen, not their checksum
        b"00D5e000000ABCDEAA",  # one checksum character wrong
        b"00D5e000000ABCDEvilCorp",  # the id as a prefix of something longer
        b"00D5e000000abcdEAA",  # another org (a valid id): ids are case-sensitive in their first fifteen
        b"00D5e000000ABC",  # too short
    ],
)
def test_only_the_exact_org_id_or_its_valid_eighteen_character_form_is_accepted(org_id: bytes) -> None:
    body = sample("salesforce/account.updated.xml").replace(b"00D5e000000ABCDEA4", org_id)
    with pytest.raises(SignatureInvalid, match="OrganizationId is not the org"):
        verify(body)


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
        b"00D5e000000ABCDEA4", b"00D000000000001AAA"
    )
    with pytest.raises(SignatureInvalid, match="OrganizationId is not the org") as refused:
        verify(body)
    # Neither org id is echoed: not the sender's, not the one configured
    assert "00D000000000001" not in str(refused.value) and "00D5e000000ABCD" not in str(refused.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<not-xml", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "not well-formed, safe XML"),
        (f'<e:Envelope xmlns:e="{SOAP_NS}"><e:Body/></e:Envelope>'.encode(), "not a SOAP notifications"),
        (
            f'<e:Envelope xmlns:e="{SOAP_NS}"><e:Body><notifications xmlns="{OUTBOUND_NS}">'
            "<OrganizationId>00D5e000000ABCDEA4</OrganizationId></notifications></e:Body></e:Envelope>".encode(),
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
    assert won.payload["amount"] == {"amount": "12500.00", "currency": "USD"}
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


@pytest.mark.parametrize(
    ("fifteen", "eighteen"),
    # Worked examples published outside this project: the salesforce_id_formatter gem's README
    # and the salesforce_id_converter package's README (PyPI).
    [("70130000001tcyI", "70130000001tcyIAAQ"), ("00558000001N0Ke", "00558000001N0KeAAK")],
)  # fmt: skip
def test_case_safe_ids_match_published_examples(fifteen: str, eighteen: str) -> None:
    assert case_safe_id(fifteen) == eighteen
    assert salesforce_id(eighteen, "Id") == eighteen
    assert salesforce_id(fifteen, "Id") == fifteen


@pytest.mark.parametrize(
    "value",
    [
        "70130000001tcyIAAA",
        "70130000001tcyI-AQ",
        "70130000001tcy",
        "70130000001tcyIAAQx",
        "",
        None,
        70130000001,
    ],
)
def test_what_is_not_a_salesforce_id_is_named_without_echoing_it(value: object) -> None:
    with pytest.raises(FieldProblem, match="Id") as refused:
        salesforce_id(value, "Id")
    assert "70130000001" not in str(refused.value)


def test_a_bad_notification_is_parked_alone_and_the_rest_of_the_message_maps() -> None:
    # Given an Account message whose first notification's record Id has a wrong checksum
    body = sample("salesforce/account.updated.xml").replace(
        b"<sf:Id>0015e00000AcMe1AAF", b"<sf:Id>0015e00000AcMe1AAA", 1
    )
    first, second = adapter.split(body, "salesforce-acme")
    # Then only that one is malformed, under its own notification id, with the reason
    assert first.event_id == "04l5e00000QwErUAAV"
    assert first.problem is not None and "checksum" in first.problem
    assert second.problem is None and second.native_id == "0015e00000NoRthAAF"


def test_a_message_with_two_organization_ids_is_unparseable() -> None:
    body = sample("salesforce/account.updated.xml").replace(
        b"<OrganizationId>00D5e000000ABCDEA4</OrganizationId>",
        b"<OrganizationId>00D5e000000ABCDEA4</OrganizationId><OrganizationId>00D000000000001EAA</OrganizationId>",
    )
    with pytest.raises(UnparseableBody, match="more than one OrganizationId"):
        adapter.parse(body)
