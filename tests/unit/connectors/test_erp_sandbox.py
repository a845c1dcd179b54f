"""The ERP sandbox behaves like NetSuite where a provisioning or posting workflow can tell."""

from __future__ import annotations

import re
from datetime import date

import pytest

from pshub.canonical.model import ApprovalStatus, BillingModel, TaxProfile
from pshub.connectors.errors import Conflict, NotFound, PermanentConnectorError
from pshub.connectors.results import PostingStatus
from pshub.connectors.sandbox.erp import SandboxErp
from tests.unit.connectors.builders import client, connection, contract, project, time_entry

PATTERN = r"^PRJ-[A-Z0-9]{2,8}-[0-9]{4}$"


def netsuite(**options: str) -> SandboxErp:
    defaults = {"project_code_pattern": PATTERN, "closed_periods_through": "2026-09-30"}
    return SandboxErp(connection("netsuite", "erp", "netsuite-acme", **(defaults | options)))


def erp_with_customer() -> SandboxErp:
    erp = netsuite()
    erp.upsert_client(client())
    return erp


# -- customers -------------------------------------------------------------------------------
def test_upsert_client_creates_then_matches_the_same_company_by_tax_id() -> None:
    # Given an ERP holding the client
    erp = netsuite()
    first = erp.upsert_client(client())
    # When the same company arrives under another client id, with its tax id written differently
    again = erp.upsert_client(
        client(
            "client_other",
            name="HARBOURLINE LOGISTICS",
            tax_profile=TaxProfile(tax_id="987654321", jurisdiction="US-NY"),
        )
    )
    # Then it is the same customer, updated, not a second one
    assert first.created and not again.created
    assert again.native_id == first.native_id
    assert first.native_id.isdigit()  # NetSuite internal ids are numeric
    assert len(erp.snapshot()["records"]["customers"]) == 1
    # and both client ids now find it
    found = erp.find_client(client_id="client_other")
    assert found is not None and found.native_id == first.native_id


def test_upsert_client_matches_by_normalised_name_but_not_across_different_tax_ids() -> None:
    erp = netsuite()
    first = erp.upsert_client(client(tax_profile=TaxProfile(jurisdiction="US-NY")))
    # Given a customer without tax id, "Harbourline Logistics, Inc." is the same company
    same = erp.upsert_client(
        client("client_2", name="Harbourline Logistics, Inc.", tax_profile=TaxProfile(jurisdiction="US-NY"))
    )
    assert same.native_id == first.native_id and not same.created
    # but a namesake with its own tax registration is another company
    erp.upsert_client(client("client_3", tax_profile=TaxProfile(tax_id="11-1111111", jurisdiction="US-NY")))
    erp.upsert_client(client("client_4", tax_profile=TaxProfile(tax_id="22-2222222", jurisdiction="US-NY")))
    assert len(erp.snapshot()["records"]["customers"]) == 2


def test_upsert_client_requires_legal_entity_and_tax_jurisdiction() -> None:
    erp = netsuite()
    with pytest.raises(PermanentConnectorError) as caught:
        erp.upsert_client(client(legal_entity=None, tax_profile=None))
    assert "legal_entity" in caught.value.message and "tax_profile.jurisdiction" in caught.value.message
    assert caught.value.platform_code == "USER_ERROR"
    assert (
        caught.value.platform_message == "Please enter value(s) for: legal_entity, tax_profile.jurisdiction"
    )
    assert erp.snapshot()["records"]["customers"] == []


# -- projects --------------------------------------------------------------------------------
def test_create_project_twice_with_the_same_content_returns_the_existing_record() -> None:
    # Given a customer in the ERP
    erp = erp_with_customer()
    # When the project shell is created twice (a retried step)
    first = erp.create_project(project())
    second = erp.create_project(project(external_ids={"kantata-acme": "27410001"}, source_version="2"))
    # Then the ERP holds exactly one project and both calls got its id
    assert first == second
    assert [p["code"] for p in erp.snapshot()["records"]["projects"]] == ["PRJ-HARB-0001"]
    assert [c.outcome for c in erp.calls("create_project")] == [
        f"created {first}",
        f"returned existing {first}",
    ]


def test_a_lost_response_is_retried_without_creating_a_second_project() -> None:
    # Given an ERP that commits the create but times out before answering
    erp = erp_with_customer()
    erp.inject_failure("create_project", erp.timeout("create_project"), when="after")
    with pytest.raises(Exception, match="timed out"):
        erp.create_project(project())
    # When the step is retried
    native_id = erp.create_project(project())
    # Then create_project was called twice but created once
    assert len(erp.calls("create_project")) == 2
    assert len(erp.snapshot()["records"]["projects"]) == 1
    record = erp.get_project("PRJ-HARB-0001")
    assert record is not None and record.native_id == native_id


def test_same_code_with_different_content_is_a_conflict_naming_the_code() -> None:
    erp = erp_with_customer()
    native_id = erp.create_project(project())
    with pytest.raises(Conflict) as caught:
        erp.create_project(project(name="Another engagement", budget=None))
    error = caught.value
    assert isinstance(error, PermanentConnectorError)
    assert error.key == "PRJ-HARB-0001" and error.fields == ("budget", "name")
    assert "PRJ-HARB-0001" in str(error) and native_id in str(error)
    assert error.platform_code == "DUP_ENTITY"
    assert len(erp.snapshot()["records"]["projects"]) == 1


