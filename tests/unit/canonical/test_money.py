"""Money at the canonical boundary: ISO 4217 codes in use, the currency's minor units, finite magnitudes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from pshub.canonical.currencies import CURRENCIES, currency, minor_unit
from pshub.canonical.envelope import InvoicePaymentV1
from pshub.canonical.model import MAX_MINOR_UNITS, Money, amounts_beyond


@pytest.mark.parametrize(
    ("code", "digits", "numeric"),
    # Facts of ISO 4217 (SIX's list), not of the table: yen and won have no minor unit, the Gulf
    # dinars three, the Chilean and Uruguayan units of account four.
    [("USD", 2, "840"), ("EUR", 2, "978"), ("JPY", 0, "392"), ("KRW", 0, "410"), ("BHD", 3, "048"),
     ("KWD", 3, "414"), ("TND", 3, "788"), ("CLF", 4, "990"), ("UYW", 4, "927"), ("ISK", 0, "352"),
     ("XOF", 0, "952"), ("GBP", 2, "826"), ("INR", 2, "356")],
)  # fmt: skip
def test_iso_4217_minor_units(code: str, digits: int, numeric: str) -> None:
    assert currency(code).minor_unit == digits
    assert currency(code.lower()).numeric == numeric


@pytest.mark.parametrize(
    "code",
    ["ZZZ", "zzz", "HRK", "XAU", "XTS", "XXX", "US", "USDX", "", "\uff35\uff33\uff24", "usd "],
    ids=["unknown", "unknown-lower", "withdrawn-kuna", "gold", "testing-code", "no-currency", "two-letters",
         "four-letters", "empty", "fullwidth", "trailing-space"],
)  # fmt: skip
def test_codes_that_are_not_money_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 4217 currency code in use"):
        currency(code)
    with pytest.raises(ValidationError):
        Money(amount=Decimal(1), currency=code)


def test_the_table_holds_the_currencies_in_use() -> None:
    # ISO 4217 lists about 180 codes; with metals, funds codes without minor units and XTS/XXX left out, ~165
    assert 150 <= len(CURRENCIES) <= 190
    assert minor_unit("usd") == Decimal("0.01") and minor_unit("JPY") == Decimal(1)


@pytest.mark.parametrize(
    ("amount", "code", "held"),
    [("12.5", "usd", "12.50"), ("1000.00", "JPY", "1000"), ("1.234", "KWD", "1.234"), ("-40", "EUR", "-40.00"),
     ("0E-400", "USD", "0.00"), ("90071992547409.91", "USD", "90071992547409.91")],
)  # fmt: skip
def test_amounts_are_held_in_the_currencys_minor_units(amount: str, code: str, held: str) -> None:
    money = Money(amount=Decimal(amount), currency=code)
    assert str(money.amount) == held
    assert money.model_dump(mode="json")["amount"] == held


@pytest.mark.parametrize(
    ("amount", "code", "why"),
    [
        ("0.125", "USD", "more decimal places than USD's 2"),
        ("10.5", "JPY", "more decimal places than JPY's 0"),
        ("1E-400", "USD", "more decimal places"),
        ("1E+400", "USD", f"beyond {MAX_MINOR_UNITS} minor units"),
        ("90071992547409.92", "USD", "beyond"),  # one cent over 2**53 - 1 cents
        ("-1E+30", "EUR", "beyond"),
        ("NaN", "USD", "finite number"),
        ("Infinity", "USD", "finite number"),
        ("-Infinity", "USD", "finite number"),
    ],
)
def test_amounts_no_currency_can_hold_are_refused(amount: str, code: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why) as refused:
        Money(amount=amount, currency=code)
    # and the message never repeats what was refused
    assert "input_value" not in str(refused.value)


def test_validation_errors_never_quote_the_input() -> None:
    with pytest.raises(ValidationError) as refused:
        Money(amount="12.00", currency="GB82WEST12345698765432")
    assert "GB82WEST12345698765432" not in str(refused.value)


def test_amounts_owed_and_paid_are_never_negative() -> None:
    usd = {"amount": "0", "currency": "USD"}
    with pytest.raises(ValidationError, match="amount is negative"):
        InvoicePaymentV1(
            invoice_id="in_1", status="paid", amount_due=usd, amount_paid={"amount": "-5", "currency": "USD"},
            amount_remaining=usd,
        )  # fmt: skip


def test_amounts_beyond_a_ceiling_are_found_wherever_they_are_in_a_payload() -> None:
    payload = {
        "amount": {"amount": "2000000000000.00", "currency": "USD"},
        "lines": [
            {"price": {"amount": "10.00", "currency": "USD"}},
            {"price": {"amount": "-3E+12", "currency": "EUR"}},
        ],
        "properties": {"amount": "9" * 40},  # a plain property, not money
    }
    assert amounts_beyond(payload, Decimal("1000000000000")) == ["amount", "lines[1].price"]
    assert amounts_beyond(payload, Decimal("1E+13")) == []
