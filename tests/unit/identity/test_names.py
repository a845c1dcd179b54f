"""Legal names as real firms type them, across languages, legal forms and scripts."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pshub.sync.identity import normalise_name
from pshub.sync.identity.names import name_words

# Each row: spellings of one company's name met in CRMs, ERPs and billing systems.
SAME_COMPANY = [
    ("Acme Consulting Ltd.", "ACME CONSULTING LIMITED", "acme consulting"),
    ("Müller GmbH & Co. KG", "Mueller GmbH und Co KG", "Muller GmbH"),
    ("Société Générale S.A.", "Societe Generale SA", "SOCIÉTÉ GÉNÉRALE"),
    ("The Boston Consulting Group, Inc.", "Boston Consulting Group Inc", "Boston Consulting Group"),
    (
        "Tata Consultancy Services Private Limited",
        "Tata Consultancy Services Pvt. Ltd.",
        "Tata Consultancy Services",
    ),
    ("Fabrikam Pty Ltd", "Fabrikam (Pty) Ltd", "Fabrikam Proprietary Limited"),
    ("Oy Nordic Ab", "Nordic Oy", "Nordic Oy Ab"),
    ("Søren Rådgivning A/S", "Soeren Raadgivning AS", "Soren Radgivning A/S"),
    ("Łódź Software sp. z o.o.", "Lodz Software Sp. z o. o.", "ŁÓDŹ SOFTWARE"),
    ("Ñandú Servicios S.A. de C.V.", "Nandu Servicios SA de CV", "Ñandú Servicios"),
    ("Smith & Jones LLP", "Smith and Jones, L.L.P.", "Smith + Jones"),
    ("Contoso Ltée", "Contoso Ltd./Ltée", "Contoso Inc."),
    ("Helvetia Beratung AG", "Helvetia Beratung SA", "Helvetia Beratung AG/SA"),
    ("Straße Bau AG", "Strasse Bau AG", "STRASSE BAU"),
    ("O'Brien & Sons Ltd", "OBrien and Sons", "O’Brien & Sons"),
    ("L’Oréal S.A.", "L'Oreal SA", "LOreal"),
    ("ООО «Ромашка»", "Ромашка ООО", "ООО Ромашка"),
    ("株式会社トヨタ", "トヨタ株式会社", "トヨタ"),
    ("Koninklijke Philips N.V.", "Koninklijke Philips NV", "KONINKLIJKE PHILIPS"),
]


@pytest.mark.parametrize("spellings", SAME_COMPANY, ids=lambda row: row[0])
def test_every_spelling_of_one_legal_name_has_one_key(spellings: tuple[str, ...]) -> None:
    keys = {normalise_name(spelling) for spelling in spellings}
    assert len(keys) == 1, keys
    assert None not in keys


# Different companies whose names differ by what is not noise.
DIFFERENT = [
    ("Acme Holdings Ltd", "Acme Ltd"),  # a holding company and its operating company
    ("Northwind Traders", "Northwind Logistics"),
    ("Alpha Consulting GmbH", "Beta Consulting GmbH"),
    ("Acme Consulting", "Acme Consulting Group"),
    ("ООО Ромашка", "Romashka LLC"),  # another script is kept, not transliterated
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_names_that_differ_in_substance_keep_different_keys(a: str, b: str) -> None:
    assert normalise_name(a) != normalise_name(b)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Ελληνική Εταιρεία", "ελληνική εταιρεία"),  # Greek kept as Greek (casefolded)
        ("टाटा कंसल्टेंसी", "टाटा कंसल्टेंसी"),  # Devanagari with its vowel signs intact
        ("شركة أرامكو", "شركة أرامكو"),  # Arabic
        ("株式会社トヨタ", "トヨタ"),  # the legal form written without spaces, stripped
    ],
)
def test_names_in_other_scripts_keep_their_letters(name: str, key: str) -> None:
    assert normalise_name(name) == key


@pytest.mark.parametrize("name", ["Ltd", "Company Ltd", "GmbH", "The Company", "Inc."])
def test_a_name_that_is_all_legal_form_is_kept_not_lost(name: str) -> None:
    assert normalise_name(name)


@pytest.mark.parametrize("name", [None, "", "   ", "???", "&", "-"])
def test_no_name_is_no_key(name: str | None) -> None:
    assert normalise_name(name) is None


def test_display_words_keep_the_spelling() -> None:
    # the project code series reads these: "Harrow Books Ltd" keeps its double letters
    assert name_words("Harrow Books Ltd") == ["harrow", "books"]
    assert name_words("Müller GmbH") == ["muller"]


letters = st.characters(categories=["L"])
names = st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P"]), min_size=1, max_size=40).filter(
    lambda s: any(unicodedata.category(c).startswith("L") for c in s)
)


@given(names)
def test_a_name_with_a_letter_never_normalises_to_nothing(name: str) -> None:
    key = normalise_name(name)
    assert key
    assert key == key.strip()


@given(names, st.sampled_from(["Ltd", "Limited", "GmbH", "S.A.", "Inc.", "LLC", "B.V.", "Pty Ltd", "AG"]))
def test_a_legal_form_suffix_never_changes_the_key(name: str, form: str) -> None:
    base = normalise_name(name)
    if base is None or len(base.split()) < 1:
        return
    with_form = normalise_name(f"{name} {form}")
    # the form goes unless the name itself ends in legal-form words the key already dropped
    assert with_form == base or normalise_name(f"{base} {form}") == base


@given(names)
def test_the_key_ignores_case(name: str) -> None:
    assert (
        normalise_name(name.upper()) == normalise_name(name.lower()) or name.upper().lower() != name.lower()
    )
