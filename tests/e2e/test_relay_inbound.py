"""The relay platforms over real HTTP to the local runtime: a relay signing as Standard Webhooks
(with the specification's library) in, canonical events out, judged by business outcomes."""

from __future__ import annotations

import pytest

from pshub_local import vendors
from pshub_local.client import send
from tests.e2e.stack import LocalStack
from tests.helpers import sample


def test_a_netsuite_payment_relayed_is_one_invoice_paid_on_the_bus(local: LocalStack) -> None:
    response = local.deliver("netsuite-acme", "netsuite/invoice.paid.json")
    local.runtime.drain()
    # the relay retries the same message (same webhook-id), signed afresh: nothing new
    again = local.deliver("netsuite-acme", "netsuite/invoice.paid.json")
    local.runtime.drain()

    assert (response.status, again.status) == (200, 200)
    (paid,) = local.events_of_type("InvoicePaid")
    detail = paid["detail"]
    assert (detail["connection"], detail["source_platform"]) == ("netsuite-acme", "netsuite")
    assert detail["payload"]["invoice_number"] == "INV-2026-00417"
    assert detail["payload"]["amount_paid"] == {"amount": "48250.00", "currency": "EUR"}
    assert detail["correlation_id"] == response.request_id
    assert local.runtime.unmappable() == [] and local.runtime.dead_letters() == []


def test_a_workday_hire_relayed_is_a_worker_on_the_bus(local: LocalStack) -> None:
    assert local.deliver("workday-acme", "workday/worker.hire.json").status == 200
    local.runtime.drain()

    (worker,) = local.events_of_type("WorkerChanged")
    assert worker["detail"]["source_native_id"] == "21044"
    assert local.runtime.business_exceptions() == []  # HR owns workers: no ownership conflict


@pytest.mark.parametrize("connection_id", ["netsuite-acme", "oracle-fusion-acme", "workday-acme"])
def test_tampered_and_stale_relay_messages_are_401_and_nothing_is_stored(
    local: LocalStack, connection_id: str
) -> None:
    path = {
        "netsuite-acme": "netsuite/customer.update.json",
        "oracle-fusion-acme": "oracle_fusion/customerAccount.update.json",
        "workday-acme": "workday/worker.termination.json",
    }[connection_id]
    connection = local.runtime.connections[connection_id]
    secret = local.runtime.signing_secret(connection_id)
    tampered = send(vendors.tampered(local.signed(connection_id, sample(path))))
    stale = send(vendors.too_old(connection, sample(path), local.server.url, secret))
    local.runtime.drain()

    assert (tampered.status, stale.status) == (401, 401)
    assert "webhook-signature does not match" in tampered.error_message()
    assert "s old (over 300 s)" in stale.error_message()
    assert set(local.queue_depths().values()) == {0}
    assert local.runtime.canonical_events() == []


def test_an_unmappable_relay_message_is_kept_with_its_reason(local: LocalStack) -> None:
    body = sample("netsuite/invoice.paid.json").replace(
        b'"record_type":"invoice"', b'"record_type":"salesorder"'
    )
    response = send(local.signed("netsuite-acme", body))
    local.runtime.drain()

    assert response.status == 200  # stored: a verified message is never refused for its content
    (parked,) = local.runtime.unmappable()
    assert "no mapping for Oracle NetSuite 'salesorder' records" in str(parked)
    assert local.runtime.canonical_events() == []
