"""The match decision on records of the kind real firms hold.

Each example is two records a firm could have in two systems, and what a careful data
steward would call them: the same legal customer (link), perhaps the same (possible
duplicate, for a person), or two companies (new).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pshub.sync.identity import ClientFacts, ClientProfile, decide, profile


def known(**facts: object) -> dict[str, ClientProfile]:
    return {"client_known": profile(ClientFacts(**facts))}  # type: ignore[arg-type]


def outcome(incoming: dict[str, object], existing: dict[str, object]) -> str:
    decision = decide(profile(ClientFacts(**incoming)), known(**existing))  # type: ignore[arg-type]
    return decision.outcome


LINKS = [
    pytest.param(
        {"name": "Müller Beratung GmbH", "country": "DE", "tax_ids": ("DE 136 695 976",)},
        {"name": "Mueller Beratung", "country": "DE", "tax_ids": ("de136695976",)},
        id="same VAT number typed two ways",
    ),
    pytest.param(
        {
            "name": "Société Générale d'Ingénierie",
            "country": "FR",
            "registration_ids": ("732 829 320 00074",),
        },
        {"name": "Societe Generale d'Ingenierie SAS", "country": "FR", "tax_ids": ("FR 44 732 829 320",)},
        id="a SIRET and a TVA number of one SIREN",
    ),
    pytest.param(
        {
            "name": "Harbourline Logistics Inc.",
            "country": "US",
            "web_domain": "https://www.harbourline.example/",
        },
        {"name": "HARBOURLINE LOGISTICS", "country": "US", "emails": ("ap@harbourline.example",)},
        id="same name, website and contact's email domain, same country",
    ),
    pytest.param(
        {"name": "Fabrikam Pty Ltd", "country": "AU", "tax_ids": ("51 824 753 556",)},
        {"name": "Fabrikam Proprietary Limited", "country": "AU", "tax_ids": ("51824753556",)},
        id="same ABN",
    ),
]


@pytest.mark.parametrize(("incoming", "existing"), LINKS)
def test_proven_matches_link(incoming: dict[str, object], existing: dict[str, object]) -> None:
    assert outcome(incoming, existing) == "link"


POSSIBLE = [
    pytest.param(
        {"name": "Contoso Consulting Ltd", "country": "GB", "web_domain": "contoso.example"},
        {"name": "Contoso Consulting Ltd", "country": "IE", "web_domain": "contoso.example"},
        id="subsidiary: same name and domain in another country",
    ),
    pytest.param(
        {"name": "Contoso Consulting Ltd", "country": "GB", "registration_ids": ("09446231",)},
        {"name": "Contoso Consulting Ltd", "country": "GB", "registration_ids": ("SC123456",)},
        id="same name, another Companies House number",
    ),
    pytest.param(
        {"name": "Northwind Traders", "country": "US", "web_domain": "northwind.example"},
        {"name": "Northwnid Traders", "country": "US"},
        id="a typo in the name",
    ),
    pytest.param(
        {"name": "Adatum", "country": "NL"},
        {"name": "Adatum B.V.", "country": "NL", "web_domain": "adatum.example"},
        id="a missing suffix and no domain to prove it",
    ),
    pytest.param(
        {"name": "Litware Inc", "web_domain": "litware.example"},
        {"name": "Litware Inc", "web_domain": "litware.example"},
        id="same name and domain, countries unknown",
    ),
    pytest.param(
        {"name": "Tailspin Toys", "country": "DE", "tax_ids": ("DE136695976",)},
        {"name": "Blue Yonder Airlines", "country": "DE", "tax_ids": ("DE136695976",)},
        id="a shared VAT number under names with nothing in common",
    ),
    pytest.param(
        {"name": "Wide World Importers", "country": "US", "web_domain": "wwi.example"},
        {"name": "Wingtip Toys", "country": "US", "web_domain": "wwi.example"},
        id="same website, other name",
    ),
]


@pytest.mark.parametrize(("incoming", "existing"), POSSIBLE)
def test_uncertain_matches_go_to_a_person(incoming: dict[str, object], existing: dict[str, object]) -> None:
    assert outcome(incoming, existing) == "possible_duplicate"


NEW = [
    pytest.param(
        {"name": "Acme Consulting", "country": "GB", "tax_ids": ("N/A",)},
        {"name": "Globex Corporation", "country": "GB", "tax_ids": ("n/a",)},
        id="the same placeholder id is no evidence",
    ),
    pytest.param(
        {"name": "Initech", "country": "US", "emails": ("jo@gmail.com",)},
        {"name": "Umbrella Corp", "country": "US", "emails": ("sam@gmail.com",)},
        id="two free-mail addresses are no evidence",
    ),
    pytest.param(
        {"name": "Acme Consulting", "country": "US"},
        {"name": "Acme Logistics", "country": "US"},
        id="a shared first word only",
    ),
    pytest.param(
        {"name": "Proseware", "country": "NL", "registration_ids": ("69290251",)},
        {"name": "Fourth Coffee", "country": "GB", "registration_ids": ("69290251",)},
        id="the same digits in two countries' registers",
    ),
]


@pytest.mark.parametrize(("incoming", "existing"), NEW)
def test_nothing_in_common_is_a_new_client(incoming: dict[str, object], existing: dict[str, object]) -> None:
    assert outcome(incoming, existing) == "new"


def test_a_conflicting_strong_id_never_links_whatever_the_names_say() -> None:
    incoming = profile(ClientFacts(name="Contoso Ltd", country="DE", web_domain="contoso.example",
                                   tax_ids=("DE136695976",), registration_ids=()))  # fmt: skip
    other = profile(ClientFacts(name="Contoso Ltd", country="DE", web_domain="contoso.example",
                                tax_ids=("DE 129 273 398",)))  # fmt: skip
    decision = decide(incoming, {"client_other": other})
    assert decision.outcome == "possible_duplicate"
    assert decision.to_dict()["evidence"]["client_other"] == {
        "for": ["same legal name", "same website domain contoso.example"],
        "against": ["different VAT (DE)"],
    }


def test_two_clients_that_would_both_link_are_a_possible_duplicate() -> None:
    facts = ClientFacts(name="Litware Inc", country="US", web_domain="litware.example")
    decision = decide(profile(facts), {"client_a": profile(facts), "client_b": profile(facts)})
    assert decision.outcome == "possible_duplicate"
    assert set(decision.candidates) == {"client_a", "client_b"}


def test_the_evidence_names_ids_by_scheme_and_last_digits_only() -> None:
    facts = ClientFacts(name="Müller GmbH", country="DE", tax_ids=("DE136695976",))
    decision = decide(profile(facts), {"client_m": profile(facts)})
    assert decision.outcome == "link"
    assert decision.to_dict()["evidence"]["client_m"]["for"][0] == "same VAT (DE) ending 5976"
    assert "136695976" not in str(decision.to_dict())


def test_profiles_round_trip_through_their_stored_form() -> None:
    p = profile(ClientFacts(name="Ålborg Rådgivning ApS", country="dk", web_domain="www.ålborg.example",
                            emails=("x@gmail.com", "y@aalborg.example")))  # fmt: skip
    assert ClientProfile.from_dict(p.to_dict()) == p
    assert p.country == "DK"
    # (the standard library's IDNA 2003 codec agrees with IDNA 2008 on this name)
    assert p.domains == ("ålborg.example".encode("idna").decode(), "aalborg.example")


# -- properties: whatever the rest of the record says -------------------------------------
countries = st.sampled_from(["GB", "IE", "DE", "FR", "US", None])
names = st.sampled_from(["Contoso Ltd", "Contoso Limited", "CONTOSO", "Contoso Group", "Kontoso", "Fabrikam"])
domains = st.sampled_from(["contoso.example", "www.contoso.example", None, "fabrikam.example"])
vats = st.sampled_from([(), ("DE136695976",), ("DE129273398",), ("GB980780684",), ("N/A",)])
records = st.builds(ClientFacts, name=names, country=countries, web_domain=domains, tax_ids=vats)


@given(records, records)
def test_never_links_across_countries_or_conflicting_ids(a: ClientFacts, b: ClientFacts) -> None:
    pa, pb = profile(a), profile(b)
    decision = decide(pa, {"client_b": pb})
    if decision.outcome != "link":
        return
    # a link is never across two known countries ...
    assert not (pa.country and pb.country and pa.country != pb.country)
    for ours in pa.ids():  # ... nor between two different ids of one scheme and country
        assert all(
            theirs == ours
            for theirs in pb.ids()
            if (theirs.scheme, theirs.country) == (ours.scheme, ours.country)
        )
    assert set(pa.ids()) & set(pb.ids()) or (
        set(pa.names) & set(pb.names) and set(pa.domains) & set(pb.domains)
    )


@given(records, records)
def test_the_decision_is_the_same_whichever_record_came_first(a: ClientFacts, b: ClientFacts) -> None:
    assert decide(profile(a), {"x": profile(b)}).outcome == decide(profile(b), {"x": profile(a)}).outcome
