"""Reading vendor fields by their documented types; problems named by field and kind, never by value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pshub.platforms import fields


@pytest.mark.parametrize(
    ("value", "kind"),
    [(None, "null"), (True, "a boolean"), (1.5, "a number with a fraction or exponent"), ("", "an empty string"),
     ([1], "an array"), ({"a": 1}, "an object")],
)  # fmt: skip
def test_an_identifier_of_the_wrong_kind_is_named(value: object, kind: str) -> None:
    with pytest.raises(fields.FieldProblem, match=f"objectId is {kind}, expected an identifier"):
        fields.identifier(value, "objectId")


def test_identifiers_are_strings_or_integers_never_the_text_none() -> None:
    assert fields.identifier(27182818284, "objectId") == "27182818284"
    assert fields.identifier("cus_1", "id") == "cus_1"
    with pytest.raises(fields.FieldProblem, match="control characters"):
        fields.identifier("in_1\x00", "id")
    with pytest.raises(fields.FieldProblem, match="over 255"):
        fields.identifier("x" * 256, "id")


@pytest.mark.parametrize("value", [True, 1.0, "1793754153", None, -1, 10**30])
def test_epoch_seconds_must_be_an_integer_within_the_calendar(value: object) -> None:
    with pytest.raises(fields.FieldProblem, match="created"):
        fields.epoch_seconds(value, "created")


def test_epochs_read_as_aware_utc() -> None:
    assert fields.epoch_seconds(1793754153, "created") == datetime(
        2026, 11, 4, 1, 2, 33, tzinfo=UTC
    )  # date -u -d @1793754153
    assert fields.epoch_millis(1795186980512, "occurredAt") == datetime(
        2026, 11, 20, 15, 3, 0, 512000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("garbage", "not an ISO 8601 date and time"),
        ("2026-11-20T10:47:36", "no UTC offset"),
        (5, "is an integer"),
    ],
)
def test_iso_datetimes_need_their_offset(value: object, why: str) -> None:
    with pytest.raises(fields.FieldProblem, match=why) as refused:
        fields.iso_datetime(value, "LastModifiedDate")
    assert "garbage" not in str(refused.value)


def test_iso_datetimes_with_z_are_read() -> None:
    assert fields.iso_datetime("2026-11-20T10:47:36.000Z", "LastModifiedDate") == datetime(
        2026, 11, 20, 10, 47, 36, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("typed", "host"),
    [
        ("https://www.Acme.example/about?ref=crm", "acme.example"),
        ("acme.example", "acme.example"),
        ("http://user@acme.example:8080/", "acme.example"),
        ("WWW.ACME.EXAMPLE", "acme.example"),
        ("   ", None),
        (None, None),
        (42, None),
    ],
)
def test_a_typed_in_website_is_its_host(typed: object, host: str | None) -> None:
    assert fields.web_domain(typed) == host


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("12,500.005", "USD", "12500.01"),
        (12500, "JPY", "12500"),
        ("1.0005", "BHD", "1.001"),
        (0.125, "EUR", "0.13"),
    ],
)
def test_an_amount_is_rounded_half_up_to_the_currencys_minor_unit(
    value: object, currency: str, amount: str
) -> None:
    money = fields.money(value, currency, "Amount")
    assert money is not None and str(money.amount) == amount and money.currency == currency


@pytest.mark.parametrize("value", [True, "12 500,00 €", "", [1]])
def test_what_is_not_an_amount_is_refused_naming_the_field_not_the_value(value: object) -> None:
    with pytest.raises(fields.MappingProblem, match="Amount") as refused:
        fields.money(value, "USD", "Amount")
    assert "12 500" not in str(refused.value)


def test_project_ids_round_trip_and_a_hand_edited_field_counts_as_none() -> None:
    from pshub.connectors.crm import decode_project_ids, encode_project_ids

    text = encode_project_ids({"netsuite-acme": "5211", "kantata-acme": "27410001"})
    assert text == '{"kantata-acme":"27410001","netsuite-acme":"5211"}'
    assert decode_project_ids(text) == {"kantata-acme": "27410001", "netsuite-acme": "5211"}
    assert decode_project_ids("see ticket 42") == {} and decode_project_ids('["5211"]') == {}
    assert decode_project_ids('{"netsuite-acme": 5211, "kantata-acme": "1"}') == {"kantata-acme": "1"}
