"""ISO 4217: which currency codes are money, and how many minor units each has.

The table is ``data/iso4217.csv`` (currencies in use, from the ISO list; see
``data/README.md`` for its source and licence). A code outside it (``ZZZ``, a withdrawn
currency such as ``HRK``, a metal such as ``XAU``) is not a currency an amount can be in.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple


class Currency(NamedTuple):
    code: str
    numeric: str
    minor_unit: int  # digits after the decimal point: JPY 0, USD 2, BHD 3, CLF 4
    name: str


def _load() -> dict[str, Currency]:
    path = Path(__file__).with_name("data") / "iso4217.csv"
    with path.open(encoding="utf-8", newline="") as file:
        return {
            row["code"]: Currency(row["code"], row["numeric"], int(row["minor_unit"]), row["name"])
            for row in csv.DictReader(file)
        }


CURRENCIES: dict[str, Currency] = _load()


def currency(code: str) -> Currency:
    """The ISO 4217 currency ``code`` names (case-insensitive); ValueError if it names none."""
    found = CURRENCIES.get(code.upper()) if isinstance(code, str) and code.isascii() else None
    if found is None:
        raise ValueError("is not an ISO 4217 currency code in use")
    return found


def minor_unit(code: str) -> Decimal:
    """The smallest amount of the currency: ``Decimal('0.01')`` for USD, ``Decimal('1')`` for JPY."""
    return Decimal(1).scaleb(-currency(code).minor_unit)
