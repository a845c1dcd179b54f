"""Across the webhook adapters: every event occurred at an aware instant, and every event about an
entity carries the platform's own version of the change (never one made up on arrival)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pshub.canonical.envelope import ENTITY_EVENT_TYPES, ClientUpsertedV1, InvoicePaymentV1, Money
from pshub.errors import Unmappable
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for
from pshub.platforms.base import PlatformEvent, canonical_from
from tests.helpers import EVENTS, connections, sample

SAMPLES = sorted(
    str(path.relative_to(EVENTS))
    for vendor in ("stripe", "hubspot", "salesforce")
    for path in (EVENTS / vendor).iterdir()
)
CONNECTION = {"stripe": "stripe-acme", "hubspot": "hubspot-acme", "salesforce": "salesforce-acme"}


def delivery(platform: str, body: bytes) -> RawDelivery:
    connection = connections()[CONNECTION[platform]]
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-1", connection=connection.id, platform=platform,
        received_at="2026-11-20T00:00:00.000+00:00", method="POST", url="https://x", headers={},
        source_ip="192.0.2.1", body_text=body.decode(), options=dict(connection.options) or None,
    )  # fmt: skip


@pytest.mark.parametrize("path", SAMPLES)
def test_every_sample_maps_to_aware_times_and_versioned_entity_events(path: str) -> None:
    platform = path.split("/", 1)[0]
    adapter = adapter_for(platform)
    body = sample(path)
    mapped = [
        c
        for e in adapter.split(body, CONNECTION[platform])
        for c in adapter.to_canonical(e, delivery(platform, body))
    ]
    assert mapped
    for event in mapped:
        assert event.occurred_at.utcoffset() is not None
        if event.event_type in ENTITY_EVENT_TYPES:
            assert event.source_version is not None, f"{path}: {event.event_type} has no version"
            assert event.source_version.scheme.startswith(f"{platform}.")


def _platform_event() -> PlatformEvent:
    return PlatformEvent(
        event_id="evt_1",
        event_type="x",
        native_id="cus_1",
        occurred_at=datetime(2026, 11, 20, tzinfo=UTC),
        data={},
    )


def test_an_entity_event_without_a_version_is_refused_at_the_adapter_boundary() -> None:
    payload = ClientUpsertedV1(client_id="cus_1", change="updated")
    with pytest.raises(Unmappable, match="no version of its record"):
        canonical_from("stripe", "ClientUpserted", payload, _platform_event(), delivery("stripe", b"{}"))


def test_a_fact_may_come_without_a_version() -> None:
    usd = Money(amount=0, currency="USD")  # type: ignore[arg-type]
    payload = InvoicePaymentV1(
        invoice_id="in_1", status="paid", amount_due=usd, amount_paid=usd, amount_remaining=usd
    )
    [fact] = canonical_from("stripe", "InvoicePaid", payload, _platform_event(), delivery("stripe", b"{}"))
    assert fact.source_version is None
