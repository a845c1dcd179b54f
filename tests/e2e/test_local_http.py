"""Webhooks over real HTTP to the local runtime, judged by business outcomes."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace

import pytest

from pshub.observability import logger
from pshub_infra.topology import MAX_WEBHOOK_BODY_BYTES
from pshub_local import vendors
from pshub_local.client import send
from tests.e2e.stack import LocalStack
from tests.helpers import sample

HUBSPOT_DEAL_ID = "27182818284"  # objectId of the dealstage change in deal.closed_won.json


def test_signed_hubspot_closed_won_yields_exactly_one_opportunity_closed_won(local: LocalStack) -> None:
    # Given HubSpot delivers a deal moving to closed-won
    response = local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")

    # When the pipeline has run
    local.runtime.drain()

    # Then it was acknowledged and exactly one OpportunityClosedWon is on the bus, for that deal,
    # carrying the request's correlation id
    assert response.status == 200
    (won,) = local.events_of_type("OpportunityClosedWon")
    detail = won["detail"]
    assert won["source"] == "pshub.canonical"
    assert detail["source_native_id"] == HUBSPOT_DEAL_ID
    assert detail["connection"] == "hubspot-acme"
    assert detail["payload"]["opportunity_id"] == HUBSPOT_DEAL_ID
    assert detail["correlation_id"] == response.request_id != ""
    assert local.runtime.dead_letters() == []
    assert local.runtime.unmappable() == []


def test_redelivered_webhook_is_accepted_again_but_publishes_nothing_new(local: LocalStack) -> None:
    first = local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    published = local.runtime.canonical_events()

    # When HubSpot retries the same delivery (signed afresh)
    again = local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()

    # Then it is acknowledged (or HubSpot keeps retrying) and the bus saw nothing new
    assert (first.status, again.status) == (200, 200)
    assert local.runtime.canonical_events() == published
    assert len(local.events_of_type("OpportunityClosedWon")) == 1
    assert all(e["detail"]["correlation_id"] != again.request_id for e in published)


def test_tampered_webhook_is_401_and_nothing_is_stored(local: LocalStack) -> None:
    request = vendors.tampered(local.signed("hubspot-acme", sample("hubspot/deal.closed_won.json")))

    response = send(request)
    local.runtime.drain()

    assert response.status == 401
    assert response.error_code() == "signature_invalid"
    assert set(local.queue_depths().values()) == {0}
    assert local.runtime.canonical_events() == []


def test_stripe_delivery_older_than_the_tolerance_is_401(local: LocalStack) -> None:
    connection = local.runtime.connections["stripe-acme"]
    secret = local.runtime.signing_secret("stripe-acme")
    stale = vendors.too_old(connection, sample("stripe/invoice.paid.json"), local.server.url, secret)

    response = send(stale)

    assert response.status == 401
    assert "tolerance" in response.error_message()
    assert set(local.queue_depths().values()) == {0}


def test_stripe_invoice_paid_yields_invoice_paid_in_major_units(local: LocalStack) -> None:
    response = local.deliver("stripe-acme", "stripe/invoice.paid.json")
    local.runtime.drain()

    assert response.status == 200
    (paid,) = local.events_of_type("InvoicePaid")
    assert paid["detail"]["source_event_id"] == "evt_1S8STZHEPsHbKGpO6svi34zW"
    assert paid["detail"]["payload"]["amount_paid"] == {"amount": "12500.00", "currency": "USD"}


def test_salesforce_outbound_message_is_acked_in_soap_and_yields_closed_won(local: LocalStack) -> None:
    response = local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml")
    local.runtime.drain()

    assert response.status == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert b"<Ack>true</Ack>" in response.body
    (won,) = local.events_of_type("OpportunityClosedWon")
    assert won["detail"]["source_native_id"] == "0065e00000KxYzAAAV"


def test_salesforce_without_the_endpoint_token_is_401(local: LocalStack) -> None:
    request = local.signed("salesforce-acme", sample("salesforce/opportunity.closed_won.xml"))
    response = send(replace(request, url=request.url.split("?")[0]))
    assert response.status == 401
    assert set(local.queue_depths().values()) == {0}


def test_unknown_connection_is_404_from_the_ingress(local: LocalStack) -> None:
    request = local.signed("stripe-acme", sample("stripe/invoice.paid.json"))
    response = send(replace(request, url=request.url.replace("stripe-acme", "nobody")))
    assert response.status == 404
    assert response.error_code() == "unknown_connection"


@pytest.mark.parametrize(("method", "path"), [("POST", "/nowhere"), ("GET", "/webhooks/stripe-acme")])
def test_unrouted_requests_are_404_from_the_api_itself(local: LocalStack, method: str, path: str) -> None:
    request = vendors.SignedRequest(
        "", "", method, local.server.url + path, {}, b"" if method == "GET" else b"{}"
    )
    response = send(request)
    assert response.status == 404
    assert response.json() == {"message": "Not Found"}


def test_signed_but_unparseable_body_is_400_and_parked_with_its_reason(local: LocalStack) -> None:
    response = send(local.signed("stripe-acme", b'{"id": "evt_x", "object": '))
    local.runtime.drain()

    assert response.status == 400
    (parked,) = local.runtime.unmappable()
    assert parked.attributes["error_code"] == "unparseable_body"
    assert parked.attributes["correlation_id"] == response.request_id
    assert local.runtime.canonical_events() == []


def test_body_over_the_ingress_limit_is_413_from_the_ingress(local: LocalStack) -> None:
    body = sample("stripe/invoice.paid.json")
    response = send(local.signed("stripe-acme", body + b" " * (MAX_WEBHOOK_BODY_BYTES + 1 - len(body))))
    assert response.status == 413
    assert response.error_code() == "payload_too_large"
    assert set(local.queue_depths().values()) == {0}


def test_body_over_api_gateways_limit_is_413_before_any_function_runs(local: LocalStack) -> None:
    invoked = []
    original = local.runtime.invoke
    local.runtime.invoke = lambda key, event: invoked.append(key) or original(key, event)  # type: ignore[method-assign]

    request = local.signed("stripe-acme", b" " * (10 * 1024 * 1024 + 1))
    response = send(request)

    assert response.status == 413
    assert response.json() == {"message": "Request Entity Too Large"}
    assert invoked == []


def test_background_pollers_deliver_without_drain(local: LocalStack) -> None:
    local.runtime.start_pollers()
    response = local.deliver("stripe-acme", "stripe/invoice.paid.json")

    deadline = time.monotonic() + 15
    while not local.runtime.canonical_events() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert response.status == 200
    (event,) = local.runtime.canonical_events()
    assert event["detail-type"] == "InvoicePaid"
    assert event["detail"]["correlation_id"] == response.request_id


def test_every_log_line_of_a_webhook_carries_its_correlation_id(local: LocalStack) -> None:
    # Given the functions' log stream (JSON lines, as CloudWatch gets them) read into a buffer
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        # When a tampered webhook and an authentic one arrive and the pipeline runs
        tampered = vendors.tampered(local.signed("hubspot-acme", sample("hubspot/deal.closed_won.json")))
        rejected = send(tampered)
        accepted = local.deliver("stripe-acme", "stripe/invoice.paid.json")
        local.runtime.drain()
    finally:
        logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    # Then the rejection's WARNING names the request id that the 401 answered with
    (warning,) = [line for line in lines if line.get("message") == "webhook rejected"]
    assert rejected.status == 401
    assert warning["correlation_id"] == rejected.request_id != ""
    assert warning["reason"] == "signature_invalid"
    # And every normaliser line about the accepted delivery carries that delivery's id
    normaliser = [line for line in lines if line.get("delivery_id")]
    assert normaliser, "the normaliser logged nothing about the accepted delivery"
    assert {line["correlation_id"] for line in normaliser} == {accepted.request_id}
