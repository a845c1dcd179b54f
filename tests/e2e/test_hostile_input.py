"""Hostile and malformed, but authentic: every delivery is accepted or parked with its reason.

Each test reproduces one way an authentic delivery used to be lost, retried into the
DLQ without a reason, or mis-read, through the local HTTP API and the whole pipeline.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3
import pytest

from pshub.observability import logger
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.store.bodies import DeliveryBodies
from pshub_local.client import Response, send
from pshub_local.runtime import QueueMessage
from tests.e2e.stack import LocalStack
from tests.helpers import sample


def parked_deliveries(local: LocalStack) -> list[tuple[QueueMessage, RawDelivery, bytes]]:
    """Every parked delivery: its message, the delivery, and the body as received (from S3 if there)."""
    bodies = DeliveryBodies(boto3.client("s3", region_name=local.runtime.region))
    parked = []
    for message in local.runtime.unmappable():
        delivery = RawDelivery.from_message(message.body)
        parked.append((message, delivery, bodies.load(delivery)))
    return parked


def assert_only_parked(
    local: LocalStack, response: Response, body: bytes, status: int, code: str, why: str
) -> None:
    """Answered ``status``; exactly one delivery parked, byte for byte, with ``code`` and ``why``; no event."""
    local.runtime.drain()
    assert response.status == status, response.body
    [(message, delivery, kept)] = parked_deliveries(local)
    assert kept == body
    assert message.attributes["error_code"] == code
    assert why in message.attributes["reason"], message.attributes["reason"]
    assert delivery.correlation_id == response.request_id
    assert local.runtime.dead_letters() == []
    assert local.runtime.canonical_events() == []


def stripe_event(
    mutate: Callable[[dict[str, Any]], None], sample_path: str = "stripe/invoice.paid.json"
) -> bytes:
    event = json.loads(sample(sample_path))
    mutate(event)
    return json.dumps(event).encode()


def salesforce_closed_won(**fields: str) -> bytes:
    body = sample("salesforce/opportunity.closed_won.xml")
    for name, value in fields.items():
        start = body.index(f"<sf:{name}>".encode())
        end = body.index(f"</sf:{name}>".encode())
        body = body[: start + len(name) + 5] + value.encode() + body[end:]
    return body


# --- 1. depth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [900, 1100, 100_000])
def test_deeply_nested_json_is_400_and_parked_never_500(local: LocalStack, depth: int) -> None:
    # Given a body Stripe signed that nests `depth` arrays (simdjson stops at 1,024, json at ~1,000)
    body = b"[" * depth + b"]" * depth

    # When it arrives
    response = send(local.signed("stripe-acme", body))

    # Then it is answered 400 (not 500: a 500 would be retried for days and lost each time), and kept
    reason = "nested more deeply" if depth > 1000 else "not an Event object"
    assert_only_parked(local, response, body, 400, "unparseable_body", reason)


# --- 2. size -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("1.1 MB of ASCII", b"x" * 1_100_000),
        ("600 KB of quotes (6 bytes each once escaped)", b'"' * 600_000),
        ("200 KB of control bytes (6 bytes each once escaped)", b"\x01" * 200_000),
        ("900 KB of non-UTF-8 (base64 is 4/3 larger)", b"\xff\xfe" * 450_000),
        ("U+FFFF, which SQS refuses as text", "\uffff".encode() * 1000),
    ],
)
def test_large_authentic_unparseable_body_is_kept_whole(local: LocalStack, name: str, body: bytes) -> None:
    # Given Stripe signs a body that is not JSON and, as the parking document, exceeds what SQS takes
    response = send(local.signed("stripe-acme", body))

    # Then it is refused as unreadable and kept for a person, byte for byte (its body in S3 if need be)
    assert_only_parked(local, response, body, 400, "unparseable_body", "not JSON")


def test_salesforce_delivery_with_a_valid_token_and_a_megabyte_of_non_xml_is_kept(local: LocalStack) -> None:
    body = b"<" + b"n" * 1_100_000
    response = send(local.signed("salesforce-acme", body))
    assert_only_parked(local, response, body, 400, "unparseable_body", "not well-formed")


# --- 3. poison ---------------------------------------------------------------------------------


def _created(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.update(created=value)


@pytest.mark.parametrize(
    ("connection", "body", "why"),
    [
        ("stripe-acme", stripe_event(_created("x")), "Stripe Event created is a string, expected an integer"),
        (
            "stripe-acme",
            sample("stripe/invoice.paid.json").replace(b'"created": 1793754153', b'"created": 1e400'),
            "created is a number with a fraction or exponent",
        ),
        ("stripe-acme", stripe_event(_created(10**30)), "Stripe Event created is out of range"),
        ("stripe-acme", stripe_event(lambda e: e.update(data=[1])), "Stripe Event data is an array"),
        (
            "hubspot-acme",
            json.dumps([{**json.loads(sample("hubspot/deal.closed_won.json"))[0], "occurredAt": "x"}]).encode(),
            "occurredAt is a string, expected an integer",
        ),
        (
            "salesforce-acme",
            salesforce_closed_won(LastModifiedDate="garbage"),
            "LastModifiedDate is not an ISO 8601 date and time",
        ),
    ],
    ids=["stripe-created-text", "stripe-created-1e400", "stripe-created-huge", "stripe-data-list",
         "hubspot-occurredAt-text", "salesforce-LastModifiedDate-garbage"],
)  # fmt: skip
def test_poison_is_parked_on_the_first_try_with_its_reason(
    local: LocalStack, connection: str, body: bytes, why: str
) -> None:
    # Given an authentic delivery whose fields have types its platform never sends
    response = send(local.signed(connection, body))

    # Then it is accepted (retrying cannot help), parked after one try with the reason, never in the DLQ
    assert_only_parked(local, response, body, 200, "unmappable", why)
    assert local.runtime.queue_depth("raw_deliveries") == 0


# --- 4. money and ids at the canonical boundary --------------------------------------------------


def _invoice(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event["data"]["object"].update(values)


@pytest.mark.parametrize(
    ("connection", "body", "why"),
    [
        ("salesforce-acme", salesforce_closed_won(Amount="1e400"), "amount is beyond"),
        ("salesforce-acme", salesforce_closed_won(Amount="25000000000000"), "beyond the configured ceiling"),
        ("salesforce-acme", salesforce_closed_won(Amount="NaN"), "amount: Input should be a finite number"),
        ("salesforce-acme", salesforce_closed_won(Amount="12500.005"), "more decimal places than USD's 2"),
        ("salesforce-acme", salesforce_closed_won(CurrencyIsoCode="ZZZ"), "not an ISO 4217 currency code"),
        ("stripe-acme", stripe_event(_invoice(amount_due=10**29)), "amount is beyond"),
        ("stripe-acme", stripe_event(_invoice(amount_due=12.5)), "amount_due is a number with a fraction"),
        ("stripe-acme", stripe_event(_invoice(amount_paid=-1250000)), "amount is negative"),
        ("stripe-acme", stripe_event(_invoice(amount_due=True)), "amount_due is a boolean"),
        ("stripe-acme", stripe_event(_invoice(currency="zzz")), "not an ISO 4217 currency code"),
        ("stripe-acme", stripe_event(_invoice(currency="xau")), "not an ISO 4217 currency code"),
        (
            "hubspot-acme",
            json.dumps([{**json.loads(sample("hubspot/deal.closed_won.json"))[0], "objectId": None}]).encode(),
            "objectId is null, expected an identifier",
        ),
    ],
    ids=["sf-1e400", "sf-over-ceiling", "sf-nan", "sf-fraction-of-a-cent", "sf-zzz", "stripe-30-digits",
         "stripe-12.5-minor-units", "stripe-negative-paid", "stripe-boolean", "stripe-zzz", "stripe-gold",
         "hubspot-null-objectId"],
)  # fmt: skip
def test_amounts_currencies_and_ids_are_validated_never_guessed(
    local: LocalStack, connection: str, body: bytes, why: str
) -> None:
    response = send(local.signed(connection, body))
    assert_only_parked(
        local, response, body, 200, "unmappable" if "ceiling" not in why else "amount_out_of_range", why
    )
    # And nothing was provisioned from it
    assert local.runtime.executions() == []


@pytest.mark.parametrize("key", ["id", "type"])
def test_a_signed_body_with_a_duplicate_key_is_parked_not_read_either_way(
    local: LocalStack, key: str
) -> None:
    # Given a Stripe event whose top-level object names `key` twice (parsers disagree on which wins)
    text = sample("stripe/invoice.paid.json").decode()
    value = '"evt_someone_else"' if key == "id" else '"customer.deleted"'
    body = text.replace('"object": "event",', f'"object": "event", "{key}": {value},', 1).encode()
    assert body.count(f'"{key}":'.encode()) >= 2

    response = send(local.signed("stripe-acme", body))

    assert_only_parked(local, response, body, 200, "unparseable_body", f"key '{key}' appears twice")


def test_a_duplicate_field_in_a_salesforce_notification_parks_that_notification(local: LocalStack) -> None:
    body = sample("salesforce/opportunity.closed_won.xml").replace(
        b"<sf:Amount>12500.0</sf:Amount>", b"<sf:Amount>12500.0</sf:Amount><sf:Amount>1.0</sf:Amount>"
    )
    response = send(local.signed("salesforce-acme", body))
    assert_only_parked(local, response, body, 200, "unmappable", "has the field Amount twice")


def test_one_malformed_event_in_a_hubspot_batch_parks_only_that_event(local: LocalStack) -> None:
    # Given a batch of two deal events, the first with an objectId that is no id at all
    batch = json.loads(sample("hubspot/deal.closed_won.json"))
    batch[0]["objectId"] = {"not": "an id"}
    response = send(local.signed("hubspot-acme", json.dumps(batch).encode()))
    local.runtime.drain()

    # Then the other event is published, and the malformed one is parked under its own event id
    assert response.status == 200
    [updated] = local.events_of_type("OpportunityUpdated")
    assert updated["detail"]["payload"]["properties"] == {"amount": "12500"}
    [(message, _, _)] = parked_deliveries(local)
    assert message.attributes["platform_event_id"] == f"eventId:{batch[0]['eventId']}"
    assert "objectId is an object" in message.attributes["reason"]


# --- 5. secrets in the URL -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["%74oken", "to%6Ben", "%74%6F%6B%65%6E"])
def test_the_endpoint_token_is_redacted_however_its_name_is_spelled(local: LocalStack, name: str) -> None:
    # Given Salesforce posts to the endpoint URL with the token parameter's name percent-encoded
    request = local.signed("salesforce-acme", sample("salesforce/account.updated.xml"))
    secret = local.runtime.signing_secret("salesforce-acme")
    response = send(replace(request, url=request.url.replace("?token=", f"?{name}=")))
    local.runtime.drain()

    # Then it verifies (the query parser decodes the name) and the secret is stored nowhere
    assert response.status == 200
    s3 = boto3.client("s3", region_name=local.runtime.region)
    stored = []
    for bucket_key in ("raw_archive", "claim_checks"):
        bucket = local.runtime.resource_name("bucket", bucket_key)
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            stored.append(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    assert stored, "nothing reached the raw archive"
    assert all(secret.encode() not in data for data in stored)
    assert f"?{name}=REDACTED".encode() in b"".join(stored)


# --- 6. identifiers compared exactly ---------------------------------------------------------------


def test_an_organization_id_that_merely_starts_with_the_right_org_is_refused(local: LocalStack) -> None:
    body = sample("salesforce/opportunity.closed_won.xml").replace(
        b"00D5e000000ABCDEA4", b"00D5e000000ABCDEvilCorp"
    )
    response = send(local.signed("salesforce-acme", body))
    local.runtime.drain()

    assert response.status == 401
    assert b"EvilCorp" not in response.body and b"00D5e000000ABCD" not in response.body
    assert set(local.queue_depths().values()) == {0}


# --- 7. values never reach the logs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "body", "secret_value", "field"),
    [
        ("salesforce-acme", salesforce_closed_won(CurrencyIsoCode="GB82WEST12345698765432"),
         "GB82WEST12345698765432", "currency"),
        ("salesforce-acme", salesforce_closed_won(CloseDate="1990-04-31"), "1990-04-31", "CloseDate"),
        ("stripe-acme", stripe_event(_invoice(attempt_count="1990-04-01")), "1990-04-01", "attempt_count"),
        ("stripe-acme", stripe_event(_invoice(currency="GB82WEST12345698765432")),
         "GB82WEST12345698765432", "currency"),
    ],
    ids=["iban-as-currency", "birth-date-as-close-date", "birth-date-as-attempts", "iban-as-stripe-currency"],
)  # fmt: skip
def test_a_refused_value_is_in_no_log_line_and_no_parked_reason(
    local: LocalStack, connection: str, body: bytes, secret_value: str, field: str
) -> None:
    # Given a delivery with personal data typed into the wrong field, and the functions' logs captured
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        response = send(local.signed(connection, body))
        local.runtime.drain()
    finally:
        logger.registered_handler.setStream(previous)

    # Then the delivery is parked with a reason naming the field, and the value is in neither
    assert response.status == 200
    [(message, _, _)] = parked_deliveries(local)
    assert field in message.attributes["reason"]
    assert secret_value not in message.attributes["reason"]
    assert "delivery parked for a person" in stream.getvalue()
    assert secret_value not in stream.getvalue()
