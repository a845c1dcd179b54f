"""Canonical project and rate card <-> Kantata workspace JSON, with realistic and messy data.

Expectations come from the Kantata OX specification (field names, ``price`` in whole base
units, ``rate`` and ``*_in_cents`` in subunits, int32 integers, the side-loaded answer)
and from pshub's rules (the code leads the title, one descriptor per project)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from pshub.canonical.model import Money, Rate, RateCard
from pshub.platforms.kantata import mapping
from pshub.platforms.kantata.mapping import MappingError
from tests.unit.connectors.builders import project, rate_card, usd


def held_workspace(body: dict[str, object], workspace_id: str = "27410001") -> dict[str, object]:
    """A workspace as Kantata answers for ``body``: the fields the spec's Workspace schema names."""
    sent = dict(body["workspace"])  # type: ignore[call-overload]
    base_unit = 100
    return {
        "id": workspace_id,
        "title": sent["title"],
        "currency": sent["currency"],
        "price": f"{sent['price']}.00",
        "price_in_cents": sent["price"] * base_unit,
        "start_date": sent.get("start_date"),
        "due_date": sent.get("due_date"),
        "archived": False,
    }


# -- titles -------------------------------------------------------------------------------------
def test_the_title_leads_with_the_project_code() -> None:
    assert mapping.title_for("PRJ-HARB-0001", "Data Platform Assessment") == (
        "PRJ-HARB-0001 - Data Platform Assessment"
    )
    assert mapping.title_marks("PRJ-HARB-0001 - Data Platform Assessment", "PRJ-HARB-0001")
    assert not mapping.title_marks("PRJ-HARB-00011 - Other", "PRJ-HARB-0001")
    assert not mapping.title_marks("prj-harb-0001 - lower case", "PRJ-HARB-0001")


def test_non_ascii_names_are_kept_and_whitespace_is_tidied() -> None:
    dash = "\u2013"  # an en dash, as pasted from a proposal
    name = f"  Données\tpublic  {dash}\n東京 Øresund\u00a0 "
    title = mapping.title_for("PRJ-TOKY-0042", name)
    assert title == f"PRJ-TOKY-0042 - Données public {dash} 東京 Øresund"
    assert mapping.name_from_title(title, "PRJ-TOKY-0042") == f"Données public {dash} 東京 Øresund"


def test_a_long_name_is_shortened_to_the_title_limit_and_the_code_survives() -> None:
    long_name = "Enterprise data platform modernisation " * 10  # 390 characters
    title = mapping.title_for("PRJ-HARB-0001", long_name)
    assert len(title) == mapping.TITLE_LIMIT == 255
    assert title.startswith("PRJ-HARB-0001 - Enterprise data platform") and title.endswith("…")
    # the read-back of a shortened title compares equal to what was asked
    requested = mapping.requested_content(project(name=long_name), "TPL-CONSULT")
    assert requested["name"] == mapping.name_from_title(title, "PRJ-HARB-0001")


def test_codes_kantata_cannot_key_are_refused() -> None:
    with pytest.raises(MappingError, match="longer than a Kantata title"):
        mapping.title_for("P" * 256, "x")
    for code in ("PRJ-1,PRJ-2", " PRJ-1", ""):
        with pytest.raises(MappingError, match="cannot be used as a Kantata external reference"):
            mapping.check_code(code)


def test_an_empty_name_leaves_the_code_as_the_title() -> None:
    assert mapping.title_for("PRJ-HARB-0001", " \n ") == "PRJ-HARB-0001"
    assert mapping.name_from_title("PRJ-HARB-0001", "PRJ-HARB-0001") == ""


# -- money ----------------------------------------------------------------------------------------
def test_rates_are_subunits_per_the_currency() -> None:
    assert mapping.subunits(usd("185.00")) == 18500  # cents for USD
    assert mapping.subunits(Money(amount=Decimal("9500"), currency="JPY")) == 9500  # no subunit
    assert mapping.subunits(Money(amount=Decimal("12.125"), currency="BHD")) == 12125  # fils
    assert mapping.from_subunits(18500, "USD") == usd("185.00")


def test_budgets_are_whole_base_units_rounded_half_up() -> None:
    assert mapping.whole_units(usd("12500.00")) == 12500
    assert mapping.whole_units(usd("12500.50")) == 12501
    assert mapping.whole_units(usd("12500.49")) == 12500


def test_amounts_beyond_int32_are_refused() -> None:
    with pytest.raises(MappingError, match="int32 subunits"):
        mapping.subunits(usd("21474836.48"))  # 2**31 cents
    with pytest.raises(MappingError, match="int32 base units"):
        mapping.whole_units(usd("2147483648.00"))


# -- the workspace body ---------------------------------------------------------------------------------
def test_workspace_body_carries_template_currency_budget_dates_and_the_reference() -> None:
    body = mapping.workspace_body(
        project(start_date=date(2027, 1, 4), end_date=date(2027, 6, 30)), 801, "TPL-CONSULT", "USD"
    )
    workspace = body["workspace"]
    assert workspace["title"] == "PRJ-HARB-0001 - Data Platform Assessment"
    assert workspace["project_tracker_template_id"] == 801
    assert workspace["creator_role"] == "consultant"
    assert (workspace["budgeted"], workspace["currency"], workspace["price"]) == (True, "USD", 12500)
    assert (workspace["start_date"], workspace["due_date"]) == ("2027-01-04", "2027-06-30")
    assert workspace["project_template_start_date"] == "2027-01-04"
    reference = workspace["external_reference"]
    assert {k: reference[k] for k in ("service_name", "service_model", "service_model_ref")} == {
        "service_name": "pshub",
        "service_model": "project",
        "service_model_ref": "PRJ-HARB-0001",
    }


