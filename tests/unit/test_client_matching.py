"""Client duplicate detection: normalisation and the confident / ambiguous decision."""

from __future__ import annotations

from pshub.sync.client_matching import decide, match_keys, normalise_domain, normalise_name, normalise_tax_id


def test_names_domains_and_tax_ids_normalise_to_comparable_keys() -> None:
    assert (
        normalise_name("Acme Consulting Ltd.")
        == normalise_name("ACME CONSULTING LIMITED")
        == "acme consulting"
    )
    assert normalise_name("Müller & Söhne GmbH") == "muller and sohne"
    assert normalise_domain("https://www.Acme.example/about") == "acme.example"
    assert normalise_tax_id("gb 999 9999 73") == "GB999999973"
    assert match_keys(None, "", None) == {}


def test_a_single_tax_id_match_is_confident() -> None:
    decision = decide({"tax_id": {"c1"}, "name": {"c1"}})
    assert decision.link_to == "c1" and not decision.ambiguous


def test_name_and_domain_of_the_same_client_is_confident() -> None:
    assert decide({"name": {"c2"}, "domain": {"c2"}}).link_to == "c2"


def test_partial_or_conflicting_evidence_is_ambiguous_and_names_every_candidate() -> None:
    assert decide({"name": {"c3"}}).candidates == {"c3"}
    conflicting = decide({"tax_id": {"c1"}, "domain": {"c2"}})
    assert conflicting.link_to is None and conflicting.candidates == {"c1", "c2"}


def test_no_evidence_is_a_new_client() -> None:
    decision = decide({})
    assert decision.link_to is None and not decision.ambiguous
