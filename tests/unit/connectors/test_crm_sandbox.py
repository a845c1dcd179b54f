"""The CRM sandbox holds the opportunities behind the sample webhooks, with approved terms."""

from __future__ import annotations

import pytest

from pshub.canonical.model import BillingModel, ContractStatus
from pshub.connectors.errors import Conflict, NotFound
from pshub.connectors.sandbox import seed
from pshub.connectors.sandbox.crm import SandboxCrm
from tests.helpers import connections


def crm(connection_id: str) -> SandboxCrm:
    return SandboxCrm(connections()[connection_id])


@pytest.mark.parametrize(
    ("connection_id", "deal_id", "account_id", "entity", "jurisdiction"),
    [
        ("hubspot-acme", "27182818284", "9876543210", "ACME-US", "US-NY"),
        ("salesforce-acme", "0065e00000KxYzAAAV", "0015e00000AcMe1AAF", "ACME-UK", "GB"),
    ],
)
def test_the_sample_closed_won_deal_has_approved_terms(
    connection_id: str, deal_id: str, account_id: str, entity: str, jurisdiction: str
) -> None:
    # When the workflow loads the deal a sample webhook names
    details = crm(connection_id).get_opportunity(deal_id)
    # Then it has its account and approved time-and-materials terms in USD
    assert details.opportunity.external_ids[connection_id] == deal_id
    assert details.client.external_ids[connection_id] == account_id
    contract = details.contract
    assert contract is not None
    assert (
        contract.status is ContractStatus.APPROVED
        and contract.billing_model is BillingModel.TIME_AND_MATERIALS
    )
    assert contract.currency == "USD" and contract.legal_entity == entity
    assert contract.tax_jurisdiction == jurisdiction and contract.start_date is not None
    assert contract.rate_card is not None and len(contract.rate_card.rates) >= 3
    assert details.opportunity.amount is not None and details.opportunity.amount.currency == "USD"
    assert details.opportunity.client_id == details.client.id == contract.client_id


def test_salesforce_finds_an_opportunity_by_its_15_character_id() -> None:
    details = crm("salesforce-acme").get_opportunity(seed.SALESFORCE_OPPORTUNITY_ID[:15])
    assert details.opportunity.name == "Acme Consulting Ltd - Professional Services Retainer FY27"


def test_an_unknown_deal_is_not_found_in_hubspot_words() -> None:
    with pytest.raises(NotFound) as caught:
        crm("hubspot-acme").get_opportunity("1")
    assert caught.value.platform_code == "OBJECT_NOT_FOUND" and caught.value.http_status == 404


def test_link_project_writes_back_once_and_refuses_a_second_project() -> None:
    hubspot = crm("hubspot-acme")
    ids = {"netsuite-acme": "5211", "kantata-acme": "27410001"}
    hubspot.link_project(seed.HUBSPOT_DEAL_ID, "PRJ-HARB-1234", ids)
    hubspot.link_project(seed.HUBSPOT_DEAL_ID, "PRJ-HARB-1234", ids)
    link = hubspot.linked_project(seed.HUBSPOT_DEAL_ID)
    assert link is not None and link.project_code == "PRJ-HARB-1234" and link.project_ids == ids
    assert [c.outcome for c in hubspot.calls("link_project")] == ["linked", "unchanged"]
    with pytest.raises(Conflict, match="already linked to project PRJ-HARB-1234"):
        hubspot.link_project(seed.HUBSPOT_DEAL_ID, "PRJ-HARB-9999", ids)
