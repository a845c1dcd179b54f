"""Tax and registration ids as typed, validated with their check digits and scoped to a country.

Valid numbers are the published examples of each scheme (python-stdnum's documentation,
the tax authorities' own examples); each invalid one changes one digit of a valid one.
"""

from __future__ import annotations

import pytest

from pshub.sync.identity import compact_id, is_placeholder, strong_ids


def keys(value: str, country: str | None = None) -> list[str]:
    return [sid.key for sid in strong_ids(value, country)]


@pytest.mark.parametrize(
    ("typed", "country", "expected"),
    [
        # EU VAT with its prefix: the prefix is the scope, whatever the record's country says
        ("DE 136 695 976", None, ["vat:DE:136695976"]),
        ("de136695976", "US", ["vat:DE:136695976"]),
        ("ATU13585627", None, ["vat:AT:U13585627"]),
        ("BE 0428.759.497", None, ["vat:BE:0428759497"]),
        ("EL 094259216", None, ["vat:GR:094259216"]),  # Greece's VAT prefix is EL
        # a French TVA number carries the SIREN; a SIRET is the SIREN plus an establishment
        ("FR 40 303 265 045", None, ["vat:FR:40303265045", "siren:FR:303265045"]),
        ("303 265 045", "FR", ["siren:FR:303265045"]),
        ("732 829 320 00074", "FR", ["siret:FR:73282932000074", "siren:FR:732829320"]),
        # UK VAT, with GB or Northern Ireland's XI prefix, and Companies House numbers
        ("GB 980 7806 84", None, ["vat:GB:980780684"]),
        ("XI 980 7806 84", None, ["vat:GB:980780684"]),
        ("09446231", "GB", ["crn:GB:09446231"]),
        ("SC123456", "GB", ["crn:GB:SC123456"]),
        # Switzerland: the VAT number is the UID with its language suffix
        ("CHE-116.281.710 MWST", None, ["vat:CH:CHE116281710", "uid:CH:CHE116281710"]),
        ("CHE-116.281.710 TVA", None, ["vat:CH:CHE116281710", "uid:CH:CHE116281710"]),
        # the US, Australia, Canada, India
        ("04-2103594", "US", ["ein:US:042103594"]),
        ("51 824 753 556", "AU", ["abn:AU:51824753556"]),
        ("123456782RT0001", "CA", ["bn:CA:123456782"]),  # a GST/HST account: the BN plus RT0001
        ("27AAPFU0939F1ZV", "IN", ["gstin:IN:27AAPFU0939F1ZV", "pan:IN:AAPFU0939F"]),
        ("69290251", "NL", ["kvk:NL:69290251"]),
    ],
)
def test_published_example_ids_are_strong_and_scoped(
    typed: str, country: str | None, expected: list[str]
) -> None:
    assert keys(typed, country) == expected


@pytest.mark.parametrize(
    ("typed", "country"),
    [
        ("DE136695977", None),  # check digit wrong
        ("FR 41 303 265 045", None),  # TVA key does not match the SIREN
        ("GB 980 7806 85", None),
        ("07-2103594", "US"),  # EINs have no check digit, but 07 is no IRS campus prefix
        ("51 824 753 557", "AU"),  # ABN checksum fails
        ("CHE-116.281.711", "CH"),
    ],
)
def test_an_id_failing_its_check_digits_is_no_strong_id(typed: str, country: str | None) -> None:
    assert keys(typed, country) == []


def test_a_bare_number_without_a_country_is_no_strong_id() -> None:
    # 042103594 is a valid EIN in the US; with no country it could be anything anywhere
    assert keys("04-2103594") == []


def test_the_same_number_in_two_countries_is_two_ids() -> None:
    assert set(keys("69290251", "NL")).isdisjoint(keys("69290251", "GB"))


@pytest.mark.parametrize(
    "typed",
    ["N/A", "n.a.", "none", "NONE", "null", "-", "--", "0", "000000000", "00-0000000", "999999999", "pending",
     "Pending", "TBD", "tba", "unknown", "applied for", "Not applicable", "xxxxxxx", "123456789", "   "],
)  # fmt: skip
def test_placeholders_are_no_id_at_all(typed: str) -> None:
    assert is_placeholder(typed)
    assert compact_id(typed) is None
    assert keys(typed, "US") == []
    assert keys(typed, "GB") == []


def test_compact_id_is_the_id_as_typed_without_punctuation() -> None:
    assert compact_id(" de 136-695.976 ") == "DE136695976"
