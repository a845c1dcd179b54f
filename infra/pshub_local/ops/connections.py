"""``pshub connections list|check``: each connection as the stack holds it, and whether its
credentials work.

The registry is the one the functions run with (the normaliser's ``PSHUB_CONNECTIONS``, read
from its configuration), so what is listed is what is deployed, not the file in a checkout.
``check`` reads each connection's API secret from the stack's Secrets Manager and makes one
harmless authenticated read through the connection's own connector: a lookup of a project
code (or an id) that cannot exist, so an answer of "not found" proves the credentials work
and nothing is written. A platform pshub only receives webhooks from has its signing secret
checked for presence instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pshub.connections import (
    Connection,
    ConnectionConfigError,
    api_secret_name,
    load_registry,
    signing_secret_name,
)
from pshub.connectors.errors import ConnectorError, NotFound, PermanentConnectorError, TransientConnectorError
from pshub.settings import PARAMETER_PREFIX, config_value
from pshub_local.ops.target import Target, TargetError

PROBE_CODE = "PSHUB-CONNECTION-CHECK-0000"  # a project code no firm uses: the read answers "none"
REGISTRY_FUNCTION = "normaliser"


@dataclass
class ConnectionRow:
    id: str
    platform: str
    role: str
    implementation: str
    legal_entity: str | None
    inbound: str  # webhook | poll | none
    outbound: bool
    check: str | None = None  # ok | failed | skipped
    detail: str | None = None


def registry(target: Target) -> dict[str, Connection]:
    name = target.resource("function", REGISTRY_FUNCTION)
    configuration = target.client("lambda").get_function_configuration(FunctionName=name)
    packed = (configuration.get("Environment") or {}).get("Variables", {}).get("PSHUB_CONNECTIONS")
    if not packed:
        raise TargetError(f"function {name} has no PSHUB_CONNECTIONS: is it a pshub stack?")
    if packed.startswith(PARAMETER_PREFIX):  # the stack's SSM parameter, read with the target's client
        from pshub_local.ops import config

        return load_registry(config.read(target, "connections"))
    return load_registry(config_value(packed))


def rows(connections: Mapping[str, Connection]) -> list[ConnectionRow]:
    from pshub.platforms import platform

    found = []
    for connection in connections.values():
        manifest = platform(connection.platform)
        found.append(
            ConnectionRow(
                connection.id,
                connection.platform,
                connection.role,
                connection.implementation,
                connection.legal_entity,
                manifest.inbound or "none",
                connection.role in manifest.outbound,
            )
        )
    return found


def check(target: Target, connections: Mapping[str, Connection]) -> list[ConnectionRow]:
    checked = []
    for row in rows(connections):
        connection = connections[row.id]
        row.check, row.detail = _check_one(target, connection, row)
        checked.append(row)
    return checked


def _check_one(target: Target, connection: Connection, row: ConnectionRow) -> tuple[str, str]:  # noqa: PLR0911
    if not row.outbound:
        if row.inbound != "webhook":
            return "skipped", "no connector and no webhook"
        return _secret_present(target, signing_secret_name(connection.id, _stage(target)), "signing secret")
    try:
        credentials = _credentials(target, connection)
    except (ConnectionConfigError, TargetError) as error:
        return "failed", str(error)
    from pshub.connectors.http import ConnectorContext
    from pshub.connectors.http.state import MemoryState
    from pshub.connectors.registry import new_connector

    connector = new_connector(connection, connection.role, ConnectorContext(credentials, state=MemoryState()))
    probe = _PROBES.get(connection.role)
    if probe is None:
        return "skipped", f"no harmless read for the {connection.role} role"
    operation, call = probe
    try:
        call(connector)
    except NotFound:
        return "ok", f"authenticated: {operation} answered not found"
    except PermanentConnectorError as error:
        if error.http_status in (401, 403):
            return "failed", f"credentials refused ({error.http_status}) by {operation}: {error.message}"
        return "failed", f"{operation}: {error}"
    except TransientConnectorError as error:
        return "failed", f"not reachable now ({operation}): {error}"
    except (ConnectorError, ConnectionConfigError) as error:
        return "failed", str(error)
    except Exception as error:  # one connection's surprise must not hide the others' results
        return "failed", f"{operation} raised {type(error).__name__}: {error}"
    return "ok", f"authenticated: {operation} answered"


def _credentials(target: Target, connection: Connection) -> dict[str, str]:
    from botocore.exceptions import ClientError

    name = api_secret_name(connection.id, _stage(target))
    try:
        text = target.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    except ClientError as error:
        raise ConnectionConfigError(f"api secret {name}: {error.response['Error'].get('Code', '')}") from None
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise ConnectionConfigError(f"api secret {name} is not a JSON object of strings")
    return document


def _stage(target: Target) -> str:
    stage = target.outputs().get("Stage", "-")
    return "" if stage == "-" else stage


def _secret_present(target: Target, name: str, what: str) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    try:
        target.client("secretsmanager").describe_secret(SecretId=name)
    except ClientError as error:
        return "failed", f"{what} {name}: {error.response['Error'].get('Code', '')}"
    return "ok", f"{what} present (webhooks only: nothing to call)"


def _feed_read(connector: Any) -> None:
    objects = connector.feed_objects()
    connector.changed_since(objects[0], datetime.now(UTC) - timedelta(minutes=1))


_PROBES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "erp": ("get_project", lambda c: c.get_project(PROBE_CODE)),
    "psa": ("get_project", lambda c: c.get_project(PROBE_CODE)),
    "billing": ("get_billing_plan", lambda c: c.get_billing_plan(PROBE_CODE)),
    "crm": ("get_opportunity", lambda c: c.get_opportunity("0")),
    "time": ("changed_since", _feed_read),
    "expense": ("read_report", lambda c: c.read_report("0", "0")),
}


def to_docs(found: list[ConnectionRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in found]
