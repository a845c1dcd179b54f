"""Concur ESS notifications: the signature as Concur documents it, the envelope, the split.

Vectors: the documented ``statusChanged`` sample (``events/concur``) signed with test key pairs
made here, base64 of RSA-PSS/SHA-256 over the raw body in ``Concur-Signature``; the keys Concur
published (current and previous) parse and refuse anything these test keys signed."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.platforms import adapter_for, platform
from pshub.platforms.concur.inbound import DOCUMENTED_PUBLIC_KEYS, ConcurAdapter, public_keys
from pshub_local.platforms.concur.signer import SIGNER
from tests.helpers import inbound, sample
from tests.unit.platforms.concur.support import (
    connection_for_tests,
    delivery,
    key_pair,
    pem,
    signature,
    signed,
)

APPROVED = sample("concur/report.approved.json")
ADAPTER = ConcurAdapter()
CONNECTION = connection_for_tests()
SECRET = pem("current")


def verify(request: object, secret: str = SECRET) -> None:
    ADAPTER.verify(request, CONNECTION, secret, now=1_795_000_000.0)  # type: ignore[arg-type]


# -- the manifest ---------------------------------------------------------------------------------
def test_the_manifest_declares_a_webhook_expense_platform_whose_adapter_reads_records() -> None:
    manifest = platform("concur")
    assert (manifest.title, manifest.roles, manifest.inbound) == (
        "SAP Concur",
        frozenset({"expense"}),
        "webhook",
    )
    assert manifest.outbound == {"expense": "pshub.platforms.concur.outbound:connect"}
    assert isinstance(adapter_for("concur"), ConcurAdapter)
    assert ConcurAdapter.reads_records is True


# -- the signature --------------------------------------------------------------------------------
def test_the_documented_public_keys_are_two_rsa_2048_keys() -> None:
    keys = public_keys(DOCUMENTED_PUBLIC_KEYS)
    assert [k.key_size for k in keys] == [2048, 2048]
    assert keys[0].public_numbers().n != keys[1].public_numbers().n


def test_a_body_signed_by_the_key_in_the_secret_is_accepted() -> None:
    verify(signed(APPROVED))


@pytest.mark.parametrize(
    "scheme",
    [
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        padding.PKCS1v15(),
    ],
    ids=["pss-salt-32", "pss-salt-max", "pkcs1v15"],
)
def test_rsa_sha256_is_accepted_whichever_padding_concur_signs_with(
    scheme: padding.AsymmetricPadding,
) -> None:
    verify(signed(APPROVED, scheme=scheme))


def test_a_sha1_signature_is_refused() -> None:
    sha1 = key_pair("current").sign(APPROVED, padding.PKCS1v15(), hashes.SHA1())
    request = inbound(APPROVED, {"Concur-Signature": base64.b64encode(sha1).decode()})
    with pytest.raises(SignatureInvalid):
        verify(request)


def test_an_altered_body_is_refused() -> None:
    request = signed(APPROVED)
    tampered = request._replace(body=APPROVED.replace(b"A_APPR", b"A_PEND"))
    with pytest.raises(SignatureInvalid, match="does not match the body"):
        verify(tampered)


def test_a_signature_by_a_key_the_secret_does_not_hold_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(signed(APPROVED, name="stranger"))
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(signed(APPROVED), secret=DOCUMENTED_PUBLIC_KEYS)


def test_during_a_rotation_both_keys_verify_and_afterwards_only_the_new_one() -> None:
    both = pem("new", "old")
    verify(signed(APPROVED, name="old"), secret=both)
    verify(signed(APPROVED, name="new"), secret=both)
    with pytest.raises(SignatureInvalid):
        verify(signed(APPROVED, name="old"), secret=pem("new"))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Concur-Signature"),
        ({"Concur-Signature": ""}, "missing Concur-Signature"),
        ({"Concur-Signature": "not base64!"}, "not base64"),
        ({"Concur-Signature": "é" * 10}, "not base64"),
        ({"Concur-Signature": "A" * 4096}, "longer than any RSA signature"),
        ({"Concur-Signature": base64.b64encode(b"\x00" * 256).decode()}, "does not match"),
    ],
    ids=["absent", "empty", "not-base64", "non-ascii", "too-long", "zeros"],
)
def test_a_missing_or_malformed_signature_is_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        verify(inbound(APPROVED, headers))


def test_a_secret_without_a_usable_public_key_refuses_every_delivery() -> None:
    with pytest.raises(SignatureInvalid, match="no PEM PUBLIC KEY"):
        verify(signed(APPROVED), secret="a shared secret Concur never uses")
    broken = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(SignatureInvalid, match="not a public key"):
        verify(signed(APPROVED), secret=broken)


def test_an_old_notification_still_verifies_because_concur_signs_no_time_and_retries_for_72_hours() -> None:
    old = json.loads(APPROVED)
    old["timeStamp"] = "2021-03-18T23:11:51.034Z"  # Concur's own sample's date
    body = json.dumps(old).encode()
    ADAPTER.verify(signed(body), CONNECTION, SECRET, now=1_900_000_000.0)


def test_the_local_signer_signs_as_the_adapter_verifies() -> None:
    secret = SIGNER.secret_prefix + "0123456789abcdef01234567"
    headers = SIGNER.headers("https://hooks.example.com/webhooks/concur-acme", APPROVED, secret, 0.0)
    assert headers["Concur-Correlationid"] == "b6e1d4a2-58c3-4f7e-a0d9-1c2b3a4f5e6d"
    verify(inbound(APPROVED, headers), secret=secret)
    with pytest.raises(SignatureInvalid):
        verify(inbound(APPROVED + b" ", headers), secret=secret)
    with pytest.raises(SignatureInvalid):  # the demo key is not Concur's
        verify(inbound(APPROVED, headers), secret=DOCUMENTED_PUBLIC_KEYS)


_SIGNED = signed(APPROVED, name="property")
_SECRET_P = pem("property")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_change_to_a_signed_delivery_fails_verification(data: st.DataObject) -> None:
    body = bytearray(_SIGNED.body)
    sig = bytearray(base64.b64decode(_SIGNED.headers["concur-signature"]))
    target = data.draw(st.sampled_from(["body", "signature"]))
    changed = body if target == "body" else sig
    how = data.draw(st.sampled_from(["flip", "insert", "delete"]))
    at = data.draw(st.integers(0, len(changed) - 1))
    if how == "flip":
        changed[at] ^= data.draw(st.integers(1, 255))
    elif how == "insert":
        changed.insert(at, data.draw(st.integers(0, 255)))
    else:
        del changed[at]
    request = _SIGNED._replace(
        body=bytes(body),
        headers={**_SIGNED.headers, "concur-signature": base64.b64encode(bytes(sig)).decode()},
    )
    with pytest.raises(SignatureInvalid):
        verify(request, secret=_SECRET_P)


# -- acknowledgement, shape, split ----------------------------------------------------------------
def test_the_delivery_is_acknowledged_with_a_2xx_which_ess_takes_as_delivered() -> None:
    response = ADAPTER.acknowledge(signed(APPROVED))
    assert response.status == 200
    assert json.loads(response.body) == {"status": "accepted"}


def test_a_notification_is_one_event_about_its_report() -> None:
    ADAPTER.parse(APPROVED)
    [event] = ADAPTER.split(APPROVED, "concur-acme")
    assert event.problem is None
    assert event.event_id == "3f2c9a1e-7b4d-4e8a-9c61-2d5f0b8e7a14"
    assert event.event_type == "statusChanged"
    assert event.native_id == "9A1B2C3D4E5F60718293"
    assert (
        event.occurred_at is not None and event.occurred_at.isoformat() == "2026-11-23T09:02:31.418000+00:00"
    )


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"id": "x", "topic": "public.concur.expense.report"}', b'{"a": 1, "a": 2}'],
    ids=["not-json", "array", "missing-keys", "duplicate-keys"],
)
def test_a_body_that_is_not_an_ess_notification_is_unparseable(body: bytes) -> None:
    with pytest.raises(UnparseableBody):
        ADAPTER.split(body, "concur-acme")


def test_a_notification_of_another_topic_is_unmappable() -> None:
    other = json.loads(APPROVED)
    other["topic"] = "public.concur.travel.request"
    with pytest.raises(Unmappable, match="not an expense report topic"):
        ADAPTER.split(json.dumps(other).encode(), "concur-acme")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda n: n["facts"].update(reportId=12.5), "facts.reportId is a number"),
        (lambda n: n["facts"].update(reportId=None), "facts.reportId is null"),
        (lambda n: n.update(timeStamp="yesterday"), "timeStamp is not an ISO 8601"),
        (lambda n: n.update(timeStamp="2026-11-23T09:02:31"), "timeStamp has no UTC offset"),
        (lambda n: n.update(facts=[]), "facts is an array"),
        (lambda n: n["facts"].update(lastModifiedDate=5), "lastModifiedDate is an integer"),
    ],
    ids=[
        "report-id-number",
        "report-id-null",
        "timestamp-text",
        "timestamp-naive",
        "facts-array",
        "modified-int",
    ],
)
def test_a_notification_with_malformed_fields_is_a_malformed_event(change: object, problem: str) -> None:
    notification = json.loads(APPROVED)
    change(notification)  # type: ignore[operator]
    [event] = ADAPTER.split(json.dumps(notification).encode(), "concur-acme")
    assert event.problem is not None and problem in event.problem
    assert event.event_id == "3f2c9a1e-7b4d-4e8a-9c61-2d5f0b8e7a14"
    with pytest.raises(Unmappable, match="Concur notification"):
        ADAPTER.to_canonical(event, delivery(APPROVED))


def test_to_canonical_refuses_because_the_notification_needs_a_read_of_the_report() -> None:
    [event] = ADAPTER.split(APPROVED, "concur-acme")
    with pytest.raises(Unmappable, match="needs a read of the report"):
        ADAPTER.to_canonical(event, delivery(APPROVED))


def test_signature_helper_matches_the_documented_encoding() -> None:
    # base64 (standard alphabet, padded) of a 256-byte RSA 2048 signature.
    assert len(base64.b64decode(signature(APPROVED), validate=True)) == 256
