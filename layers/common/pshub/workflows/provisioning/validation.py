"""Step 1 of opportunity-to-project: are the commercial terms complete and consistent?

Nothing is created anywhere until they are. Each problem names the field, what is
wrong and the team that fixes it: sales ops for commercial terms (contract, billing
model, currency, rate card, dates), finance ops for tax and legal entity.
"""

from __future__ import annotations

from dataclasses import dataclass

from pshub.business_exceptions import Category, OwnerTeam
from pshub.canonical.model import ContractStatus
from pshub.connectors.results import OpportunityDetails
from pshub.workflows.provisioning.config import ProvisioningConfig

_RATE_CARD_MODELS = {"time_and_materials", "retainer"}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    team: OwnerTeam


def find_problems(details: OpportunityDetails, config: ProvisioningConfig) -> list[Problem]:
    sales, finance = OwnerTeam.SALES_OPS, OwnerTeam.FINANCE_OPS
    contract = details.contract
    if contract is None:
        return [Problem("contract", "the opportunity has no contract terms", sales)]
    problems: list[Problem] = []
    if contract.status not in (ContractStatus.APPROVED, ContractStatus.ACTIVE):
        problems.append(
            Problem("contract.status", f"contract is {contract.status.value}, not approved", sales)
        )
    amount = details.opportunity.amount
    if amount is not None and amount.currency != contract.currency:
        problems.append(
            Problem(
                "contract.currency",
                f"contract is in {contract.currency}, the deal in {amount.currency}",
                sales,
            )
        )
    if contract.start_date is None:
        problems.append(Problem("contract.start_date", "no start date", sales))
    if contract.billing_model.value in _RATE_CARD_MODELS:
        card = contract.rate_card
        if card is None or not card.rates:
            problems.append(
                Problem(
                    "contract.rate_card",
                    f"a {contract.billing_model.value} contract needs a rate card",
                    sales,
                )
            )
        elif card.currency != contract.currency:
            problems.append(
                Problem(
                    "contract.rate_card.currency",
                    f"rate card is in {card.currency}, not {contract.currency}",
                    sales,
                )
            )
    if contract.billing_model.value not in config.billing_route_by_model:
        problems.append(
            Problem("contract.billing_model", f"no billing route for {contract.billing_model}", sales)
        )
    entity = contract.legal_entity or details.client.legal_entity
    if not entity:
        problems.append(Problem("contract.legal_entity", "no contracting legal entity", finance))
    elif entity not in config.erp_by_legal_entity:
        problems.append(
            Problem("contract.legal_entity", f"legal entity {entity} has no ERP configured", finance)
        )
    if not contract.tax_jurisdiction:
        problems.append(Problem("contract.tax_jurisdiction", "no tax jurisdiction", finance))
    return problems


def exception_kind(problems: list[Problem]) -> tuple[Category, OwnerTeam]:
    """Commercial problems go to sales ops first; tax/entity-only problems to finance ops."""
    if any(p.team is OwnerTeam.SALES_OPS for p in problems):
        return Category.COMMERCIAL_TERMS_INVALID, OwnerTeam.SALES_OPS
    return Category.TAX_OR_ENTITY_INVALID, OwnerTeam.FINANCE_OPS
