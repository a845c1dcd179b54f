"""Provisioning configuration: which systems a deal lands in, and its financial dimensions.

Loaded from ``infra/config/provisioning.json`` (deployed as ``PSHUB_PROVISIONING``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError


class ServiceLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    department: str
    cost_centre: str


class ProvisioningConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: Literal[1]
    erp_by_legal_entity: dict[str, str]
    psa: str
    billing_platform: str
    billing_route_by_model: dict[str, Literal["erp", "billing_platform"]]
    default_service_line: str
    service_lines: dict[str, ServiceLine]
    regions_by_legal_entity: dict[str, str] = {}


class ProvisioningConfigError(ValueError):
    pass


def load_provisioning_config(text: str, source: str = "PSHUB_PROVISIONING") -> ProvisioningConfig:
    from pshub.settings import config_value

    try:
        return ProvisioningConfig.model_validate_json(config_value(text))
    except ValidationError as exc:
        raise ProvisioningConfigError(f"{source}: {exc}") from None
