"""The fakes the local runtime serves: one per connection with a real (``http``) connector.

Each platform's fake is ``pshub_local.platforms.<vendor>.fake``: a ``FakeApi`` subclass
built from the connection, and ``credentials_for_local(connection)``, the LOCAL-ONLY
credentials its connector is handed through the connection's ``api`` secret. The runtime
points the connection at the fake (``FakeApi.local_options``); nothing else differs from
a deployed stack.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from pshub.connections import Connection
from pshub.connectors.registry import CONNECTOR_ROLES, READER_ROLES
from pshub_local.fakes.server import FakeApi


@dataclass
class LocalFake:
    connection: Connection  # as configured
    fake: FakeApi
    credentials: dict[str, str]

    @property
    def served(self) -> Connection:
        """The connection pointed at the fake."""
        return replace(self.connection, options={**self.connection.options, **self.fake.local_options()})


def fake_module(platform: str) -> Any | None:
    name = f"pshub_local.platforms.{platform}.fake"
    return import_module(name) if find_spec(name) is not None else None


def build_fake(connection: Connection) -> LocalFake:
    module = fake_module(connection.platform)
    if module is None:
        raise LookupError(f"connection {connection.id!r}: no local fake for {connection.platform}")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, FakeApi)
        and value is not FakeApi
        and value.__module__ == module.__name__
        and getattr(value, "platform", None) == connection.platform
        and not inspect.isabstract(value)
    ]
    if not classes:
        raise LookupError(f"{module.__name__} defines no FakeApi for {connection.platform}")
    fake_class = _most_derived(classes)
    credentials = dict(module.credentials_for_local(connection))
    parameters = inspect.signature(fake_class).parameters
    kwargs: dict[str, Any] = {}
    if "credentials" in parameters:
        kwargs["credentials"] = credentials
    fake: FakeApi = fake_class(connection, **kwargs)  # type: ignore[call-arg, arg-type] # each vendor's own
    fake.seed_demo()
    return LocalFake(connection, fake, credentials)


def _most_derived(classes: list[type[FakeApi]]) -> type[FakeApi]:
    leaves = [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
    return leaves[0]


def needs_fake(connection: Connection) -> bool:
    """Whether pshub calls the connection's platform (it has an outbound connector for the role)."""
    from pshub.platforms import platform

    return (
        connection.implementation == "http"
        and connection.role in CONNECTOR_ROLES | READER_ROLES
        and connection.role in platform(connection.platform).outbound
    )


def start_fakes(connections: Mapping[str, Connection]) -> dict[str, LocalFake]:
    started: dict[str, LocalFake] = {}
    try:
        for connection in connections.values():
            if needs_fake(connection):
                local = build_fake(connection)
                local.fake.start()
                started[connection.id] = local
    except BaseException:
        stop_fakes(started)
        raise
    return started


def stop_fakes(fakes: Mapping[str, LocalFake]) -> None:
    for local in fakes.values():
        local.fake.stop()
