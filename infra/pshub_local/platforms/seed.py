"""Seed data: the deals the local CRM fakes hold before anything else happens, as canonical objects.

The Salesforce and HubSpot fakes hold them as their vendor's records; these objects are
what reading them back must give (the fakes' tests compare field by field).

Each seeded opportunity is the record behind a sample webhook in ``events/``, with
approved contract terms, so that a closed-won delivery of that sample provisions a
project end to end on a laptop:

- HubSpot deal ``27182818284`` (``events/hubspot/deal.closed_won.json``), company
  ``9876543210`` Harbourline Logistics Inc., contracting entity ACME-US, US-NY tax.
- Salesforce opportunity ``0065e00000KxYzAAAV``
  (``events/salesforce/opportunity.closed_won.xml``), account ``0015e00000AcMe1AAF``
  Acme Consulting Ltd (the name the sample carries), entity ACME-UK, GB tax.

Both are time and materials in USD, 12,500 (the sample's amount), starting
2026-12-01, for the ``consulting`` service line. Every company, person, address and
tax number here is fictional (``.example`` domains, HMRC's published test VAT number).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from pshub.canonical.model import (
    Address,
    BillingModel,
    Client,
    Contract,
    ContractStatus,
    Money,
    Opportunity,
    Rate,
    RateCard,
    TaxProfile,
)
from pshub.connectors.results import OpportunityDetails, provisional_id

HUBSPOT_DEAL_ID = "27182818284"
HUBSPOT_COMPANY_ID = "9876543210"
HUBSPOT_QUOTE_ID = "55501234"
SALESFORCE_OPPORTUNITY_ID = "0065e00000KxYzAAAV"
SALESFORCE_ACCOUNT_ID = "0015e00000AcMe1AAF"
SALESFORCE_CONTRACT_ID = "8005e00000CoNtRAAV"
SALESFORCE_RATE_CARD_ID = "a0A5e00000RaTe1EAF"

START = date(2026, 12, 1)
# The firm's people as the HR system and the ERP know them (NetSuite employees by e-mail);
# time and expense sources name them by these addresses (Toggl's ``users`` option).
EMPLOYEES = ("alex.rivera@acme-consulting.example.com", "sam.okafor@acme-consulting.example.com")
CLOSE = date(2026, 11, 20)


def _usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def _rate_card(rate_card_id: str, name: str, rates: dict[str, str]) -> RateCard:
    return RateCard(
        id=rate_card_id,
        name=name,
        currency="USD",
        effective_from=START,
        rates=[Rate(role=role, hourly_rate=_usd(amount)) for role, amount in rates.items()],
    )


def _won_deal(
    connection_id: str,
    ids: dict[str, str],
    client: dict[str, Any],
    opportunity: dict[str, Any],
    end_date: date,
    rate_card: tuple[str, dict[str, str]],
) -> OpportunityDetails:
    """A closed-won deal with approved T&M terms, in USD, 12,500, from ``START``.

    ``ids`` are the CRM's native ids: ``account``, ``deal``, ``contract``, ``rate_card``.
    """

    def pid(kind: str, native_key: str) -> str:
        return provisional_id(connection_id, kind, ids[native_key])

    account = Client(
        id=pid("Client", "account"), external_ids={connection_id: ids["account"]}, currency="USD", **client
    )
    deal = Opportunity(
        id=pid("Opportunity", "deal"),
        external_ids={connection_id: ids["deal"]},
        client_id=account.id,
        amount=_usd("12500"),
        close_date=CLOSE,
        service_line="consulting",
        contract_id=pid("Contract", "contract"),
        **opportunity,
    )
    name, rates = rate_card
    contract = Contract(
        id=pid("Contract", "contract"),
        external_ids={connection_id: ids["contract"]},
        client_id=account.id,
        opportunity_id=deal.id,
        billing_model=BillingModel.TIME_AND_MATERIALS,
        currency="USD",
        status=ContractStatus.APPROVED,
        start_date=START,
        end_date=end_date,
        payment_terms_days=30,
        legal_entity=account.legal_entity,
        tax_jurisdiction=account.tax_profile.jurisdiction if account.tax_profile else None,
        rate_card=_rate_card(pid("RateCard", "rate_card"), name, rates),
        total_value=_usd("12500"),
    )
    return OpportunityDetails(opportunity=deal, client=account, contract=contract)


def hubspot_deals(connection_id: str) -> list[OpportunityDetails]:
    # HubSpot keeps the rate card on the quote, which is also the contract.
    ids = {"account": HUBSPOT_COMPANY_ID, "deal": HUBSPOT_DEAL_ID, "contract": HUBSPOT_QUOTE_ID}
    return [
        _won_deal(
            connection_id,
            {**ids, "rate_card": HUBSPOT_QUOTE_ID},
            client={
                "name": "Harbourline Logistics",
                "legal_name": "Harbourline Logistics Inc.",
                "web_domain": "harbourline.example",
                "segment": "mid-market",
                "billing_address": Address(
                    line1="100 Example Avenue",
                    city="New York",
                    region="NY",
                    postal_code="10001",
                    country="US",
                ),
                "tax_profile": TaxProfile(tax_id="98-7654321", jurisdiction="US-NY"),
                "legal_entity": "ACME-US",
            },
            opportunity={
                "source_version": "1795186980512",
                "name": "Harbourline Logistics - Data Platform Assessment",
                "stage": "closedwon",
                "owner": "81234567",
            },
            end_date=date(2027, 3, 31),
            rate_card=(
                "ACME-US Consulting 2027 (USD)",
                {
                    "Engagement Partner": "425.00",
                    "Senior Consultant": "260.00",
                    "Consultant": "185.00",
                    "Analyst": "125.00",
                },
            ),
        )
    ]


def salesforce_opportunities(connection_id: str) -> list[OpportunityDetails]:
    ids = {
        "account": SALESFORCE_ACCOUNT_ID,
        "deal": SALESFORCE_OPPORTUNITY_ID,
        "contract": SALESFORCE_CONTRACT_ID,
        "rate_card": SALESFORCE_RATE_CARD_ID,
    }
    return [
        _won_deal(
            connection_id,
            ids,
            client={
                "name": "Acme Consulting Ltd",
                "legal_name": "Acme Consulting Ltd",
                "web_domain": "acme-consulting.example",
                "segment": "enterprise",
                "billing_address": Address(
                    line1="1 Example Street", city="London", postal_code="EC1A 1AA", country="GB"
                ),
                "tax_profile": TaxProfile(tax_id="GB999999973", jurisdiction="GB"),
                "legal_entity": "ACME-UK",
            },
            opportunity={
                "source_version": "2026-11-20T15:02:11.000Z",
                "name": "Acme Consulting Ltd - Professional Services Retainer FY27",
                "stage": "Closed Won",
                "owner": "0055e000003OwNrAAK",
            },
            end_date=date(2027, 11, 30),
            rate_card=(
                "ACME-UK Professional Services FY27 (USD)",
                {
                    "Partner": "410.00",
                    "Managing Consultant": "300.00",
                    "Senior Consultant": "240.00",
                    "Consultant": "175.00",
                },
            ),
        )
    ]


# CRM platform -> its seeded opportunities, given the connection id they live under.
CRM_SEEDS: dict[str, Callable[[str], list[OpportunityDetails]]] = {
    "hubspot": hubspot_deals,
    "salesforce": salesforce_opportunities,
}
