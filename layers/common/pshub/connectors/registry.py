"""Which connector stands behind a connection: its platform's real one, built once per process.

``connector_for(connection, role)`` returns the connector the platform's manifest names
for the role (``outbound``), built with the connection's API credentials from its
``api`` secret and kept for the execution environment's life, so pooled connections
and tokens are reused across invocations. A connection whose configuration changed
gets a new connector: it is, in effect, another system. The local runtime and the
tests reach the platforms' local fakes through the same connectors; only the base URL
and the credentials differ.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, cast, get_args, overload

from pshub.connections import Connection, ConnectionConfigError, load_registry
from pshub.connectors.billing import BillingConnector
from pshub.connectors.crm import CrmConnector
from pshub.connectors.erp import ErpConnector
from pshub.connectors.psa import PsaConnector
from pshub.errors import UnknownConnection

Role = Literal["erp", "psa", "crm", "billing"]
CONNECTOR_ROLES: frozenset[str] = frozenset(get_args(Role))  # the roles workflows call through connectors
# Roles whose platforms pshub reads only where they cannot push (a poller's change feed, a
# report a notification names): a connector where the platform's manifest has one.
READER_ROLES: frozenset[str] = frozenset({"time", "expense"})
# time and expense connectors read (a change feed, a report); their shape is the platform's.
AnyConnector = ErpConnector | PsaConnector | CrmConnector | BillingConnector | Any
CONNECTIONS_ENV_VAR = "PSHUB_CONNECTIONS"

if TYPE_CHECKING:
    from pshub.connectors.http import ConnectorContext
_env_registry: tuple[str, dict[str, Connection]] | None = None


@overload
def connector_for(connection: Connection, role: Literal["erp"]) -> ErpConnector: ...
@overload
def connector_for(connection: Connection, role: Literal["psa"]) -> PsaConnector: ...
@overload
def connector_for(connection: Connection, role: Literal["crm"]) -> CrmConnector: ...
@overload
def connector_for(connection: Connection, role: Literal["billing"]) -> BillingConnector: ...
@overload
def connector_for(connection: Connection, role: str) -> AnyConnector: ...
def connector_for(connection: Connection, role: str) -> AnyConnector:
    if connection.role != role:
        raise ConnectionConfigError(
            f"connection {connection.id!r} is the {connection.role} connection to {connection.platform}, "
            f"not a {role} connection"
        )
    if connection.implementation != "http":
        raise ConnectionConfigError(
            f"connection {connection.id!r}: no {connection.implementation!r} connector "
            f"for {connection.platform}"
        )
    return _http_connector(connection, role)


# -- real connectors -----------------------------------------------------------------------
ContextFactory = Callable[[Connection], "ConnectorContext"]
_http_connectors: dict[str, tuple[Connection, AnyConnector]] = {}
_http_lock = threading.Lock()
_context_factory: ContextFactory | None = None


def _http_connector(connection: Connection, role: str) -> AnyConnector:
    with _http_lock:
        cached = _http_connectors.get(connection.id)
        if cached is not None and cached[0] == connection:
            return cached[1]
    connector = new_connector(connection, role, (_context_factory or default_context)(connection))
    with _http_lock:
        _http_connectors[connection.id] = (connection, connector)
    return connector


def new_connector(connection: Connection, role: str, context: ConnectorContext) -> AnyConnector:
    """A connector of its own (not the process's cached one), with the context given: what an
    operator's ``pshub connections check`` builds with the credentials it read."""
    from pshub.platforms import platform

    reference = platform(connection.platform).outbound.get(role)
    if reference is None:
        raise ConnectionConfigError(
            f"connection {connection.id!r}: {connection.platform} has no outbound {role} connector"
        )
    module, _, name = reference.partition(":")
    return cast(AnyConnector, getattr(import_module(module), name)(connection, context))


def default_context(connection: Connection) -> ConnectorContext:
    """Credentials from the connection's ``api`` secret (a JSON object of strings), shared state
    from ``CONNECTOR_STATE_TABLE``."""
    from pshub.connectors.http import ConnectorContext

    return ConnectorContext(credentials=api_credentials(connection))


def api_credentials(connection: Connection) -> dict[str, str]:
    import json

    from pshub.store.secrets import SecretsManagerSource

    global _secrets  # noqa: PLW0603 - one cached source per execution environment
    if _secrets is None:
        import boto3

        _secrets = SecretsManagerSource(lambda: boto3.client("secretsmanager"))
    try:
        document = json.loads(_secrets(connection.api_secret_name))
    except (LookupError, ValueError) as error:
        raise ConnectionConfigError(
            f"connection {connection.id!r}: its api secret {connection.api_secret_name} is not a JSON object "
            f"of strings ({type(error).__name__})"
        ) from None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise ConnectionConfigError(
            f"connection {connection.id!r}: its api secret {connection.api_secret_name} is not a JSON object "
            "of strings"
        )
    return document


_secrets: Any = None


def use_context(factory: ContextFactory | None) -> None:
    """Build real connectors with ``factory``'s context (the local runtime, tests); None: the default.
    Forgets the connectors built so far."""
    global _context_factory  # noqa: PLW0603 - process-wide, like the connectors it builds
    with _http_lock:
        _context_factory = factory
        _http_connectors.clear()


def reset_connectors() -> None:
    """Forget every real connector built in this process (tests)."""
    global _secrets  # noqa: PLW0603
    with _http_lock:
        _http_connectors.clear()
        _secrets = None


def connector_for_id(connections: Mapping[str, Connection], connection_id: str, role: str) -> AnyConnector:
    """``connector_for`` by connection id, with the connection registry given."""
    connection = connections.get(connection_id)
    if connection is None:
        raise UnknownConnection(f"no connection {connection_id!r} is configured")
    return connector_for(connection, role)


def _connections(connections: Mapping[str, Connection] | None) -> Mapping[str, Connection]:
    """The registry given, else the one every function receives in ``PSHUB_CONNECTIONS``."""
    global _env_registry  # noqa: PLW0603 - parsed once per distinct value, like a settings cache
    if connections is not None:
        return connections
    raw = os.environ.get(CONNECTIONS_ENV_VAR)
    if raw is None:
        raise ConnectionConfigError(f"no connection registry given and {CONNECTIONS_ENV_VAR} is not set")
    if _env_registry is None or _env_registry[0] != raw:
        _env_registry = (raw, load_registry(raw, CONNECTIONS_ENV_VAR))
    return _env_registry[1]


def erp(connection_id: str, connections: Mapping[str, Connection] | None = None) -> ErpConnector:
    return connector_for(_connection(connection_id, connections), "erp")


def psa(connection_id: str, connections: Mapping[str, Connection] | None = None) -> PsaConnector:
    return connector_for(_connection(connection_id, connections), "psa")


def crm(connection_id: str, connections: Mapping[str, Connection] | None = None) -> CrmConnector:
    return connector_for(_connection(connection_id, connections), "crm")


def billing(connection_id: str, connections: Mapping[str, Connection] | None = None) -> BillingConnector:
    return connector_for(_connection(connection_id, connections), "billing")


def _connection(connection_id: str, connections: Mapping[str, Connection] | None) -> Connection:
    connection = _connections(connections).get(connection_id)
    if connection is None:
        raise UnknownConnection(f"no connection {connection_id!r} is configured")
    return connection
