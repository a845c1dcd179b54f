"""The relay contract (Standard Webhooks) for NetSuite, Oracle Fusion and Workday.

Signature vectors are the specification's own (the Python library's ``test_sign_function``), and
every signed request here is signed by the specification's library (``standardwebhooks``), never
by pshub's verifier. Expected canonical values are written out from the samples by hand.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for, platform
from pshub.platforms.relay import RelayAdapter, signature, signing_keys, verify_signature
from tests.helpers import inbound, sample

# The specification's Python library, tests/test_webhooks.py::test_sign_function
SPEC_SECRET = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(b"test-only relay secret, 32 bytes").decode()
OTHER = "whsec_" + base64.b64encode(b"someone else's relay secret....").decode()
NOW = 1_796_227_990
RELAYS = {"netsuite": "netsuite-acme", "oracle_fusion": "oracle-fusion-acme", "workday": "workday-acme"}
SAMPLES = {
    "netsuite": ["customer.update", "customer.delete", "invoice.paid"],
    "oracle_fusion": ["customerAccount.update", "receivablesInvoice.paid"],
    "workday": ["worker.hire", "worker.termination"],
}
ALL_SAMPLES = [(name, f"{name}/{s}.json") for name, samples in SAMPLES.items() for s in samples]


def event_id(body: bytes) -> str:
    return str(json.loads(body)["data"]["event_id"])


def spec_headers(body: bytes, at: int, secret: str = SECRET, message_id: str | None = None) -> dict[str, str]:
    """Headers as a relay using the specification's library sends them."""
    message_id = message_id or event_id(body)
    moment = datetime.fromtimestamp(at, UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body.decode()),
    }


def verify(name: str, body: bytes, headers: dict[str, str], now: float = NOW, secret: str = SECRET) -> None:
    adapter = adapter_for(name)
    connection = _connection(name)
    adapter.verify(inbound(body, headers, now=now), connection, secret, now)


def _connection(name: str) -> Any:
    from tests.helpers import connections

    return connections()[RELAYS[name]]


def delivery(name: str, body: bytes) -> RawDelivery:
    connection = _connection(name)
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-9", connection=connection.id, platform=name,
        received_at="2026-12-02T16:12:45.000+00:00", method="POST", url="https://hooks.example.com/x",
        headers={}, source_ip="192.0.2.1", body_text=body.decode(), role=connection.role,
    )  # fmt: skip


def mapped(name: str, body: bytes) -> list[Any]:
    adapter = adapter_for(name)
    return [
        c for e in adapter.split(body, RELAYS[name]) for c in adapter.to_canonical(e, delivery(name, body))
    ]


# --- the specification's vectors ------------------------------------------------------------


def test_the_specifications_vector_is_our_signature() -> None:
    (key,) = signing_keys("whsec_" + SPEC_SECRET)
    digest = signature(key, SPEC_ID.encode(), str(SPEC_TIMESTAMP).encode(), SPEC_BODY)
    assert "v1," + base64.b64encode(digest).decode() == SPEC_SIGNATURE
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    request = inbound(SPEC_BODY, headers, now=SPEC_TIMESTAMP)
    assert (
        verify_signature(request, SPEC_SECRET, SPEC_TIMESTAMP, "test") == SPEC_ID
    )  # no prefix: accepted too
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(inbound(SPEC_BODY + b" ", headers), SPEC_SECRET, SPEC_TIMESTAMP, "test")


