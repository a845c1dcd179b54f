"""The ack path's JSON check accepts exactly what the standard library accepts."""

from __future__ import annotations

import json

import pytest

from pshub import fastjson
from pshub.platforms.stripe import StripeAdapter
from tests.helpers import EVENTS


@pytest.mark.parametrize("path", sorted(EVENTS.rglob("*.json")), ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_sample_reads_as_the_standard_library_reads_it(path) -> None:  # type: ignore[no-untyped-def]
    body = path.read_bytes()
    assert fastjson.loads_for_shape(body) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": NaN}',  # json accepts NaN and Infinity, orjson does not
        '{"name": "Acme"}'.encode("utf-16"),  # json detects UTF-16 and UTF-32
    ],
)
def test_what_only_the_lenient_parser_accepts_is_still_accepted(body: bytes) -> None:
    assert repr(fastjson.loads_for_shape(body)) == repr(json.loads(body))


def test_integers_beyond_64_bits_are_accepted_and_the_normaliser_reads_them_exactly() -> None:
    # Given a Stripe event whose id-like number does not fit 64 bits
    body = b'{"object": "event", "id": "evt_1", "type": "customer.updated", "created": 1795000000,'
    body += b' "data": {"object": {"id": "cus_1", "metadata": {"erp_id": 123456789012345678901234567890}}}}'

    # Then the ingress's check accepts it (orjson reads it as a float: shape only)
    assert StripeAdapter().parse(body)["id"] == "evt_1"
    # And the normaliser's split reads the value exactly
    (event,) = StripeAdapter().split(body, "stripe-acme")
    assert event.data["data"]["object"]["metadata"]["erp_id"] == 123456789012345678901234567890


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1,}', b"\xff\xfe\xfa"])
def test_what_neither_accepts_is_refused_with_the_standard_message(body: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        fastjson.loads_for_shape(body)
    with pytest.raises(ValueError) as standard:
        json.loads(body)
    assert str(ours.value) == str(standard.value)


def test_dumps_is_compact_and_keeps_non_ascii() -> None:
    document = {"name": "Café Müller", "lines": [1, 2], "note": 'a "quote"\nand a newline'}
    text = fastjson.dumps(document)
    assert text == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(text) == document
