"""Ingress logic with in-memory queues: what is answered, and what is (not) stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import pytest

from pshub.pipeline.http import InboundRequest
from pshub.pipeline.ingress import WebhookIngress, request_from_http_api
from pshub.pipeline.raw_delivery import RawDelivery
from tests.helpers import connections, sample

SECRET = "whsec_unit_only"  # test-only
NOW = 1_795_000_000.0


class FakeQueue:
    def __init__(self) -> None:
        self.stored: list[tuple[RawDelivery, bytes]] = []

    def enqueue(self, delivery: RawDelivery, body: bytes) -> str:
        self.stored.append((delivery, body))
        return f"msg-{len(self.stored)}"


class FakeParking:
    def __init__(self) -> None:
        self.parked: list[tuple[RawDelivery, str, str]] = []

    def park(
        self, delivery: RawDelivery, code: str, reason: str, platform_event_id: str | None = None
    ) -> str:
        self.parked.append((delivery, code, reason))
        return "parked-1"


def make_ingress(max_body: int = 1024 * 1024) -> tuple[WebhookIngress, FakeQueue, FakeParking]:
    queue, parking = FakeQueue(), FakeParking()
    registry = connections()
    # Zuora's connector posts invoices; pshub takes no Zuora callouts (yet): an outbound-only one.
    registry["zuora-acme"] = replace(registry["stripe-acme"], id="zuora-acme", platform="zuora")
    ingress = WebhookIngress(
        connections=registry,
        secrets=lambda name: SECRET,
        queue=queue,  # type: ignore[arg-type]
        parking=parking,  # type: ignore[arg-type]
        max_body_bytes=max_body,
        clock=lambda: NOW,
    )
    return ingress, queue, parking


def http_event(connection: str, body: bytes, signature: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/json", "host": "hooks.example.com", "x-forwarded-proto": "https"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return {
        "version": "2.0",
        "rawPath": f"/webhooks/{connection}",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"requestId": "req-42", "http": {"method": "POST", "sourceIp": "192.0.2.7"}},
        "pathParameters": {"connection": connection},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def stripe_signature(body: bytes, at: float = NOW) -> str:
    digest = hmac.new(SECRET.encode(), f"{int(at)}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={int(at)},v1={digest}"


def receive(ingress: WebhookIngress, connection: str, body: bytes, signature: str | None) -> tuple[int, dict]:
    request = request_from_http_api(http_event(connection, body, signature), NOW)
    response = ingress.receive(connection, request)
    return response.status, json.loads(response.body)


def salesforce_request(body: bytes, token: str = SECRET) -> InboundRequest:
    """An Outbound Message as Salesforce posts it to the endpoint URL carrying ``token``."""
    event = http_event("salesforce-acme", body, None)
    event["rawQueryString"] = f"token={token}"
    event["headers"]["content-type"] = "text/xml"
    return request_from_http_api(event, NOW)


def assert_kept_for_a_person(queue: FakeQueue, parking: FakeParking, body: bytes, why: str) -> None:
    """Nothing on the raw queue; the body, byte for byte, parked as unparseable with ``why``."""
    assert queue.stored == []
    [(delivery, code, reason)] = parking.parked
    assert delivery.inline_body() == body
    assert code == "unparseable_body" and why in reason


def test_authentic_delivery_is_stored_byte_for_byte_then_acknowledged() -> None:
    ingress, queue, _ = make_ingress()
    body = sample("stripe/invoice.paid.json")
    status, answer = receive(ingress, "stripe-acme", body, stripe_signature(body))
    assert (status, answer) == (200, {"status": "accepted"})
    [(delivery, stored)] = queue.stored
    assert stored == body
    assert delivery.correlation_id == "req-42"
    assert delivery.url == "https://hooks.example.com/webhooks/stripe-acme"
    assert (delivery.connection, delivery.platform, delivery.role) == ("stripe-acme", "stripe", "billing")
    assert delivery.legal_entity == "ACME-US"


def test_bad_signature_is_401_and_nothing_is_stored() -> None:
    ingress, queue, parking = make_ingress()
    body = sample("stripe/invoice.paid.json")
    status, answer = receive(ingress, "stripe-acme", body, stripe_signature(b"something else"))
    assert status == 401
    assert answer["error"]["code"] == "signature_invalid"
    assert answer["error"]["request_id"] == "req-42"
    assert queue.stored == [] and parking.parked == []


def test_missing_signature_is_401() -> None:
    ingress, queue, _ = make_ingress()
    status, answer = receive(ingress, "stripe-acme", b"{}", None)
    assert status == 401 and "missing Stripe-Signature" in answer["error"]["message"]
    assert queue.stored == []


def test_unknown_connection_and_outbound_only_connection_are_404() -> None:
    ingress, queue, _ = make_ingress()
    assert receive(ingress, "nobody", b"{}", None)[0] == 404
    status, answer = receive(ingress, "zuora-acme", b"{}", None)
    assert status == 404 and "does not receive webhooks" in answer["error"]["message"]
    assert queue.stored == []


def test_oversize_body_is_413_before_any_signature_work() -> None:
    ingress, queue, _ = make_ingress(max_body=100)
    status, answer = receive(ingress, "stripe-acme", b"x" * 101, None)
    assert status == 413 and answer["error"]["code"] == "payload_too_large"
    assert queue.stored == []


def test_authentic_but_unparseable_body_is_400_and_kept_for_a_person() -> None:
    ingress, queue, parking = make_ingress()
    body = b'{"object": "event", broken'
    status, answer = receive(ingress, "stripe-acme", body, stripe_signature(body))
    assert status == 400 and answer["error"]["code"] == "unparseable_body"
    assert_kept_for_a_person(queue, parking, body, "not JSON")


def test_secrets_in_the_url_are_not_stored() -> None:
    # Salesforce's endpoint URL carries the connection's token; the stored delivery must not.
    ingress, queue, _ = make_ingress()
    request = salesforce_request(sample("salesforce/opportunity.closed_won.xml"))
    assert ingress.receive("salesforce-acme", request).status == 200
    [(delivery, _)] = queue.stored
    assert SECRET not in delivery.to_json()
    assert delivery.url.endswith("?token=REDACTED")


def test_salesforce_message_with_the_right_token_but_broken_xml_is_400_and_kept_for_a_person() -> None:
    # Given an Outbound Message whose endpoint token is right (it is authentic) but whose XML is cut off
    ingress, queue, parking = make_ingress()
    body = sample("salesforce/opportunity.closed_won.xml")[:-40]

    # When it arrives
    response = ingress.receive("salesforce-acme", salesforce_request(body))

    # Then Salesforce is told it is unreadable, nothing reaches the raw queue, and a person has it
    assert response.status == 400 and json.loads(response.body)["error"]["code"] == "unparseable_body"
    assert_kept_for_a_person(queue, parking, body, "not well-formed")


def test_salesforce_message_with_a_wrong_token_and_broken_xml_is_401_and_not_kept() -> None:
    ingress, queue, parking = make_ingress()
    body = sample("salesforce/opportunity.closed_won.xml")[:-40]

    response = ingress.receive("salesforce-acme", salesforce_request(body, token="not-the-secret"))

    assert response.status == 401
    assert queue.stored == [] and parking.parked == []


def test_salesforce_message_is_parsed_once_on_the_ack_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a counter on the Salesforce XML parser
    from pshub.platforms.salesforce import inbound as salesforce

    calls: list[int] = []
    real = salesforce._parse
    monkeypatch.setattr(salesforce, "_parse", lambda body: calls.append(len(body)) or real(body))
    ingress, queue, _ = make_ingress()
    body = sample("salesforce/opportunity.closed_won.xml")

    # When an authentic message is received
    assert ingress.receive("salesforce-acme", salesforce_request(body)).status == 200

    # Then verification (its OrganizationId) and the shape check shared one parse
    assert calls == [len(body)]
    assert len(queue.stored) == 1


@pytest.mark.parametrize(
    "header",
    ["t=1795000000,v1=\u00e9\u00e9", "t=1795000000,v1=\ud800", "t=\u0661\u0667\u0669,v1=ab", "t= 1_795 ,v1=ab",
     "t=" + "9" * 400 + ",v1=ab", "t=-5,v1=ab"],
    ids=["non-ascii-signature", "lone-surrogate", "arabic-indic-digits", "underscored", "400-digits", "negative"],
)  # fmt: skip
def test_a_signature_header_no_vendor_sends_is_401_never_500(header: str) -> None:
    ingress, queue, parking = make_ingress()
    status, answer = receive(ingress, "stripe-acme", sample("stripe/invoice.paid.json"), header)
    assert status == 401 and answer["error"]["code"] == "signature_invalid"
    assert queue.stored == [] and parking.parked == []


def test_a_huge_but_authentic_timestamp_is_refused_not_a_500() -> None:
    # A sender holding the secret signs t far in the past: the age is computed in integers
    ingress, queue, _ = make_ingress()
    body = sample("stripe/invoice.paid.json")
    status, answer = receive(ingress, "stripe-acme", body, stripe_signature(body, at=0))
    assert status == 401 and "s old" in answer["error"]["message"]
    assert queue.stored == []


def test_a_verifier_that_fails_unexpectedly_refuses_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from pshub.platforms.stripe.inbound import StripeAdapter

    def broken(*args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(StripeAdapter, "verify", broken)
    ingress, queue, parking = make_ingress()
    status, answer = receive(ingress, "stripe-acme", sample("stripe/invoice.paid.json"), "t=1,v1=x")
    assert status == 401 and "could not be verified (KeyError" in answer["error"]["message"]
    assert queue.stored == [] and parking.parked == []


def test_an_authentic_body_the_check_fails_on_unexpectedly_is_kept_and_answered_400(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pshub.platforms.stripe.inbound import StripeAdapter

    def broken(self: object, body: bytes) -> None:
        raise OverflowError("surprise")

    monkeypatch.setattr(StripeAdapter, "parse", broken)
    ingress, queue, parking = make_ingress()
    body = sample("stripe/invoice.paid.json")
    status, answer = receive(ingress, "stripe-acme", body, stripe_signature(body))
    assert status == 400 and answer["error"]["code"] == "unparseable_body"
    assert_kept_for_a_person(queue, parking, body, "could not be read (OverflowError)")


# --- signed timestamps: the window is symmetric ---------------------------------------------------


@pytest.mark.parametrize(("ahead", "status"), [(300, 200), (301, 401)])
def test_a_stripe_signature_dated_ahead_is_refused_beyond_the_tolerance(ahead: int, status: int) -> None:
    # Given a delivery signed as Stripe documents (HMAC-SHA256 of "t.body"), t ahead of our clock
    ingress, queue, parking = make_ingress()
    body = sample("stripe/invoice.paid.json")
    got, answer = receive(ingress, "stripe-acme", body, stripe_signature(body, at=NOW + ahead))
    # Then up to 300 s ahead it is accepted; beyond, refused and nothing is kept
    assert got == status
    if status == 401:
        assert answer["error"]["code"] == "signature_invalid"
        assert "301 s in the future" in answer["error"]["message"]
        assert queue.stored == [] and parking.parked == []
    else:
        assert len(queue.stored) == 1


def hubspot_request(body: bytes, sent_ms: int) -> InboundRequest:
    """A batch as HubSpot posts it, signed v3 as its docs say: base64(HMAC-SHA256(client secret,
    method + URI + body + timestamp)), the timestamp in ms."""
    event = http_event("hubspot-acme", body, None)
    uri = "https://hooks.example.com/webhooks/hubspot-acme"
    source = b"POST" + uri.encode() + body + str(sent_ms).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode()
    event["headers"]["x-hubspot-signature-v3"] = signature
    event["headers"]["x-hubspot-request-timestamp"] = str(sent_ms)
    return request_from_http_api(event, NOW)


@pytest.mark.parametrize(
    ("offset_ms", "status", "why"),
    [
        (-300_000, 200, None),
        (300_000, 200, None),
        (-301_000, 401, "301 s old"),
        (301_000, 401, "301 s in the future"),
    ],
)
def test_a_hubspot_timestamp_more_than_five_minutes_either_way_is_refused(
    offset_ms: int, status: int, why: str | None
) -> None:
    ingress, queue, parking = make_ingress()
    body = sample("hubspot/deal.closed_won.json")
    response = ingress.receive("hubspot-acme", hubspot_request(body, int(NOW * 1000) + offset_ms))
    assert response.status == status
    if why is not None:
        assert why in json.loads(response.body)["error"]["message"]
        assert queue.stored == [] and parking.parked == []
    else:
        assert len(queue.stored) == 1