def test_the_specifications_content_to_sign_example() -> None:
    # spec/standard-webhooks.md, "Signature scheme": msg_id.timestamp.payload
    body = b'{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}'
    (key,) = signing_keys("whsec_" + SPEC_SECRET)
    ours = (
        "v1,"
        + base64.b64encode(signature(key, b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", b"1674087231", body)).decode()
    )
    library = Webhook("whsec_" + SPEC_SECRET).sign(
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", datetime.fromtimestamp(1674087231, UTC), body.decode()
    )
    assert ours == library


# --- every sample verifies and maps ----------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), ALL_SAMPLES)
def test_every_sample_signed_by_the_specifications_library_verifies(name: str, path: str) -> None:
    body = sample(path)
    now = int(time.time())
    headers = spec_headers(body, now - 5)
    Webhook(SECRET).verify(body, headers)  # the library's own verifier agrees (so the vector is right)
    verify(name, body, headers, now=now)
    assert adapter_for(name).parse(body)  # the ingress's shape check


def test_the_relay_platforms_declare_themselves() -> None:
    for name, roles in (("netsuite", {"erp"}), ("oracle_fusion", {"erp"}), ("workday", {"hr"})):
        manifest = platform(name)
        assert manifest.inbound == "webhook" and manifest.roles == roles
        assert isinstance(adapter_for(name), RelayAdapter)


def test_a_netsuite_customer_change_is_a_client_upsert_with_its_international_text_intact() -> None:
    (event,) = mapped("netsuite", sample("netsuite/customer.update.json"))
    assert event.event_type == "ClientUpserted"
    assert {k: v for k, v in event.payload.items() if v is not None} == {
        "client_id": "1874",
        "change": "updated",
        "name": "Müller & Söhne Logistik GmbH",
        "email": "rechnungen@mueller-soehne.example.de",
        "web_domain": "mueller-soehne.example.de",
        "country": "DE",
        "city": "München",
        "properties": {},
    }
    assert event.source_event_id == "ns-1234567-customer-1874-1796047508000"
    assert event.source_version.scheme == "netsuite.modified_at"
    assert event.source_version.major == 1796047508000 and event.source_version.minor == 0


def test_a_netsuite_customer_delete_is_a_tombstone_after_any_change_at_its_stamp() -> None:
    (event,) = mapped("netsuite", sample("netsuite/customer.delete.json"))
    assert (event.event_type, event.payload) == ("ClientDeleted", {"client_id": "1902"})
    assert event.source_version.minor == 1


def test_an_individual_customer_is_named_by_first_and_last_name() -> None:
    document = json.loads(sample("netsuite/customer.update.json"))
    document["data"]["fields"] |= {"companyname": "", "firstname": " Zoë ", "lastname": "O'Brien-Łukasik"}
    (event,) = mapped("netsuite", json.dumps(document).encode())
    assert event.payload["name"] == "Zoë O'Brien-Łukasik"


def test_a_settled_netsuite_invoice_is_paid_in_full_exactly() -> None:
    (event,) = mapped("netsuite", sample("netsuite/invoice.paid.json"))
    assert event.event_type == "InvoicePaid"
    assert event.payload == {
        "invoice_id": "88231",
        "invoice_number": "INV-2026-00417",
        "client_id": "1874",
        "status": "paid",
        "amount_due": {"amount": "48250.00", "currency": "EUR"},
        "amount_paid": {"amount": "48250.00", "currency": "EUR"},
        "amount_remaining": {"amount": "0.00", "currency": "EUR"},
        "paid_at": "2026-12-02T16:12:44Z",
    }


def test_a_partly_paid_invoice_is_no_event() -> None:
    partly = _with("netsuite/invoice.paid.json", fields={"amountremaining": "7000.00"})
    assert mapped("netsuite", partly) == []


def test_an_oracle_fusion_invoice_in_yen_is_paid_in_whole_yen() -> None:
    (event,) = mapped("oracle_fusion", sample("oracle_fusion/receivablesInvoice.paid.json"))
    payload = event.payload
    assert (payload["invoice_id"], payload["invoice_number"], payload["client_id"]) == (
        "300000051234987", "AR-104233", "10047",
    )  # fmt: skip
    assert payload["amount_due"] == payload["amount_paid"] == {"amount": "1250000", "currency": "JPY"}
    assert Decimal(payload["amount_remaining"]["amount"]) == 0


def test_an_oracle_fusion_customer_account_is_a_client_upsert() -> None:
    (event,) = mapped("oracle_fusion", sample("oracle_fusion/customerAccount.update.json"))
    assert event.event_type == "ClientUpserted"
    payload = event.payload
    assert (payload["client_id"], payload["name"]) == ("300000047112233", "Société Générale de Conseil SAS")
    assert (payload["web_domain"], payload["country"], payload["city"]) == (
        "sgc-conseil.example.fr", "FR", "Lyon",
    )  # fmt: skip


def test_a_workday_hire_and_termination_are_worker_snapshots() -> None:
    (hire,) = mapped("workday", sample("workday/worker.hire.json"))
    assert hire.event_type == "WorkerChanged" and hire.payload["native_id"] == "21044"
    assert hire.payload["attributes"] == {
        "name": "Siobhán Ní Bhriain",
        "email": "siobhan.nibhriain@acme-consulting.example.com",
        "employment_status": "active",
        "hire_date": "2026-11-16",
        "role": "Senior Consultant",
        "home_entity": "ACME-UK",
    }
    assert hire.source_version.major == 1_794_805_200_000  # 2026-11-16T05:00:00Z in ms
    (leaver,) = mapped("workday", sample("workday/worker.termination.json"))
    attributes = leaver.payload["attributes"]
    assert attributes["name"] == "Minh Anh Nguyễn"  # the preferred name
    assert (attributes["employment_status"], attributes["termination_date"]) == ("terminated", "2026-12-31")
    assert "cost_rate" not in attributes


# --- refused: 401, with the reason ------------------------------------------------------------


BODY = sample("netsuite/invoice.paid.json")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.replace(b"48250.00", b"48250.01"), "does not match"),
        (lambda b: json.dumps(json.loads(b)).encode(), "does not match"),  # re-encoded JSON
        (lambda b: json.dumps(json.loads(b), ensure_ascii=False, indent=1).encode(), "does not match"),
        (lambda b: b + b"\n", "does not match"),
    ],
)
def test_a_tampered_or_re_encoded_body_is_refused(mutate: Any, reason: str) -> None:
    headers = spec_headers(BODY, NOW)
    altered = mutate(BODY)
    assert altered != BODY
    with pytest.raises(SignatureInvalid, match=reason):
        verify("netsuite", altered, headers)


