"""Each function's environment, validated once when the function starts.

Named tuples rather than pydantic models (or dataclasses): the ingress is on the
webhook's critical path; pydantic's import would add to every cold start, and a named
tuple is built in a sixth of a frozen dataclass's time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

_T = TypeVar("_T", bound=tuple[Any, ...])


class SettingsError(RuntimeError):
    pass


def read_settings(cls: type[_T], env: Mapping[str, str] | None = None) -> _T:
    """Build ``cls`` from upper-cased environment variables, naming every missing one."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    missing: list[str] = []
    defaults: dict[str, object] = getattr(cls, "_field_defaults", {})
    for field, kind in cls.__annotations__.items():
        name = field.upper()
        if name in env:
            raw = env[name]
            try:
                # Postponed annotations reach a NamedTuple as ForwardRef("int").
                values[field] = int(raw) if getattr(kind, "__forward_arg__", kind) in ("int", int) else raw
            except ValueError:
                raise SettingsError(f"{cls.__name__}: {name}={raw!r} is not an integer") from None
        elif field not in defaults:
            missing.append(name)
    if missing:
        raise SettingsError(f"{cls.__name__}: environment variable(s) not set: {', '.join(missing)}")
    return cls(**values)


class IngressSettings(NamedTuple):
    raw_delivery_queue_url: str
    unmappable_queue_url: str
    claim_check_bucket: str
    pshub_connections: str
    max_body_bytes: int  # both set from the topology's limits
    claim_check_threshold_bytes: int


class NormaliserSettings(NamedTuple):
    claim_check_bucket: str
    idempotency_table: str
    event_bus_name: str
    unmappable_queue_url: str
    raw_archive_stream: str
    identity_table: str
    exceptions_table: str
    pshub_ownership_policy: str
    claim_check_threshold_bytes: int
    # The largest amount, in major units of any currency, a canonical event may carry.
    max_money_amount: str
    # The connection registry: CRM records whose webhooks carry only an id are read first.
    pshub_connections: str = ""


class StarterSettings(NamedTuple):
    provisioning_state_machine_arn: str
    inbox_table: str  # the consumer inbox: canonical event ids already handled


class ProvisioningSettings(NamedTuple):
    pshub_connections: str
    pshub_provisioning: str
    identity_table: str
    exceptions_table: str


class BillingSettings(NamedTuple):
    pshub_connections: str
    pshub_billing: str
    identity_table: str
    postings_table: str
    billing_table: str
    exceptions_table: str


class BillingTickSettings(NamedTuple):
    pshub_billing: str
    billing_state_machine_arn: str


class BillingEventsSettings(NamedTuple):
    identity_table: str
    billing_table: str
    exceptions_table: str
    billing_state_machine_arn: str


class StartAmendmentSettings(NamedTuple):
    amendment_state_machine_arn: str
    pshub_connections: str
    exceptions_table: str


class AmendmentSettings(NamedTuple):
    pshub_connections: str
    identity_table: str
    exceptions_table: str


class TimeApprovalsSettings(NamedTuple):
    identity_table: str
    postings_table: str
    exceptions_table: str
    event_bus_name: str


class OperationsTickSettings(NamedTuple):
    exceptions_table: str


class PollerSettings(NamedTuple):
    pshub_connections: str
    poll_state_table: str
    raw_delivery_queue_url: str
    claim_check_bucket: str
    claim_check_threshold_bytes: int


class ErpPostingSettings(NamedTuple):
    erp_connection: str  # the one ERP connection this function posts to
    pshub_connections: str
    postings_table: str
    exceptions_table: str
    posting_queue_url: str  # its own queue: throttled and retried work goes back with a delay
    posting_dlq_url: str  # refused for good or out of retries, with the reason


# A configuration file too large for Lambda's 4 KB of environment travels compressed:
# this prefix, then base64 of its zlib stream (``pshub_infra.topology.render_config``).
PACKED_PREFIX = "zlib+b64:"
PACK_ABOVE_BYTES = 1024


def pack_config(text: str) -> str:
    """``text`` as a ``config_env`` variable holds it: as is when small, else compressed."""
    import base64
    import zlib

    raw = text.encode()
    if len(raw) <= PACK_ABOVE_BYTES:
        return text
    return PACKED_PREFIX + base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


# A configuration variable that names where its text lives: ``ssm:/pshub/<stage>/config/<key>``
# (SSM Parameter Store, read through Powertools parameters and cached CONFIG_CACHE_S).
PARAMETER_PREFIX = "ssm:"
CONFIG_CACHE_S = 300


def config_value(value: str) -> str:
    """A configuration variable's text: read from its SSM parameter when it names one, and
    unpacked if it was packed."""
    if value.startswith(PARAMETER_PREFIX):
        from aws_lambda_powertools.utilities import parameters

        name = value[len(PARAMETER_PREFIX) :]
        try:
            found = parameters.get_parameter(name, max_age=CONFIG_CACHE_S)
        except parameters.exceptions.GetParameterError as error:
            raise SettingsError(f"configuration parameter {name}: {error}") from None
        value = str(found)
    if not value.startswith(PACKED_PREFIX):
        return value
    import base64
    import zlib

    return zlib.decompress(base64.b64decode(value[len(PACKED_PREFIX) :], validate=True)).decode()
