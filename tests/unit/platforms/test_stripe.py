"""Stripe-Signature verification, with vectors built from Stripe's documented scheme and
cross-checked against Stripe's official SDK (``stripe.WebhookSignature``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import stripe

from pshub.canonical.envelope import CanonicalEvent, SourceVersion
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms.fields import FieldProblem
from pshub.platforms.stripe.inbound import StripeAdapter, minor_to_major
from tests.helpers import connections, inbound, sample

SECRET = "whsec_test_5f1c0ffee0ddba11"  # test-only
NOW = 1_793_754_200
adapter = StripeAdapter()
connection = connections()["stripe-acme"]


def documented_header(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    # Stripe docs: signed_payload = timestamp + "." + raw body; HMAC-SHA256 hex; "t=...,v1=..."
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def verify(body: bytes, header: str | None, now: float = NOW) -> None:
    headers = {"Stripe-Signature": header} if header is not None else {}
    adapter.verify(inbound(body, headers, now=now), connection, SECRET, now)


def test_documented_signature_is_accepted_by_us_and_by_stripe_sdk() -> None:
    # Given a real invoice.paid delivery signed as Stripe documents
    body = sample("stripe/invoice.paid.json")
    now = int(time.time())  # the SDK checks the tolerance against the real clock
    header = documented_header(body, now - 10)
    # Then Stripe's own SDK accepts the vector (so the vector is right) ...
    assert stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)
    # ... and so do we
    verify(body, header, now=now)


def test_rolled_secret_header_with_two_v1_signatures_is_accepted() -> None:
    body = sample("stripe/customer.created.json")
    old = documented_header(body, NOW, "whsec_old_secret")
    new = documented_header(body, NOW)
    header = f"{new.split(',')[0]},{old.split(',')[1]},{new.split(',')[1]},v0=deadbeef"
    verify(body, header)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.replace(b"1250000", b"1250001"), "does not match"),
        (lambda b: json.dumps(json.loads(b)).encode(), "does not match"),  # re-serialised JSON
        (lambda b: b + b"\n", "does not match"),
    ],
)
def test_tampered_or_reserialised_body_is_rejected(mutate, reason) -> None:
    body = sample("stripe/invoice.paid.json")
    header = documented_header(body, int(time.time()))
    tampered = mutate(body)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(tampered.decode(), header, SECRET, tolerance=300)
    with pytest.raises(SignatureInvalid, match=reason):
        verify(tampered, header, now=time.time())


def test_replayed_too_late_is_rejected_at_stripes_300_second_tolerance() -> None:
    body = sample("stripe/invoice.paid.json")
    verify(body, documented_header(body, NOW - 300))  # on the edge: still fine
    with pytest.raises(SignatureInvalid, match="301 s old"):
        verify(body, documented_header(body, NOW - 301))


def test_signed_more_than_300_seconds_in_the_future_is_rejected() -> None:
    body = sample("stripe/invoice.paid.json")
    verify(body, documented_header(body, NOW + 300))  # on the edge, ahead: still fine
    with pytest.raises(SignatureInvalid, match="301 s in the future"):
        verify(body, documented_header(body, NOW + 301))


def test_stripe_sdk_accepts_a_future_timestamp_we_refuse() -> None:
    # stripe-python rejects only `t < now - tolerance`; pshub's window is symmetric (module docstring)
    body = sample("stripe/invoice.paid.json")
    now = int(time.time())
    header = documented_header(body, now + 3600)
    assert stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)
    with pytest.raises(SignatureInvalid, match="in the future"):
        verify(body, header, now=now)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Stripe-Signature"),
        ("", "missing Stripe-Signature"),
        ("v1=abc", "no timestamp"),
        ("t=abc,v1=abc", "non-numeric timestamp"),
        (f"t={NOW}", "no v1 signature"),
        (f"t={NOW},v0=abc", "no v1 signature"),
    ],
)
def test_malformed_headers_are_rejected_with_a_reason(header, reason) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        verify(sample("stripe/invoice.paid.json"), header)


def test_wrong_secret_is_rejected() -> None:
    body = sample("stripe/invoice.paid.json")
    with pytest.raises(SignatureInvalid):
        verify(body, documented_header(body, NOW, "whsec_someone_else"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"{not json", "not JSON"), (b"[]", "not an Event"), (b'{"object":"event","id":"evt_1"}', "no 'type'")],
)
def test_unparseable_bodies_are_named(body, reason) -> None:
    with pytest.raises(UnparseableBody, match=reason):
        adapter.parse(body)


def delivery(body: bytes) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-1", connection="stripe-acme", platform="stripe",
        received_at="2026-11-20T00:00:00.000+00:00", method="POST", url="https://x/webhooks/stripe-acme",
        headers={}, source_ip="192.0.2.1", legal_entity="ACME-US", body_text=body.decode(),
    )  # fmt: skip


def test_invoice_paid_maps_to_invoice_paid_with_decimal_money() -> None:
    body = sample("stripe/invoice.paid.json")
    source = json.loads(body)
    [event] = adapter.split(body, "stripe-acme")
    [canonical] = adapter.to_canonical(event, delivery(body))
    assert canonical.event_type == "InvoicePaid"
    assert canonical.source_event_id == source["id"]
    assert canonical.source_native_id == source["data"]["object"]["id"]
    assert canonical.correlation_id == "corr-1"
    assert canonical.payload["project_code"] == "PRJ-ACME-0001"
    invoice = source["data"]["object"]
    assert Decimal(canonical.payload["amount_paid"]["amount"]) == Decimal(invoice["amount_paid"]) / 100
    assert canonical.payload["amount_paid"]["currency"] == "USD"


def test_payment_failed_and_customer_events_map() -> None:
    failed = sample("stripe/invoice.payment_failed.json")
    [event] = adapter.split(failed, "stripe-acme")
    [canonical] = adapter.to_canonical(event, delivery(failed))
    assert canonical.event_type == "InvoicePaymentFailed"
    assert canonical.payload["attempt_count"] >= 1
    updated = sample("stripe/customer.updated.json")
    [event] = adapter.split(updated, "stripe-acme")
    [canonical] = adapter.to_canonical(event, delivery(updated))
    assert canonical.event_type == "ClientUpserted"
    assert canonical.payload["change"] == "updated"
    previous = json.loads(updated)["data"]["previous_attributes"]
    assert set(canonical.payload["properties"]) == set(previous)


def test_event_id_is_deterministic_so_consumers_can_deduplicate() -> None:
    body = sample("stripe/invoice.paid.json")
    [event] = adapter.split(body, "stripe-acme")
    first = adapter.to_canonical(event, delivery(body))[0].event_id
    assert first == adapter.to_canonical(event, delivery(body))[0].event_id


def test_unsubscribed_type_is_unmappable_with_its_name() -> None:
    doc = json.loads(sample("stripe/invoice.paid.json"))
    doc["type"] = "charge.refunded"
    body = json.dumps(doc).encode()
    [event] = adapter.split(body, "stripe-acme")
    with pytest.raises(Unmappable, match=r"charge\.refunded"):
        adapter.to_canonical(event, delivery(body))


@pytest.mark.parametrize(
    ("amount", "currency", "major"),
    [(1250000, "usd", "12500.00"), (5000, "JPY", "5000"), (1234, "kwd", "1.234")],
)
def test_minor_units_follow_the_currency_exponent(amount, currency, major) -> None:
    assert minor_to_major(amount, currency) == Decimal(major)


# --- versions ------------------------------------------------------------------------------------


def canonical(body: bytes) -> CanonicalEvent:
    [event] = adapter.split(body, "stripe-acme")
    [mapped] = adapter.to_canonical(event, delivery(body))
    return mapped


@pytest.mark.parametrize(
    ("path", "version"),
    # The samples' own `created`, event id and state, read off the files
    [
        ("stripe/customer.created.json", SourceVersion(
            scheme="stripe.created+state", major=1790613668, minor=0, tiebreak="evt_1SH8xMS9PsHbKGpOBMoXOJrL")),
        ("stripe/customer.updated.json", SourceVersion(
            scheme="stripe.created+state", major=1795166143, minor=1, tiebreak="evt_1So8F2nXPsHbKGpOMzqQdgCW")),
        ("stripe/invoice.payment_failed.json", SourceVersion(  # status "open"
            scheme="stripe.created+state", major=1793494810, minor=1, tiebreak="evt_1SZbkBFTPsHbKGpOFoOxtzHq")),
        ("stripe/invoice.paid.json", SourceVersion(  # status "paid"
            scheme="stripe.created+state", major=1793754153, minor=3, tiebreak="evt_1S8STZHEPsHbKGpO6svi34zW")),
    ],
)  # fmt: skip
def test_events_carry_created_and_the_objects_state_as_version(path: str, version: SourceVersion) -> None:
    assert canonical(sample(path)).source_version == version


def test_occurred_at_is_the_events_created_as_an_aware_utc_time() -> None:
    mapped = canonical(sample("stripe/customer.created.json"))
    assert mapped.occurred_at == datetime(2026, 9, 28, 16, 41, 8, tzinfo=UTC)  # date -u -d @1790613668


def test_in_one_second_a_later_state_orders_after_an_earlier_one() -> None:
    # Given an invoice finalised (open, payment failed) and paid within the same second
    failed = json.loads(sample("stripe/invoice.payment_failed.json"))
    paid = json.loads(sample("stripe/invoice.paid.json"))
    paid["created"] = failed["created"]
    open_version = canonical(json.dumps(failed).encode()).source_version
    paid_version = canonical(json.dumps(paid).encode()).source_version
    # Then the state decides, whatever the random event ids say
    assert open_version is not None and paid_version is not None
    assert open_version.key() < paid_version.key()


def test_a_customer_deleted_in_the_second_of_its_update_orders_after_it() -> None:
    updated = json.loads(sample("stripe/customer.updated.json"))
    deleted = {**updated, "id": "evt_0000000000000000000000aa", "type": "customer.deleted"}
    deleted["data"] = {"object": {**updated["data"]["object"], "deleted": True}}
    tombstone = canonical(json.dumps(deleted).encode())
    assert tombstone.event_type == "ClientDeleted"
    assert tombstone.source_version is not None and tombstone.source_version.minor == 2
    update = canonical(sample("stripe/customer.updated.json")).source_version
    assert update is not None and update.key() < tombstone.source_version.key()


@pytest.mark.parametrize("status", ["open_payment_pending", None, 3])
def test_an_invoice_state_pshub_does_not_rank_is_refused_not_guessed(status: object) -> None:
    doc = json.loads(sample("stripe/invoice.paid.json"))
    doc["data"]["object"]["status"] = status
    [event] = adapter.split(json.dumps(doc).encode(), "stripe-acme")
    # (a status that is not text is refused by the payload's own reading of it: also unmappable)
    with pytest.raises((Unmappable, FieldProblem), match="status"):
        adapter.to_canonical(event, delivery(json.dumps(doc).encode()))


def test_subscription_states_rank_along_the_documented_lifecycle() -> None:
    from pshub.platforms.stripe.inbound import STATE_RANKS

    ranks = STATE_RANKS["subscription"]
    lifecycle = ["incomplete", "trialing", "past_due", "unpaid", "canceled"]
    assert [ranks[state] for state in lifecycle] == sorted(ranks[state] for state in lifecycle)
    assert len({ranks[state] for state in lifecycle}) == len(lifecycle)
    assert ranks["trialing"] == ranks["active"] == ranks["paused"]
    assert ranks["canceled"] == ranks["incomplete_expired"]
    invoice = STATE_RANKS["invoice"]
    assert invoice["draft"] < invoice["open"] < invoice["uncollectible"] < invoice["paid"] == invoice["void"]