def test_a_wrong_secret_is_refused_and_the_library_agrees() -> None:
    headers = spec_headers(BODY, int(time.time()), secret=OTHER)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, headers)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify("workday", BODY, headers, now=time.time())


def test_the_tolerance_is_five_minutes_either_way() -> None:
    verify("netsuite", BODY, spec_headers(BODY, NOW - 300))
    verify("netsuite", BODY, spec_headers(BODY, NOW + 300))
    with pytest.raises(SignatureInvalid, match="301 s old"):
        verify("netsuite", BODY, spec_headers(BODY, NOW - 301))
    with pytest.raises(SignatureInvalid, match="301 s in the future"):
        verify("netsuite", BODY, spec_headers(BODY, NOW + 301))


def test_a_delivery_replayed_after_the_window_is_refused() -> None:
    headers = spec_headers(BODY, NOW)
    verify("oracle_fusion", BODY, headers, now=NOW + 1)
    with pytest.raises(SignatureInvalid, match="a replay or a stale retry"):
        verify("oracle_fusion", BODY, headers, now=NOW + 360)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    headers = spec_headers(BODY, NOW)
    del headers[missing]
    with pytest.raises(SignatureInvalid, match=f"missing {missing} header"):
        verify("netsuite", BODY, headers)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("webhook-timestamp", f"{NOW}.0", "not integer Unix seconds"),
        ("webhook-timestamp", "1e9", "not integer Unix seconds"),
        (
            "webhook-timestamp",
            "\uff11\uff17\uff19\uff16\uff12\uff12\uff17\uff19\uff19\uff10",
            "not integer Unix seconds",
        ),  # full-width digits
        ("webhook-signature", "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw", "no v1,<base64> signature"),
        ("webhook-signature", "v1,not base64!", "no v1,<base64> signature"),
        ("webhook-signature", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "no v1,<base64> signature"),
    ],
)
def test_malformed_headers_are_refused_with_a_reason(field: str, value: str, reason: str) -> None:
    headers = spec_headers(BODY, NOW) | {field: value}
    with pytest.raises(SignatureInvalid, match=reason):
        verify("netsuite", BODY, headers)


def test_a_body_whose_event_id_is_not_the_signed_id_is_refused() -> None:
    # Signed correctly, but under another id than the one the body states: dedup would be split.
    headers = spec_headers(BODY, NOW, message_id="msg_some_other_id")
    with pytest.raises(SignatureInvalid, match=r"data\.event_id is not the webhook-id"):
        verify("netsuite", BODY, headers)


def test_rotation_sender_side_two_signatures_and_receiver_side_two_secrets() -> None:
    # The relay rotating: one entry per secret, and junk entries of other versions, skipped
    old, new = spec_headers(BODY, NOW, secret=OTHER), spec_headers(BODY, NOW)
    both = old | {"webhook-signature": f"v1a,AAAA {old['webhook-signature']} {new['webhook-signature']}"}
    verify("netsuite", BODY, both)
    # pshub rotating first: the connection holds both secrets while the relay still signs with the old
    verify("netsuite", BODY, old, secret=f"{SECRET}\n{OTHER}")
    with pytest.raises(SignatureInvalid):
        verify("netsuite", BODY, old, secret=SECRET)


