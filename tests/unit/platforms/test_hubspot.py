"""HubSpot v3 signatures, with vectors from HubSpot's documentation and cross-checked with
HubSpot's official SDK (``hubspot.utils.signature.Signature``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from hubspot.utils.signature import Signature

from pshub.canonical.envelope import SourceVersion
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms.hubspot.inbound import HubSpotAdapter, needs_record_read, signed_uri
from tests.helpers import connections, inbound, sample

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"  # the placeholder HubSpot's docs use
adapter = HubSpotAdapter()
connection = connections()["hubspot-acme"]


def documented_signature(method: str, uri: str, body: bytes, timestamp: str, secret: str = SECRET) -> str:
    # HubSpot docs: base64(HMAC-SHA256(client secret, method + uri + body + timestamp))
    source = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def headers(signature: str, timestamp: str) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


def test_hubspot_sdk_test_vector_is_accepted() -> None:
    # The v3 vector in HubSpot's SDK tests (see events/README.md): fixed timestamp 15000000 ms.
    body = b"{'example_field':'example_value'}"
    uri = "https://www.example.com/webhook_uri"
    expected = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    assert documented_signature("POST", uri, body, "15000000") == expected
    request = inbound(body, headers(expected, "15000000"), url=uri)
    adapter.verify(request, connection, SECRET, now=15000000 / 1000 + 10)


def test_real_batch_signed_now_is_accepted_by_sdk_and_us() -> None:
    body = sample("hubspot/deal.closed_won.json")
    url = "https://hooks.example.com/webhooks/hubspot-acme"
    now = time.time()
    timestamp = str(int(now * 1000))
    signature = documented_signature("POST", url, body, timestamp)
    assert Signature.is_valid(signature, SECRET, body.decode(), url, "POST", "v3", timestamp)
    adapter.verify(inbound(body, headers(signature, timestamp), url=url), connection, SECRET, now)


def test_uri_is_decoded_as_hubspot_documents_before_signing() -> None:
    # HubSpot signs the decoded form of these twelve encodings; others (%20) stay encoded.
    received = "https://hooks.example.com/webhooks/hubspot-acme?next=%2Fa%3Ab%40c%2C%3B&q=a%20b"
    assert signed_uri(received) == "https://hooks.example.com/webhooks/hubspot-acme?next=/a:b@c,;&q=a%20b"
    body = sample("hubspot/company.batch.json")
    timestamp = "1795186990000"
    signature = documented_signature("POST", signed_uri(received), body, timestamp)
    adapter.verify(
        inbound(body, headers(signature, timestamp), url=received), connection, SECRET, 1795186990.0
    )


def test_tampered_body_and_wrong_url_are_rejected() -> None:
    body = sample("hubspot/deal.closed_won.json")
    url = "https://hooks.example.com/webhooks/hubspot-acme"
    timestamp = "1795186990000"
    signature = documented_signature("POST", url, body, timestamp)
    tampered = body.replace(b"closedwon", b"closedlost")
    with pytest.raises(SignatureInvalid, match="does not match"):
        adapter.verify(
            inbound(tampered, headers(signature, timestamp), url=url), connection, SECRET, 1795186990.0
        )
    with pytest.raises(SignatureInvalid, match="does not match"):
        other = url.replace("hooks.", "evil.")
        adapter.verify(
            inbound(body, headers(signature, timestamp), url=other), connection, SECRET, 1795186990.0
        )
    reserialised = json.dumps(json.loads(body)).encode()
    with pytest.raises(SignatureInvalid):
        adapter.verify(
            inbound(reserialised, headers(signature, timestamp), url=url), connection, SECRET, 1795186990.0
        )


def test_replayed_after_five_minutes_is_rejected() -> None:
    body = sample("hubspot/deal.closed_won.json")
    url = "https://hooks.example.com/webhooks/hubspot-acme"
    sent = 1795186990000
    signature = documented_signature("POST", url, body, str(sent))
    request = inbound(body, headers(signature, str(sent)), url=url)
    adapter.verify(request, connection, SECRET, now=(sent + 300_000) / 1000)  # exactly 5 min: accepted
    with pytest.raises(SignatureInvalid, match="301 s old"):
        adapter.verify(request, connection, SECRET, now=(sent + 301_000) / 1000)


def test_timestamp_more_than_five_minutes_in_the_future_is_rejected() -> None:
    # Given a batch signed as HubSpot documents, dated ahead of the receiving clock
    body = sample("hubspot/deal.closed_won.json")
    url = "https://hooks.example.com/webhooks/hubspot-acme"
    now_ms = 1795186990000
    for ahead_ms, accepted in [(300_000, True), (301_000, False)]:
        sent = str(now_ms + ahead_ms)
        request = inbound(body, headers(documented_signature("POST", url, body, sent), sent), url=url)
        # Then 5 minutes ahead is still inside the (symmetric) window, and beyond it is refused
        if accepted:
            adapter.verify(request, connection, SECRET, now=now_ms / 1000)
        else:
            with pytest.raises(SignatureInvalid, match="301 s in the future"):
                adapter.verify(request, connection, SECRET, now=now_ms / 1000)


def test_the_sdk_accepts_a_future_timestamp_we_refuse() -> None:
    # HubSpot's SDK checks only the age; pshub refuses a date ahead too (see the module docstring)
    body = sample("hubspot/deal.closed_won.json")
    url = "https://hooks.example.com/webhooks/hubspot-acme"
    now = time.time()
    sent = str(int(now * 1000) + 3_600_000)  # an hour ahead
    signature = documented_signature("POST", url, body, sent)
    assert Signature.is_valid(signature, SECRET, body.decode(), url, "POST", "v3", sent)
    with pytest.raises(SignatureInvalid, match="in the future"):
        adapter.verify(inbound(body, headers(signature, sent), url=url), connection, SECRET, now)


@pytest.mark.parametrize(
    ("hdrs", "reason"),
    [
        ({}, "missing"),
        ({"X-HubSpot-Signature-v3": "abc"}, "missing"),
        (headers("abc", "yesterday"), "milliseconds"),
    ],
)
def test_missing_or_malformed_headers(hdrs, reason) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        adapter.verify(inbound(b"[]", hdrs), connection, SECRET, 1.0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b'{"eventId":1}', "not a JSON array"),
        (b"[1]", "not an object"),
        (b'[{"eventId":1}]', "no 'subscriptionType'"),
    ],
)
def test_unparseable(body, reason) -> None:
    with pytest.raises(UnparseableBody, match=reason):
        adapter.parse(body)


def delivery(body: bytes, options: dict[str, str] | None = None) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-9", connection="hubspot-acme", platform="hubspot",
        received_at="2026-11-20T00:00:00.000+00:00", method="POST", url="https://x", headers={},
        source_ip="192.0.2.1", body_text=body.decode(), options=options or dict(connection.options),
    )  # fmt: skip


def test_closed_won_batch_maps_to_one_closed_won_and_one_update() -> None:
    body = sample("hubspot/deal.closed_won.json")
    events = adapter.split(body, "hubspot-acme")
    assert len(events) == 2
    mapped = [c for e in events for c in adapter.to_canonical(e, delivery(body))]
    by_type = {c.event_type: c for c in mapped}
    won = by_type["OpportunityClosedWon"]
    deal_id = str(json.loads(body)[0]["objectId"])
    assert won.source_native_id == deal_id
    assert won.payload == {"opportunity_id": deal_id, "stage": "closedwon", "complete": False}
    assert by_type["OpportunityUpdated"].payload["properties"] == {"amount": "12500"}
    assert len({c.source_event_id for c in mapped}) == 2


@pytest.mark.parametrize(
    ("value", "event_type"),
    [("approved", "ChangeOrderApproved"), ("Approved ", "ChangeOrderApproved"), ("draft", "OpportunityUpdated"),
     (None, "OpportunityUpdated")],
)  # fmt: skip
def test_a_change_order_approved_on_a_deal_names_the_deal_and_nothing_else(
    value: str | None, event_type: str
) -> None:
    events = json.loads(sample("hubspot/deal.change_order_approved.json"))
    events[0]["propertyValue"] = value
    body = json.dumps(events).encode()
    [event] = adapter.split(body, "hubspot-acme")
    [mapped] = adapter.to_canonical(event, delivery(body))
    assert mapped.event_type == event_type
    if event_type == "ChangeOrderApproved":  # the terms are read from the deal by the starter
        assert mapped.payload["complete"] is False
        assert (mapped.payload["opportunity_native_id"], mapped.payload["crm_connection"]) == (
            "27182818284", "hubspot-acme"
        )  # fmt: skip
        assert mapped.payload.get("project_code") is None
    else:
        assert mapped.payload["properties"] == {"pshub_change_order_status": value}


def test_custom_closed_won_stage_and_company_events() -> None:
    body = sample("hubspot/deal.closed_won.json").replace(b'"closedwon"', b'"appointmentscheduled"')
    [first, _] = adapter.split(body, "hubspot-acme")
    options = {**connection.options, "closed_won_stages": "appointmentscheduled"}
    assert adapter.to_canonical(first, delivery(body, options))[0].event_type == "OpportunityClosedWon"
    companies = sample("hubspot/company.batch.json")
    mapped = [
        c
        for e in adapter.split(companies, "hubspot-acme")
        for c in adapter.to_canonical(e, delivery(companies))
    ]
    assert [c.event_type for c in mapped] == ["ClientUpserted", "ClientUpserted"]
    assert {c.payload["change"] for c in mapped} == {"created", "updated"}


def test_event_from_another_portal_is_unmappable() -> None:
    body = sample("hubspot/deal.closed_won.json")
    [event, _] = adapter.split(body, "hubspot-acme")
    with pytest.raises(Unmappable, match="portal"):
        adapter.to_canonical(event, delivery(body, {"portal_id": "999"}))


def test_unknown_subscription_type_is_unmappable() -> None:
    body = b'[{"eventId":1,"subscriptionId":7,"subscriptionType":"contact.creation","objectId":5,"occurredAt":1,"portalId":24681357}]'
    [event] = adapter.split(body, "hubspot-acme")
    with pytest.raises(Unmappable, match=r"contact\.creation"):
        adapter.to_canonical(event, delivery(body))


# --- versions ------------------------------------------------------------------------------------


def test_each_event_is_versioned_by_its_occurred_at_with_a_stable_tiebreak() -> None:
    # Given HubSpot's batch, whose events are listed out of the order they occurred in
    body = sample("hubspot/deal.closed_won.json")
    won, amount = [c for e in adapter.split(body, "x") for c in adapter.to_canonical(e, delivery(body))]
    # Then each carries occurredAt (ms) as its version, eventId then subscriptionId as tiebreak,
    # zero-padded so that text order is number order (values read off the sample, not the code)
    assert won.source_version == SourceVersion(
        scheme="hubspot.occurredAt",
        major=1795186980512,
        minor=0,
        tiebreak="00000000001874032671:00000000000003920117",
    )
    assert amount.source_version == SourceVersion(
        scheme="hubspot.occurredAt",
        major=1795186975201,
        minor=0,
        tiebreak="00000000001874032298:00000000000003920118",
    )
    # ... so the amount change (earlier) orders before the stage change, whatever the array order
    assert amount.source_version.key() < won.source_version.key()
    # ... and the time it occurred is that instant, aware
    assert won.occurred_at == datetime(2026, 11, 20, 15, 3, 0, 512000, tzinfo=UTC)  # date -u -d @1795186980


def test_a_redelivery_has_the_same_version() -> None:
    body = sample("hubspot/deal.closed_won.json")
    retried = body.replace(b'"attemptNumber": 0', b'"attemptNumber": 3')
    first = [adapter.to_canonical(e, delivery(body))[0].source_version for e in adapter.split(body, "x")]
    again = [
        adapter.to_canonical(e, delivery(retried))[0].source_version for e in adapter.split(retried, "x")
    ]
    assert first == again


def test_padding_keeps_the_tiebreak_in_numeric_order() -> None:
    # Two events of one millisecond whose eventIds differ in digit count
    events = [
        {"eventId": 9, "subscriptionId": 7, "portalId": 24681357, "occurredAt": 1795186980512,
         "subscriptionType": "company.propertyChange", "objectId": 5, "propertyName": "name", "propertyValue": "A"},
        {"eventId": 10, "subscriptionId": 7, "portalId": 24681357, "occurredAt": 1795186980512,
         "subscriptionType": "company.propertyChange", "objectId": 5, "propertyName": "name", "propertyValue": "B"},
    ]  # fmt: skip
    body = json.dumps(events).encode()
    nine, ten = [adapter.to_canonical(e, delivery(body))[0].source_version for e in adapter.split(body, "x")]
    assert nine is not None and ten is not None
    assert nine.key() < ten.key()


def test_an_event_id_beyond_64_bits_is_malformed() -> None:
    event = {**json.loads(sample("hubspot/deal.closed_won.json"))[0], "eventId": 2**64}
    [parsed] = adapter.split(json.dumps([event]).encode(), "x")
    assert parsed.problem is not None and "eventId is out of range" in parsed.problem


# --- creations carry only an id: recognised so the record can be read first --------------------


def test_company_creation_is_a_created_client_without_a_name_and_is_recognised() -> None:
    # Given HubSpot's company batch: a company.creation (only the id) and a domain change
    body = sample("hubspot/company.batch.json")
    created, changed = [c for e in adapter.split(body, "x") for c in adapter.to_canonical(e, delivery(body))]
    # Then the creation is a ClientUpserted, change "created", with nothing but the id
    assert created.event_type == "ClientUpserted"
    assert created.payload == {"client_id": "31415926599", "change": "created", "properties": {}}
    assert needs_record_read(created)
    # ... while the property change carries what changed and needs no read
    assert (
        changed.payload["change"] == "updated"
        and changed.payload["web_domain"] == "acme-consulting.example.com"
    )
    assert not needs_record_read(changed)


def test_deal_creation_is_recognised_and_a_deal_change_is_not() -> None:
    events = [
        {"eventId": 1, "subscriptionId": 7, "portalId": 24681357, "occurredAt": 1795186980512,
         "subscriptionType": "deal.creation", "objectId": 27182818284, "changeFlag": "CREATED"},
    ]  # fmt: skip
    body = json.dumps(events).encode()
    [created] = adapter.to_canonical(adapter.split(body, "x")[0], delivery(body))
    assert (created.event_type, created.payload["change"], created.payload["properties"]) == (
        "OpportunityUpdated",
        "created",
        {},
    )
    assert needs_record_read(created)
    deals = sample("hubspot/deal.closed_won.json")
    assert not any(
        needs_record_read(c)
        for e in adapter.split(deals, "x")
        for c in adapter.to_canonical(e, delivery(deals))
    )
