"""The ack path's JSON check accepts exactly what the standard library accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pshub.pipeline import fastjson
from pshub.platforms.hubspot.inbound import HubSpotAdapter
from pshub.platforms.stripe.inbound import StripeAdapter
from tests.helpers import EVENTS, sample

JSON_SAMPLES = sorted(EVENTS.rglob("*.json"))


def _as_python(view: Any) -> Any:
    """A view from ``loads_for_shape`` converted whole, to compare with ``json``'s reading."""
    if fastjson.is_object(view):
        return {key: _as_python(view[key]) for key in view}
    if fastjson.is_array(view):
        return [_as_python(item) for item in view]
    return view


@pytest.mark.parametrize("path", JSON_SAMPLES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_sample_reads_as_the_standard_library_reads_it(path: Path) -> None:
    body = path.read_bytes()
    assert _as_python(fastjson.loads_for_shape(body)) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": NaN}',  # json accepts NaN and Infinity, simdjson does not
        '{"name": "Acme"}'.encode("utf-16"),  # json detects UTF-16 and UTF-32
        b'{"id": 123456789012345678901234567890}',  # beyond 64 bits
    ],
)
def test_what_only_the_lenient_parser_accepts_is_still_accepted(body: bytes) -> None:
    assert repr(_as_python(fastjson.loads_for_shape(body))) == repr(json.loads(body))


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1,}', b"\xff\xfe\xfa", b"[1, 2] trailing"])
def test_what_neither_accepts_is_refused_with_the_standard_message(body: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        fastjson.loads_for_shape(body)
    with pytest.raises(ValueError) as standard:
        json.loads(body)
    assert str(ours.value) == str(standard.value)


def test_views_stay_valid_while_another_body_is_read() -> None:
    # Given a view of one body, then another body read (as two requests would)
    first = fastjson.loads_for_shape(b'{"id": "evt_1", "data": {"n": 1}}')
    second = fastjson.loads_for_shape(b'{"id": "evt_2"}')

    # Then both still read correctly: each call has its own parser
    assert (first["id"], first["data"]["n"], second["id"]) == ("evt_1", 1, "evt_2")


def test_integers_beyond_64_bits_are_accepted_and_the_normaliser_reads_them_exactly() -> None:
    # Given a Stripe event whose id-like number does not fit 64 bits
    body = b'{"object": "event", "id": "evt_1", "type": "customer.updated", "created": 1795000000,'
    body += b' "data": {"object": {"id": "cus_1", "metadata": {"erp_id": 123456789012345678901234567890}}}}'

    # Then the ingress's check accepts it
    assert StripeAdapter().parse(body)["id"] == "evt_1"
    # And the normaliser's split reads the value exactly
    (event,) = StripeAdapter().split(body, "stripe-acme")
    assert event.data["data"]["object"]["metadata"]["erp_id"] == 123456789012345678901234567890


def test_shape_checks_read_views_and_plain_documents_alike() -> None:
    # Given the samples, checked as the ingress reads them and as the normaliser reads them
    hubspot = sample("hubspot/deal.closed_won.json")
    stripe = sample("stripe/invoice.paid.json")

    # Then the ingress's check passes and the split still yields the platform's events
    assert HubSpotAdapter().parse(hubspot) is not None
    assert [e.event_type for e in HubSpotAdapter().split(hubspot, "hubspot-acme")] == [
        e["subscriptionType"] for e in json.loads(hubspot)
    ]
    assert StripeAdapter().parse(stripe)["type"] == "invoice.paid"


def test_dumps_is_compact_and_keeps_non_ascii() -> None:
    document = {"name": "Café Müller", "lines": [1, 2], "note": 'a "quote"\nand a newline'}
    text = fastjson.dumps(document)
    assert text == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(text) == document


@pytest.mark.parametrize("depth", [1_100, 5_000, 200_000])
def test_nesting_beyond_the_parsers_is_a_value_error_not_a_recursion_error(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    with pytest.raises(ValueError, match="nested more deeply"):
        fastjson.loads_for_shape(body)
    with pytest.raises(ValueError, match="nested more deeply"):
        fastjson.loads_exact(body)


def test_nesting_the_parsers_can_read_is_read() -> None:
    body = b"[" * 900 + b"]" * 900
    assert fastjson.is_array(fastjson.loads_for_shape(body))
    assert isinstance(fastjson.loads_exact(body), list)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"id": "evt_1", "id": "evt_2"}', "key 'id' appears twice"),
        (b'{"data": {"object": {"amount": 1, "amount": 2}}}', "key 'amount' appears twice"),
        (b'[{"a": 1}, {"b": 1, "b": 1}]', "key 'b' appears twice"),
        (b'{"amount": NaN}', "NaN is not a JSON number"),
        (b'{"amount": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": "\xff"}', "can't decode|invalid"),
    ],
)
def test_exact_reading_refuses_what_a_sender_cannot_mean_one_way(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        fastjson.loads_exact(body)


def test_exact_reading_is_the_standard_librarys_otherwise() -> None:
    for path in JSON_SAMPLES:
        body = path.read_bytes()
        assert fastjson.loads_exact(body) == json.loads(body)