def test_a_secret_not_in_the_whsec_form_is_refused_not_crashed() -> None:
    with pytest.raises(SignatureInvalid, match="not whsec_ followed by base64"):
        verify("netsuite", BODY, spec_headers(BODY, NOW), secret="whsec_not*base64")


# --- refused later: parked with the reason ----------------------------------------------------


def _with(path: str, **data: Any) -> bytes:
    document = json.loads(sample(path))
    for key, value in data.items():
        if key == "fields":
            document["data"]["fields"] |= value
        else:
            document["data"][key] = value
    return json.dumps(document, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("netsuite", _with("netsuite/invoice.paid.json", fields={"total": "48250.005"}), "not an exact amount in EUR"),
        ("netsuite", _with("netsuite/invoice.paid.json", fields={"total": 48250.0}), "expected a decimal string"),
        ("netsuite", _with("netsuite/invoice.paid.json", fields={"currency": "eur"}), "not an ISO 4217 currency"),
        ("netsuite", _with("netsuite/invoice.paid.json", fields={"amountremaining": "-1.00"}), "not between 0"),
        ("netsuite", _with("netsuite/invoice.paid.json", operation="delete"), "never deleted"),
        ("netsuite", _with("netsuite/invoice.paid.json", record_type="salesorder"), "no mapping for Oracle NetSuite 'salesorder'"),
        ("oracle_fusion", _with("oracle_fusion/receivablesInvoice.paid.json", fields={"EnteredAmount": "1250000.5"}), "not an exact amount in JPY"),
        ("workday", _with("workday/worker.hire.json", fields={"Preferred_Name": None, "Legal_Name": " "}), "neither"),
        ("workday", _with("workday/worker.hire.json", fields={"Worker_Status": "Retired"}), "not one of Active"),
        ("workday", _with("workday/worker.hire.json", fields={"Hire_Date": "16/11/2026"}), "not an ISO 8601 date"),
        ("workday", _with("workday/worker.hire.json", operation="delete"), "never deleted"),
        ("workday", _with("workday/worker.hire.json", operation="upsert"), "not one of create, update, delete"),
        ("workday", _with("workday/worker.hire.json", modified_at="2026-11-16T00:00:00"), "no UTC offset"),
    ],
)  # fmt: skip
def test_a_verified_message_that_does_not_fit_is_refused_by_name(name: str, body: bytes, reason: str) -> None:
    with pytest.raises(Unmappable, match=reason):
        mapped(name, body)


def test_a_termination_before_the_hire_is_refused_by_the_canonical_model() -> None:
    body = _with("workday/worker.termination.json", fields={"Termination_Date": "2020-01-31"})
    with pytest.raises(ValidationError, match="termination_date"):
        mapped("workday", body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "not a JSON object"),
        (b'{"type":"x","timestamp":"y"}', "has no 'data'"),
        (b'{"type":"x","timestamp":"y","data":{"event_id":"e"}}', "has no data.record_type"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_body_not_of_the_contract_is_unparseable_at_the_ingress(body: bytes, reason: str) -> None:
    with pytest.raises(UnparseableBody, match=reason):
        adapter_for("workday").parse(body)


@settings(max_examples=300, deadline=None)
@given(
    message_id=st.text(max_size=40),
    stamp=st.one_of(st.text(max_size=14), st.integers(NOW - 400, NOW + 400).map(str)),
    signatures=st.one_of(
        st.text(max_size=120),
        st.lists(st.builds(lambda v, s: f"{v},{s}", st.sampled_from(["v1", "v1a", "v2", ""]), st.text(max_size=50)), max_size=20).map(" ".join),
    ),
    body=st.binary(max_size=300),
)  # fmt: skip
def test_forged_headers_of_any_shape_are_refused_never_crashed(
    message_id: str, stamp: str, signatures: str, body: bytes
) -> None:
    headers = {"webhook-id": message_id, "webhook-timestamp": stamp, "webhook-signature": signatures}
    with pytest.raises(SignatureInvalid):
        verify("netsuite", body, headers)


def test_dates_in_the_samples_read_as_calendar_dates() -> None:
    # a guard on the samples themselves: Workday dates are plain YYYY-MM-DD
    fields = json.loads(sample("workday/worker.termination.json"))["data"]["fields"]
    assert date.fromisoformat(fields["Hire_Date"]) < date.fromisoformat(fields["Termination_Date"])
