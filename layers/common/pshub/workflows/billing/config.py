"""Billing configuration: each legal entity's invoicing rules and when its periods are billed.

Loaded from ``infra/config/billing.json`` (deployed as ``PSHUB_BILLING``):

- ``rounding``: ``half_up`` or ``half_even`` (banker's), applied once per invoice line;
- ``tax_rates``: the rates the entity charges per jurisdiction (``"GB": "0.20"``), as its tax
  advisers configured them: a contract taxed where no rate is configured is held, never
  invoiced at a guessed rate;
- ``billing_day``: the day of the month the previous month is billed (1 to 28);
- ``fx_rates``: per period, the rates finance fixed for converting expenses incurred in
  another currency (``{"2026-11": {"EUR/USD": "1.0842"}}``: USD per EUR); an expense in a
  currency without one is held.

The invoicing route (ERP or billing platform per billing model) is the provisioning
configuration's ``billing_route_by_model``: one definition for both workflows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pshub.workflows.billing.readiness import EntityProfile, Rounding


class EntityBilling(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rounding: Rounding
    tax_rates: dict[str, Decimal] = Field(default_factory=dict)
    billing_day: int = Field(default=1, ge=1, le=28)
    fx_rates: dict[str, dict[str, Decimal]] = Field(default_factory=dict)


class BillingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: Literal[1]
    legal_entities: dict[str, EntityBilling]

    def fx_rates(self, legal_entity: str, period: str) -> dict[str, Decimal]:
        """The period's configured exchange rates for the entity (``"EUR/USD"`` -> USD per EUR)."""
        entity = self.legal_entities.get(legal_entity)
        return dict(entity.fx_rates.get(period, {})) if entity is not None else {}

    def profile(self, legal_entity: str) -> EntityProfile | None:
        """The entity's invoicing rules; None when the entity has none configured (a hold)."""
        entity = self.legal_entities.get(legal_entity)
        if entity is None:
            return None
        return EntityProfile(legal_entity, entity.rounding, dict(entity.tax_rates))


class BillingConfigError(ValueError):
    pass


def load_billing_config(text: str, source: str = "PSHUB_BILLING") -> BillingConfig:
    from pshub.settings import config_value

    try:
        return BillingConfig.model_validate_json(config_value(text))
    except ValidationError as exc:
        raise BillingConfigError(f"{source}: {exc}") from None
