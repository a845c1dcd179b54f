"""Each function's environment, validated once when the function starts.

Plain dataclasses rather than pydantic models: the ingress is on the webhook's
critical path and pydantic's import would add to every cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import TypeVar

_T = TypeVar("_T")


class SettingsError(RuntimeError):
    pass


def read_settings(cls: type[_T], env: Mapping[str, str] | None = None) -> _T:
    """Build ``cls`` from upper-cased environment variables, naming every missing one."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    missing: list[str] = []
    for spec in fields(cls):  # type: ignore[arg-type]
        name = spec.name.upper()
        if name in env:
            raw = env[name]
            try:
                values[spec.name] = int(raw) if spec.type in ("int", int) else raw
            except ValueError:
                raise SettingsError(f"{cls.__name__}: {name}={raw!r} is not an integer") from None
        elif spec.default is MISSING:
            missing.append(name)
    if missing:
        raise SettingsError(f"{cls.__name__}: environment variable(s) not set: {', '.join(missing)}")
    return cls(**values)


@dataclass(frozen=True)
class IngressSettings:
    raw_delivery_queue_url: str
    unmappable_queue_url: str
    claim_check_bucket: str
    pshub_connections: str
    max_body_bytes: int  # both set from the topology's limits
    claim_check_threshold_bytes: int


@dataclass(frozen=True)
class NormaliserSettings:
    claim_check_bucket: str
    idempotency_table: str
    event_bus_name: str
    unmappable_queue_url: str
    raw_archive_stream: str
    identity_table: str
    exceptions_table: str
    pshub_ownership_policy: str


@dataclass(frozen=True)
class StarterSettings:
    provisioning_state_machine_arn: str


@dataclass(frozen=True)
class ProvisioningSettings:
    pshub_connections: str
    pshub_provisioning: str
    identity_table: str
    exceptions_table: str
