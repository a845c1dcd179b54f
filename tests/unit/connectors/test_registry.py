"""Which connector stands behind a connection: its platform's real one, built from the manifest
once per process, with the connection's credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pshub.connections import ConnectionConfigError, parse_registry
from pshub.connectors import registry
from pshub.connectors.http import ConnectorContext
from pshub.connectors.registry import connector_for, connector_for_id
from pshub.errors import UnknownConnection
from tests.helpers import REPO, connections


@pytest.fixture(autouse=True)
def _fresh_connectors() -> Iterator[None]:
    registry.reset_connectors()
    yield
    registry.use_context(None)
    registry.reset_connectors()


def _local_credentials(connection: object) -> ConnectorContext:
    return ConnectorContext(
        credentials={"access_token": "local-test-token", "secret_key": "sk_test_localregistrytest"}
    )


def test_a_connection_is_only_used_in_its_own_role() -> None:
    config = connections()
    with pytest.raises(ConnectionConfigError, match="'hubspot-acme' is the crm connection"):
        connector_for(config["hubspot-acme"], "erp")
    with pytest.raises(UnknownConnection):
        connector_for_id(config, "no-such-erp", "erp")


def test_helpers_read_the_registry_every_function_receives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSHUB_CONNECTIONS", (REPO / "infra/config/connections.json").read_text())
    registry.use_context(_local_credentials)
    assert registry.psa("kantata-acme") is connector_for(connections()["kantata-acme"], "psa")
    assert registry.billing("stripe-acme").connection_id == "stripe-acme"
    assert registry.billing("stripe-acme").platform == "stripe"


def test_an_implementation_other_than_the_real_connector_is_refused_when_the_registry_is_read() -> None:
    document = json.loads((REPO / "infra/config/connections.json").read_text())
    document["connections"][0]["implementation"] = "sandbox"
    with pytest.raises(
        ConnectionConfigError, match=r"implementation: 'sandbox' is not available \(one of \['http'\]\)"
    ):
        parse_registry(document)


def test_an_http_connection_gets_its_platforms_real_connector_once_per_process() -> None:
    from pshub.connectors.http import ConnectorContext
    from pshub.platforms.kantata.outbound import KantataPsa

    config = connections()
    built: list[str] = []

    def context(connection: object) -> ConnectorContext:
        built.append(getattr(connection, "id", ""))
        return ConnectorContext(credentials={"access_token": "local-test-token"})

    registry.use_context(context)
    try:
        first = connector_for(config["kantata-acme"], "psa")
        second = registry.psa("kantata-acme", config)
        assert isinstance(first, KantataPsa)
        assert first is second  # its pooled connections and tokens are reused
        assert built == ["kantata-acme"]
        # A changed configuration is another system: a new connector
        moved = replace(
            config["kantata-acme"],
            options={**config["kantata-acme"].options, "base_url": "https://eu.mavenlink.example/api/v1"},
        )
        assert connector_for(moved, "psa") is not first
    finally:
        registry.use_context(None)


def test_an_http_connection_without_credentials_says_which_field_and_where() -> None:
    from pshub.connectors.http import ConnectorContext

    registry.use_context(lambda connection: ConnectorContext(credentials={}))
    try:
        with pytest.raises(
            ConnectionConfigError, match=r"'access_token'.*pshub/connections/kantata-acme/api"
        ):
            connector_for(connections()["kantata-acme"], "psa")
    finally:
        registry.use_context(None)
