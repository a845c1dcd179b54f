"""Canonical objects as NetSuite records and back, with realistic and messy data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from pshub.canonical.model import Address, BillingModel, ClientStatus, Milestone, TaxProfile
from pshub.connectors.http import ApiResponse
from pshub.platforms.netsuite import mapping
from pshub.platforms.netsuite.mapping import Refused, Setup
from pshub.platforms.netsuite.outbound import describe
from tests.unit.connectors.builders import client, contract, project, time_entry, usd

SETUP = Setup.of({"subsidiaries": "ACME-US=1,ACME-UK=3", "classes": "CON=4", "departments": "D-100=7"})


# -- ids and text ------------------------------------------------------------------------------------
def test_external_ids_keep_netsuites_alphabet_and_digest_anything_else() -> None:
    # NetSuite: an external ID may hold letters, numbers, underscore and hyphen
    assert mapping.external_id("client_1") == "client_1"
    assert mapping.external_id("PRJ-HARB-0001") == "PRJ-HARB-0001"
    for odd in ("hubspot-acme:client:123", "café", "x" * 65, "a|b"):
        digest = mapping.external_id(odd)
        assert digest.startswith("h-") and len(digest) == 42 and digest == mapping.external_id(odd)
    assert mapping.external_id("a:b") != mapping.external_id("a:c")


def test_text_is_one_line_without_control_characters_and_within_the_limit() -> None:
    assert mapping.clean_text("  Müller\t&\nSöhne\x00 GmbH  ", 83) == "Müller & Söhne GmbH"
    assert mapping.clean_text("   ", 83) is None and mapping.clean_text(None, 83) is None
    assert mapping.clean_text("株式会社" * 30, 83) == ("株式会社" * 30)[:83]


def test_suiteql_literals_escape_quotes() -> None:
    assert mapping.sql_literal("O'Brien") == "'O''Brien'"


def test_the_new_id_is_read_from_the_location_header() -> None:
    # NetSuite: "The URL of the newly created record is given in the Location header"
    location = "https://demo123.suitetalk.api.netsuite.com/services/rest/record/v1/customer/647"
    assert mapping.native_id_from_location(location) == "647"
    assert mapping.native_id_from_location(None) is None
    assert mapping.native_id_from_location("https://x/record/v1/customer/eid:abc") is None


def test_a_dimension_list_option_must_pair_values_with_internal_ids() -> None:
    with pytest.raises(ValueError, match="'CON' is not VALUE=INTERNAL_ID"):
        Setup.of({"classes": "CON"})
    with pytest.raises(ValueError, match="not VALUE=INTERNAL_ID"):
        Setup.of({"classes": "CON=consulting"})
    assert SETUP.classes.id_for("CON", "x") == "4" and SETUP.classes.id_for("12", "x") == "12"
    assert SETUP.classes.value_for("4") == "CON" and SETUP.classes.value_for("12") == "12"
    with pytest.raises(Refused, match="option classes") as caught:
        SETUP.classes.id_for("MSP", "dimensions.service_line")
    assert caught.value.field == "dimensions.service_line"


# -- customers ---------------------------------------------------------------------------------------
def test_a_customer_with_every_field() -> None:
    body = mapping.customer_body(
        client(
            name="Société Générale d'Ingénierie \u2013 Zürich",
            legal_name="Société Générale d'Ingénierie SA",
            web_domain="https://www.SGI.example/en/",
            status=ClientStatus.INACTIVE,
            billing_address=Address(
                line1="12 Rue de l'Église", city="Genève", postal_code="1204", country="ch"
            ),
            tax_profile=TaxProfile(tax_id="CHE-123.456.789", jurisdiction="CH-GE"),
        ),
        SETUP,
        client_ids=["client_1", "hubspot:company:9"],
    )
    assert body == {
        "companyName": "Société Générale d'Ingénierie \u2013 Zürich",
        "legalName": "Société Générale d'Ingénierie SA",
        "isPerson": False,
        "subsidiary": {"id": "1"},
        "url": "https://sgi.example",
        "vatRegNumber": "CHE-123.456.789",
        "isInactive": True,
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "defaultShipping": False,
                    "label": "Billing",
                    "addressBookAddress": {
                        "addr1": "12 Rue de l'Église",
                        "city": "Genève",
                        "zip": "1204",
                        "country": {"id": "CH"},
                    },
                }
            ]
        },
        mapping.CLIENT_IDS: f",client_1,{mapping.external_id('hubspot:company:9')},",
        mapping.NAME_KEY: "societe generale dingenierie zurich",
        mapping.TAX_KEY: "CHE123456789",
        mapping.TAX_JURISDICTION: "CH-GE",
    }


def test_a_customer_with_only_what_is_required_leaves_the_rest_out() -> None:
    body = mapping.customer_body(
        client(tax_profile=TaxProfile(jurisdiction="US-NY"), currency=None), SETUP, client_ids=["client_1"]
    )
    assert set(body) == {
        "companyName", "isPerson", "subsidiary", "isInactive",
        mapping.CLIENT_IDS, mapping.NAME_KEY, mapping.TAX_JURISDICTION,
    }  # fmt: skip


def test_a_long_name_is_truncated_but_a_long_tax_id_is_refused() -> None:
    long_name = (
        "Harbourline Logistics and Warehousing Services of the Greater Metropolitan Area Holdings Inc."
    )
    body = mapping.customer_body(client(name=long_name), SETUP, client_ids=["client_1"])
    assert body["companyName"] == long_name[:83]
    with pytest.raises(Refused) as caught:
        mapping.customer_body(
            client(tax_profile=TaxProfile(tax_id="X" * 21, jurisdiction="US-NY")), SETUP, client_ids=["c"]
        )
    assert caught.value.field == "tax_profile.tax_id"


def test_the_client_ids_field_keeps_the_first_id_within_300_characters() -> None:
    ids = [f"client_{i:04d}_with_a_long_suffix" for i in range(20)]
    value = mapping.client_ids_field(ids)
    assert len(value) <= 300 and value.startswith(",client_0000_with_a_long_suffix,") and value.endswith(",")
    assert "client_0019_with_a_long_suffix" in value  # the newest kept


def test_a_customer_is_matched_by_client_id_then_tax_id_then_name() -> None:
    rows = [
        {"id": "1", "externalid": "client_a", mapping.TAX_KEY: "111", mapping.NAME_KEY: "acme"},
        {
            "id": "2",
            "externalid": "client_b",
            mapping.CLIENT_IDS: ",client_b,client_c,",
            mapping.TAX_KEY: "222",
        },
        {"id": "3", "externalid": "client_d", mapping.NAME_KEY: "harbourline logistics"},
    ]
    assert mapping.choose_customer(rows, client_id="client_c", tax="111", names=[])["id"] == "2"
    assert mapping.choose_customer(rows, client_id="client_x", tax="111", names=[])["id"] == "1"
    assert (
        mapping.choose_customer(rows, client_id=None, tax=None, names=["harbourline logistics"])["id"] == "3"
    )
    # a namesake with its own tax registration is another company
    assert mapping.choose_customer(rows, client_id=None, tax="999", names=["acme"]) is None


def test_a_customer_read_back_is_a_client() -> None:
    record = {
        "id": "1841",
        "externalId": "client_1",
        "companyName": "Harbourline Logistics Inc.",
        "subsidiary": {"id": "3", "refName": "ACME UK Ltd", "links": []},
        "url": "https://harbourline.example",
        "vatRegNumber": "GB123456789",
        mapping.TAX_JURISDICTION: "GB",
        "isInactive": False,
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "addressBookAddress": {"addr1": "1 Dock Rd", "country": {"id": "GB"}},
                }
            ]
        },
    }
    found = mapping.client_from_customer(record, SETUP, client_id="client_1", connection_id="netsuite-acme")
    assert found.legal_entity == "ACME-UK" and found.web_domain == "harbourline.example"
    assert found.tax_profile == TaxProfile(tax_id="GB123456789", jurisdiction="GB")
    assert found.billing_address == Address(line1="1 Dock Rd", country="GB")
    assert found.external_ids == {"netsuite-acme": "1841"}


# -- projects ----------------------------------------------------------------------------------------
def test_a_project_is_a_job_keyed_by_its_code() -> None:
    body = mapping.job_body(project(start_date=date(2026, 12, 1)), SETUP, customer_id="1841")
    assert body == {
        "entityId": "PRJ-HARB-0001",
        "companyName": "Data Platform Assessment",
        "parent": {"id": "1841"},
        "subsidiary": {"id": "1"},
        "class": {"id": "4"},
        "department": {"id": "7"},
        "startDate": "2026-12-01",
        "isInactive": False,
        mapping.PROJECT_ID: "project_PRJ-HARB-0001",
        mapping.PROJECT_CLIENT_ID: "client_1",
        mapping.LEGAL_ENTITY: "ACME-US",
        mapping.SERVICE_LINE: "consulting",
        mapping.BUDGET: "12500.00 USD",
    }


def test_a_code_beyond_the_entity_id_limit_is_refused_not_cut() -> None:
    with pytest.raises(Refused) as caught:
        mapping.job_body(project("PRJ-" + "X" * 80), SETUP, customer_id="1")
    assert caught.value.field == "code"
    body = mapping.job_body(project(name="Ä" * 200), SETUP, customer_id="1")
    assert body["companyName"] == "Ä" * 83


def test_job_content_reads_a_returned_job_as_the_body_it_came_from() -> None:
    body = mapping.job_body(project(), SETUP, customer_id="1841")
    returned = {
        **body,
        "id": "5211",
        "links": [{"rel": "self", "href": "https://x/record/v1/job/5211"}],
        "subsidiary": {"id": "1", "refName": "ACME US Inc", "links": []},
        "class": {"id": "4", "refName": "Consulting", "links": []},
        "department": {"id": "7", "refName": "Delivery", "links": []},
        "startDate": None,
    }
    assert mapping.job_content(returned, SETUP) == mapping.job_content(body, SETUP)
    rebuilt = mapping.project_from_job(returned, SETUP, connection_id="netsuite-acme")
    original = project()
    assert mapping.business_content(rebuilt) == mapping.business_content(original)
    assert rebuilt.external_ids == {"netsuite-acme": "5211"}


def test_a_job_made_outside_pshub_still_reads_as_a_project() -> None:
    record = {"id": "77", "entityId": "LEGACY-1", "subsidiary": {"id": "9"}}
    rebuilt = mapping.project_from_job(record, SETUP, connection_id="netsuite-acme")
    assert rebuilt.code == "LEGACY-1" and rebuilt.name == "LEGACY-1"
    assert rebuilt.dimensions.legal_entity == "9" and rebuilt.budget is None


# -- billing schedules -------------------------------------------------------------------------------
def test_milestones_are_shares_of_the_total_that_add_up_to_exactly_100() -> None:
    thirds = [
        Milestone(id=f"m{i}", name=f"Phase {i}", amount=usd("1000"), due_date=date(2027, i, 1))
        for i in (1, 2, 3)
    ]
    lines = mapping.milestone_lines(thirds)
    assert [line["milestoneAmount"] for line in lines] == [33.33, 33.33, 33.34]
    assert sum(Decimal(str(line["milestoneAmount"])) for line in lines) == 100
    with pytest.raises(Refused, match="no due date"):
        mapping.milestone_lines([Milestone(id="m", name="Kick-off", amount=usd("10"))])
    with pytest.raises(Refused, match="add up to nothing"):
        mapping.milestone_lines([Milestone(id="m", name="Free", amount=usd("0"), due_date=date(2027, 1, 1))])


def test_each_billing_model_has_its_schedule_type() -> None:
    types = {
        model: mapping.schedule_body(contract(model), project_id="5211", code="PRJ-1")["scheduleType"]["id"]
        for model in BillingModel
    }
    assert types == {
        BillingModel.FIXED_FEE_MILESTONE: "FBM",
        BillingModel.TIME_AND_MATERIALS: "TM",
        BillingModel.RETAINER: "FBI",
        BillingModel.USAGE: "CB",
    }


def test_the_terms_marker_tells_changed_terms_apart_without_amounts() -> None:
    base = mapping.schedule_body(contract(BillingModel.TIME_AND_MATERIALS), project_id="5211", code="PRJ-1")
    marker = base[mapping.SCHEDULE_TERMS]
    assert "185" not in marker and "USD" not in marker and len(marker) < 1000
    later = mapping.schedule_body(
        contract(BillingModel.TIME_AND_MATERIALS, payment_terms_days=45), project_id="5211", code="PRJ-1"
    )
    assert mapping.schedule_differences(base, later) == ("payment_terms_days",)
    assert mapping.schedule_differences(base, base) == ()
    fixed = mapping.schedule_body(contract(BillingModel.FIXED_FEE_MILESTONE), project_id="5211", code="PRJ-1")
    assert {"billing_model", "milestones", "rate_card"} <= set(mapping.schedule_differences(base, fixed))


def test_contract_terms_are_checked_before_a_schedule_is_made() -> None:
    assert mapping.missing_terms(contract(rate_card=None)) == ["rate_card"]
    assert mapping.missing_terms(contract(BillingModel.RETAINER, retainer_per_month=None)) == [
        "retainer_per_month"
    ]
    assert mapping.foreign_currency(contract(currency="EUR")) == ["rate_card"]


# -- time --------------------------------------------------------------------------------------------
def test_a_time_entry_is_a_time_bill_in_decimal_hours() -> None:
    body = mapping.time_bill_body(
        time_entry("te_1", hours=Decimal("7.25"), notes="Workshop\nwith client", billable=False),
        job_id="5211",
        employee_id="301",
        item_id="20",
    )
    assert body == {
        "employee": {"id": "301"},
        "customer": {"id": "5211"},
        "item": {"id": "20"},
        "hours": 7.25,
        "tranDate": "2026-12-07",
        "isBillable": False,
        "memo": "Workshop with client",
    }
    assert "memo" not in mapping.time_bill_body(time_entry("te_2"), job_id="1", employee_id="2", item_id="3")


# -- SuiteQL -----------------------------------------------------------------------------------------
def test_the_customer_query_asks_only_for_the_keys_given() -> None:
    assert mapping.customer_candidates_query(client_id=None, tax=None, names=[]) is None
    query = mapping.customer_candidates_query(client_id="client_1", tax=None, names=["o'brien and sons"])
    assert query == (
        "SELECT id, externalid, custentity_pshub_client_ids, custentity_pshub_tax_key, custentity_pshub_name_key "
        "FROM customer WHERE externalid = 'client_1' OR custentity_pshub_client_ids LIKE '%,client_1,%' "
        "OR custentity_pshub_name_key IN ('o''brien and sons') ORDER BY id"
    )


def test_the_change_query_is_in_utc() -> None:
    since = datetime(2026, 12, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    query = mapping.changed_query("job", since)
    assert "TO_TIMESTAMP('2026-12-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS')" in query
    assert query.endswith("ORDER BY lastmodifieddate, id")


# -- NetSuite's error body ---------------------------------------------------------------------------
def _answer(status: int, body: object) -> ApiResponse:
    return ApiResponse(status, httpx.Headers(), json.dumps(body).encode(), "https://x")


def test_describe_reads_netsuites_error_body() -> None:
    # The documented invalid-body example (help topic "Error Handling in REST Web Services")
    body = {
        "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "Error while accessing resource: You have entered an Invalid Field Value 9999 for the following field: item",
                "o:errorCode": "INVALID_CONTENT",
                "o:errorPath": "item.items[0].item",
            }
        ],
    }
    vendor = describe(_answer(400, body))
    assert vendor.code == "INVALID_CONTENT" and "Invalid Field Value 9999" in (vendor.message or "")
    assert not vendor.throttled
    limited = describe(
        _answer(400, {"o:errorDetails": [{"detail": "x", "o:errorCode": "SSS_REQUEST_LIMIT_EXCEEDED"}]})
    )
    assert limited.throttled
    token = describe(_answer(401, {"error": "invalid_client"}))
    assert token.code == "invalid_client"
    assert describe(ApiResponse(502, httpx.Headers(), b"<html>bad gateway</html>", "https://x")).code is None
