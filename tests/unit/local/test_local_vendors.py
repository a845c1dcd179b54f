"""The local signers sign exactly as the vendors document it.

Stripe is cross-checked against Stripe's official SDK; HubSpot v3 is recomputed
here from HubSpot's documented algorithm; all three are accepted by pshub's own
platform adapters (and their tampered / stale copies refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from pshub.errors import SignatureInvalid
from pshub.pipeline.http import InboundRequest
from pshub.platforms import adapter_for
from pshub_local import vendors
from pshub_local.platforms.hubspot import signer as hubspot_signer
from tests.helpers import connections, sample

BASE_URL = "http://127.0.0.1:8080"
CONNECTIONS = connections()
STRIPE = CONNECTIONS["stripe-acme"]
HUBSPOT = CONNECTIONS["hubspot-acme"]
SALESFORCE = CONNECTIONS["salesforce-acme"]


def as_received(request: vendors.SignedRequest, now: float) -> InboundRequest:
    """The request as pshub's ingress sees it (URL exactly as called)."""
    parts = urlsplit(request.url)
    return InboundRequest(
        method=request.method,
        url=request.url,
        path=parts.path,
        raw_query=parts.query,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.body,
        source_ip="127.0.0.1",
        request_id="req-1",
        received_at_epoch=now,
    )


# --- Stripe -------------------------------------------------------------------------------------


def test_stripe_signature_is_accepted_by_the_official_sdk() -> None:
    # Given a real invoice.paid body signed by the local signer, now
    body = sample("stripe/invoice.paid.json")
    request = vendors.sign(STRIPE, body, BASE_URL, "whsec_sdk_check")

    # Then Stripe's own library verifies it with the default 300 s tolerance
    header = request.headers["Stripe-Signature"]
    assert stripe.WebhookSignature.verify_header(body.decode(), header, "whsec_sdk_check", tolerance=300)
    assert header.startswith(f"t={int(time.time())}") or header.startswith(f"t={int(time.time()) - 1}")


def test_stripe_stale_and_tampered_copies_are_refused_by_the_sdk() -> None:
    body = sample("stripe/customer.created.json")
    stale = vendors.too_old(STRIPE, body, BASE_URL, "whsec_sdk_check")
    tampered = vendors.tampered(vendors.sign(STRIPE, body, BASE_URL, "whsec_sdk_check"))

    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.WebhookSignature.verify_header(
            stale.body.decode(), stale.headers["Stripe-Signature"], "whsec_sdk_check", tolerance=300
        )
    with pytest.raises(stripe.SignatureVerificationError, match="expected signature"):
        stripe.WebhookSignature.verify_header(
            tampered.body.decode(), tampered.headers["Stripe-Signature"], "whsec_sdk_check", tolerance=300
        )


def test_stripe_stale_copy_is_just_outside_the_tolerance() -> None:
    stale = vendors.too_old(STRIPE, b"{}", BASE_URL, "whsec_x")
    timestamp = int(stale.headers["Stripe-Signature"].split(",")[0].removeprefix("t="))
    assert 301 <= time.time() - timestamp < 303


# --- HubSpot ------------------------------------------------------------------------------------


def documented_hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    # HubSpot: base64(HMAC-SHA256(client secret, utf-8(method + uri + body + timestamp)))
    source = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def test_hubspot_v3_signature_matches_the_documented_algorithm() -> None:
    body = sample("hubspot/deal.closed_won.json")
    request = vendors.sign(HUBSPOT, body, BASE_URL, "client-secret", now=1_795_187_000.25)

    assert request.url == "http://127.0.0.1:8080/webhooks/hubspot-acme"
    assert request.headers["X-HubSpot-Request-Timestamp"] == "1795187000250"
    assert request.headers["X-HubSpot-Signature-v3"] == documented_hubspot_v3(
        "client-secret", "POST", request.url, body, "1795187000250"
    )
    assert request.headers["Content-Type"] == "application/json"
    assert "X-HubSpot-Signature-Version" not in request.headers  # only v1/v2 send it