def test_a_project_code_in_the_wrong_format_is_rejected_in_netsuite_words() -> None:
    erp = erp_with_customer()
    with pytest.raises(PermanentConnectorError) as caught:
        erp.create_project(project("harb-1"))
    assert caught.value.platform_code == "INVALID_FLD_VALUE"
    assert caught.value.platform_message == "Invalid Field Value harb-1 for the following field: project code"
    assert PATTERN in caught.value.message
    assert erp.get_project("harb-1") is None


def test_a_project_needs_its_customer_and_its_dimensions() -> None:
    erp = netsuite()
    with pytest.raises(PermanentConnectorError, match="upsert the client first"):
        erp.create_project(project())
    erp.upsert_client(client())
    no_line = project().dimensions.model_copy(update={"service_line": " "})
    with pytest.raises(PermanentConnectorError, match=r"dimensions\.service_line"):
        erp.create_project(project(dimensions=no_line))


def test_deactivation_compensates_and_a_resumed_create_reactivates_the_shell() -> None:
    erp = erp_with_customer()
    native_id = erp.create_project(project())
    # When the workflow compensates (twice: the compensation itself is retried)
    erp.deactivate_project(native_id, "provisioning abandoned")
    erp.deactivate_project(native_id, "provisioning abandoned")
    record = erp.get_project("PRJ-HARB-0001")
    assert record is not None and not record.active and record.inactive_reason == "provisioning abandoned"
    assert [c.outcome for c in erp.calls("deactivate_project")] == ["deactivated", "already inactive"]
    # Then nothing posts to it
    [result] = erp.post_time_entries([time_entry("te_1")])
    assert result.status is PostingStatus.REJECTED and "inactive" in (result.reason or "")
    # and creating it again (the parked run resumed) brings the same shell back
    assert erp.create_project(project()) == native_id
    record = erp.get_project("PRJ-HARB-0001")
    assert record is not None and record.active


def test_deactivating_an_unknown_project_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        netsuite().deactivate_project("999999", "cleanup")
    assert caught.value.platform_code == "RCRD_DSNT_EXIST" and caught.value.http_status == 404


# -- billing schedule ------------------------------------------------------------------------
def test_billing_schedule_is_created_once_per_project() -> None:
    erp = erp_with_customer()
    project_id = erp.create_project(project())
    first = erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE))
    assert erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE)) == first
    with pytest.raises(Conflict) as caught:
        erp.create_billing_schedule(project_id, contract(BillingModel.TIME_AND_MATERIALS))
    assert caught.value.key == "PRJ-HARB-0001" and "billing_model" in caught.value.fields
    assert len(erp.snapshot()["records"]["billing_schedules"]) == 1


def test_billing_schedule_needs_the_terms_its_model_bills_from() -> None:
    erp = erp_with_customer()
    project_id = erp.create_project(project())
    with pytest.raises(PermanentConnectorError, match="rate_card"):
        erp.create_billing_schedule(project_id, contract(rate_card=None))
    with pytest.raises(NotFound):
        erp.create_billing_schedule("424242", contract())
    erp.deactivate_project(project_id, "abandoned")
    with pytest.raises(PermanentConnectorError, match="inactive"):
        erp.create_billing_schedule(project_id, contract())


# -- time ------------------------------------------------------------------------------------
def test_time_entries_are_posted_once_and_rejections_say_why() -> None:
    # Given a project and a period closed through 2026-09-30
    erp = erp_with_customer()
    erp.create_project(project())
    entries = [
        time_entry("te_ok"),
        time_entry("te_closed", work_date=date(2026, 9, 30)),
        time_entry("te_unknown", project_ref="PRJ-NOPE-0001"),
        time_entry("te_draft", status=ApprovalStatus.SUBMITTED),
        time_entry("te_ok"),  # the same entry twice in one batch
        time_entry("te_by_id", project_ref="project_PRJ-HARB-0001"),  # named by pshub's project id
    ]
    # When the batch is posted, and then posted again (a replay)
    results = erp.post_time_entries(entries)
    replay = erp.post_time_entries(entries[:1])
    # Then each entry has its own outcome
    by_id = {r.entry_id: r for r in results}
    assert [r.status for r in results] == [
        PostingStatus.POSTED, PostingStatus.REJECTED, PostingStatus.REJECTED, PostingStatus.REJECTED,
        PostingStatus.ALREADY_POSTED, PostingStatus.POSTED,
    ]  # fmt: skip
    assert "closed" in (by_id["te_closed"].reason or "")
    assert by_id["te_unknown"].reason == "unknown project code PRJ-NOPE-0001"
    assert "not approved" in (by_id["te_draft"].reason or "")
    # and nothing is posted twice
    assert replay[0].status is PostingStatus.ALREADY_POSTED and replay[0].native_id == results[0].native_id
    assert len(erp.snapshot()["records"]["time_entries"]) == 2


def test_an_oversized_batch_is_refused_whole() -> None:
    erp = netsuite(max_batch="2")
    with pytest.raises(PermanentConnectorError, match="at most 2"):
        erp.post_time_entries([time_entry(f"te_{i}") for i in range(3)])


# -- platform flavours -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("platform", "customer_id", "project_id"),
    [
        ("netsuite", r"\d+", r"\d+"),
        ("dynamics365", r"CUS-\d{6}", r"PRJ-HARB-0001"),  # D365's ProjectID is the code
        ("s4hana", r"\d{8}", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
        ("oracle_fusion", r"\d{15}", r"\d{15}"),
    ],
)
def test_each_erp_hands_out_ids_in_its_own_format(platform: str, customer_id: str, project_id: str) -> None:
    erp = SandboxErp(connection(platform, "erp"))
    assert re.fullmatch(customer_id, erp.upsert_client(client()).native_id)
    assert re.fullmatch(project_id, erp.create_project(project()))