def test_a_project_without_budget_or_dates_still_gets_its_currency() -> None:
    workspace = mapping.workspace_body(project(budget=None), 801, "TPL-CONSULT", "EUR")["workspace"]
    assert (workspace["budgeted"], workspace["currency"], workspace["price"]) == (True, "EUR", 0)
    assert "start_date" not in workspace and "due_date" not in workspace


def test_the_descriptor_holds_identifiers_only() -> None:
    text = mapping.descriptor_for(project(contract_id="contract_9"), "TPL-CONSULT")
    facts = json.loads(text)
    assert facts == {
        "v": 1,
        "id": "project_PRJ-HARB-0001",
        "client_id": "client_1",
        "contract_id": "contract_9",
        "legal_entity": "ACME-US",
        "service_line": "consulting",
        "template": "TPL-CONSULT",
        "dimensions": {"legal_entity": "ACME-US", "service_line": "CON", "department": "D-100"},
    }
    assert "12500" not in text  # no money in Kantata's integration message
    assert mapping.read_descriptor(text) == facts
    for junk in (None, "", "synced by hand", "{not json", '{"v": 2}', "[1]"):
        assert mapping.read_descriptor(junk) is None


# -- answers -------------------------------------------------------------------------------------------
def test_side_loaded_answers_are_read_through_results_in_order() -> None:
    document = {
        "count": 2,
        "results": [{"key": "workspaces", "id": "7"}, {"key": "workspaces", "id": "5"}],
        "workspaces": {"5": {"title": "B"}, "7": {"id": "7", "title": "A"}, "9": {"title": "side"}},
        "external_references": {"31": {"service_name": "pshub"}},
        "meta": {"count": 2, "page_count": 1, "page_number": 1, "page_size": 20},
    }
    assert [(w["id"], w["title"]) for w in mapping.records(document, "workspaces")] == [
        ("7", "A"),
        ("5", "B"),
    ]
    assert mapping.records(document, "users") == []
    assert mapping.side_loaded(document, "external_references", ["31", "32"]) == [
        {"service_name": "pshub", "id": "31"}
    ]
    assert mapping.records("not a document", "workspaces") == []


def test_what_kantata_holds_compares_equal_to_what_was_sent() -> None:
    sent = project(start_date=date(2027, 1, 4), budget=usd("12500.40"))
    workspace = held_workspace(mapping.workspace_body(sent, 801, "TPL-CONSULT", "USD"))
    facts = mapping.read_descriptor(mapping.descriptor_for(sent, "TPL-CONSULT"))
    held = mapping.held_content(workspace, sent.code, facts)
    assert mapping.differing_fields(held, mapping.requested_content(sent, "TPL-CONSULT")) == ()


def test_differences_are_named_by_canonical_field() -> None:
    sent = project()
    workspace = held_workspace(mapping.workspace_body(sent, 801, "TPL-CONSULT", "USD"))
    facts = mapping.read_descriptor(mapping.descriptor_for(sent, "TPL-CONSULT"))
    held = mapping.held_content(workspace, sent.code, facts)
    other = project(name="Another name", budget=usd("9000"), client_id="client_2")
    assert mapping.differing_fields(held, mapping.requested_content(other, "TPL-MSP")) == (
        "budget",
        "client_id",
        "name",
        "template",
    )
    # a workspace found by its title alone is compared on the fields it holds
    title_only = mapping.held_content(workspace, sent.code, None)
    assert mapping.differing_fields(title_only, mapping.requested_content(other, "TPL-MSP")) == (
        "budget",
        "name",
    )


def test_a_workspace_and_its_descriptor_rebuild_the_project() -> None:
    sent = project(start_date=date(2027, 1, 4), end_date=date(2027, 6, 30), contract_id="contract_9")
    workspace = held_workspace(mapping.workspace_body(sent, 801, "TPL-CONSULT", "USD"))
    facts = mapping.read_descriptor(mapping.descriptor_for(sent, "TPL-CONSULT"))
    assert facts is not None
    rebuilt = mapping.project_from(workspace, sent.code, facts, "kantata-acme")
    assert rebuilt.external_ids == {"kantata-acme": "27410001"}
    exclude = {"status", "external_ids"}
    assert rebuilt.model_dump(exclude=exclude) == sent.model_dump(exclude=exclude)


def test_archive_reasons_and_repeated_roles() -> None:
    assert mapping.archive_reason({"external_status": "archived: provisioning abandoned"}) == (
        "provisioning abandoned"
    )
    assert mapping.archive_reason({"external_status": "active"}) is None
    assert mapping.archive_reason(None) is None
    card = rate_card().model_copy(
        update={"rates": [*rate_card().rates, Rate(role="Consultant ", hourly_rate=usd("190.00"))]}
    )
    assert mapping.repeated_roles(card) == ["Consultant"]
    assert mapping.repeated_roles(rate_card()) == []


def test_a_pushed_rate_card_is_read_back_from_its_reference_and_rates() -> None:
    pushed = rate_card(Consultant="185.00", Analyst="125.00")
    reference = {"service_model_ref": pushed.id, "external_message": mapping.rate_card_descriptor(pushed)}
    rebuilt = mapping.rate_card_from(reference, "USD", {"Consultant": 18500, "Analyst": 12500})
    assert isinstance(rebuilt, RateCard)
    assert rebuilt.model_dump(exclude={"rates"}) == pushed.model_dump(exclude={"rates"})
    assert {r.role: r.hourly_rate for r in rebuilt.rates} == {r.role: r.hourly_rate for r in pushed.rates}
    assert mapping.rate_card_from(reference, "USD", {}) is None
    assert mapping.rate_card_from({"external_message": "hand made"}, "USD", {"Analyst": 1}) is None