def test_hubspot_uri_has_the_documented_percent_encodings_decoded() -> None:
    url = "https://hooks.example.com/webhooks/x?next=%2Fa%3Fb%3Dc&who=%40me%21%24%27%28%29%2A%2C%3B%3A%20"
    assert (
        hubspot_signer.signed_uri(url)
        == "https://hooks.example.com/webhooks/x?next=/a?b%3Dc&who=@me!$'()*,;:%20"
    )

    signature = hubspot_signer.v3_signature("POST", url, b"[]", "s", 1)
    assert signature == documented_hubspot_v3("s", "POST", hubspot_signer.signed_uri(url), b"[]", "1")


def test_hubspot_stale_copy_is_just_outside_five_minutes() -> None:
    stale = vendors.too_old(HUBSPOT, b"[]", BASE_URL, "s")
    age_ms = time.time() * 1000 - int(stale.headers["X-HubSpot-Request-Timestamp"])
    assert 5 * 60 * 1000 + 1000 <= age_ms < 5 * 60 * 1000 + 3000


# --- Salesforce ---------------------------------------------------------------------------------


def test_salesforce_request_carries_the_token_in_the_url_and_soap_headers() -> None:
    body = sample("salesforce/opportunity.closed_won.xml")
    request = vendors.sign(SALESFORCE, body, BASE_URL, "tok/en+1")

    parts = urlsplit(request.url)
    assert parts.path == "/webhooks/salesforce-acme"
    assert parse_qs(parts.query) == {"token": ["tok/en+1"]}
    assert request.headers == {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    assert request.body == body


def test_salesforce_has_no_timestamp_to_make_stale() -> None:
    with pytest.raises(ValueError, match="no timestamp"):
        vendors.too_old(SALESFORCE, b"<x/>", BASE_URL, "t")


# --- every platform, against pshub's own verifiers ----------------------------------------------

SAMPLES = {
    "stripe-acme": "stripe/invoice.paid.json",
    "hubspot-acme": "hubspot/deal.closed_won.json",
    "salesforce-acme": "salesforce/opportunity.closed_won.xml",
}


@pytest.mark.parametrize("connection_id", sorted(SAMPLES))
def test_signed_requests_pass_pshubs_verifier_and_altered_ones_do_not(connection_id: str) -> None:
    connection = CONNECTIONS[connection_id]
    secret = vendors.local_secret(connection.id, connection.platform, environ={})
    adapter = adapter_for(connection.platform)
    now = time.time()
    good = vendors.sign(connection, sample(SAMPLES[connection_id]), BASE_URL, secret, now=now)

    adapter.verify(as_received(good, now), connection, secret, now)
    with pytest.raises(SignatureInvalid):
        adapter.verify(as_received(vendors.tampered(good), now), connection, secret, now)
    if vendors.signs_timestamp(connection.platform):
        stale = vendors.too_old(connection, good.body, BASE_URL, secret)
        with pytest.raises(SignatureInvalid):
            adapter.verify(as_received(stale, time.time()), connection, secret, time.time())


# --- local secrets ------------------------------------------------------------------------------


def test_local_secrets_are_deterministic_per_connection_and_platform_shaped() -> None:
    stripe_secret = vendors.local_secret("stripe-acme", "stripe", environ={})
    digest = hashlib.sha256(b"stripe-acme").hexdigest()[:24]
    assert stripe_secret == f"whsec_localdemo_{digest}"
    assert vendors.local_secret("hubspot-acme", "hubspot", environ={}).startswith("localdemo-")
    assert vendors.local_secret("hubspot-acme", "hubspot", environ={}) != vendors.local_secret(
        "salesforce-acme", "salesforce", environ={}
    )


def test_local_secret_can_be_overridden_per_connection() -> None:
    environ = {"PSHUB_LOCAL_SECRET_STRIPE_ACME": "whsec_mine"}
    assert vendors.local_secret("stripe-acme", "stripe", environ=environ) == "whsec_mine"
    assert vendors.local_secret("hubspot-acme", "hubspot", environ=environ).startswith("localdemo-")
