"""Which connector stands behind a connection: the platform's real one (built from its manifest,
once per process) or one sandbox per connection per process."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pshub.canonical.model import FinancialDimensions, Project
from pshub.connections import ConnectionConfigError
from pshub.connectors import registry
from pshub.connectors.registry import (
    connector_for,
    connector_for_id,
    reset_sandboxes,
    sandbox_for,
    sandbox_snapshot,
)
from pshub.connectors.sandbox.erp import SandboxErp
from pshub.errors import UnknownConnection
from tests.helpers import REPO, connections, sandboxed
from tests.unit.connectors.builders import client, project


def test_every_lookup_of_a_connection_returns_the_same_sandbox() -> None:
    # Given the configured connections
    config = sandboxed()
    # When two invocations ask for the ERP, by connection and by id
    first = connector_for(config["netsuite-acme"], "erp")
    second = registry.erp("netsuite-acme", config)
    third = connector_for_id(config, "netsuite-acme", "erp")
    # Then they share one sandbox, so what one created the next one sees
    assert first is second is third
    assert isinstance(first, SandboxErp)
    first.upsert_client(client())
    assert second.find_client(client_id="client_1") is not None


def test_helpers_read_the_registry_every_function_receives(monkeypatch: pytest.MonkeyPatch) -> None:
    document = json.loads((REPO / "infra/config/connections.json").read_text())
    for entry in document["connections"]:
        entry["implementation"] = "sandbox"
    monkeypatch.setenv("PSHUB_CONNECTIONS", json.dumps(document))
    assert registry.psa("kantata-acme") is connector_for(sandboxed()["kantata-acme"], "psa")
    assert registry.crm("hubspot-acme").platform == "hubspot"
    assert registry.billing("stripe-acme").connection_id == "stripe-acme"


def test_a_connection_is_only_used_in_its_own_role() -> None:
    config = sandboxed()
    with pytest.raises(ConnectionConfigError, match="'hubspot-acme' is the crm connection"):
        connector_for(config["hubspot-acme"], "erp")
    with pytest.raises(UnknownConnection):
        connector_for_id(config, "no-such-erp", "erp")


def test_reset_starts_again_from_seed_data() -> None:
    config = sandboxed()
    erp = registry.erp("netsuite-acme", config)
    erp.upsert_client(client())
    reset_sandboxes()
    fresh = registry.erp("netsuite-acme", config)
    assert fresh is not erp and fresh.find_client(client_id="client_1") is None
    assert registry.crm("hubspot-acme", config).get_opportunity("27182818284").contract is not None


def test_a_changed_configuration_is_another_system() -> None:
    netsuite = sandboxed()["netsuite-acme"]
    before = sandbox_for(netsuite)
    after = sandbox_for(
        replace(netsuite, options={**netsuite.options, "closed_periods_through": "2026-10-31"})
    )
    assert after is not before and sandbox_for(netsuite) is not after


def test_the_snapshot_can_show_every_configured_sandbox_before_any_call() -> None:
    snapshot = sandbox_snapshot(sandboxed())
    assert sorted(snapshot) == [
        "hubspot-acme",
        "kantata-acme",
        "netsuite-acme",
        "salesforce-acme",
        "stripe-acme",
    ]
    [deal] = snapshot["hubspot-acme"]["records"]["opportunities"]
    assert deal["native_id"] == "27182818284" and deal["linked_project"] is None
    assert json.loads(json.dumps(snapshot)) == snapshot


@pytest.mark.parametrize(
    ("crm_connection", "deal_id", "code"),
    [
        ("hubspot-acme", "27182818284", "PRJ-HARB-0001"),
        ("salesforce-acme", "0065e00000KxYzAAAV", "PRJ-ACMECONS-0002"),
    ],
)
def test_a_seeded_deal_provisions_end_to_end_and_the_snapshot_prints(
    crm_connection: str, deal_id: str, code: str
) -> None:
    # Given the configured connections and the deal behind a sample closed-won webhook
    config = sandboxed()
    crm = registry.crm(crm_connection, config)
    details = crm.get_opportunity(deal_id)
    contract = details.contract
    assert contract is not None and contract.rate_card is not None and contract.legal_entity is not None
    erp, psa = registry.erp("netsuite-acme", config), registry.psa("kantata-acme", config)
    # When each provisioning step runs against the connectors
    erp.upsert_client(details.client)
    service_line = details.opportunity.service_line or "consulting"
    shell = project(
        code,
        id=f"project_{code}",
        name=details.opportunity.name,
        client_id=details.client.id,
        legal_entity=contract.legal_entity,
        service_line=service_line,
        budget=contract.total_value,
        dimensions=FinancialDimensions(legal_entity=contract.legal_entity, service_line="CON"),
    )
    assert isinstance(shell, Project)
    erp_id = erp.create_project(shell)
    template = psa.template_for(service_line)
    assert template == "TPL-CONSULT"
    psa_id = psa.create_project_from_template(shell, template)
    psa.push_rate_card(psa_id, contract.rate_card)
    erp.create_billing_schedule(erp_id, contract)
    crm.link_project(deal_id, code, {"netsuite-acme": erp_id, "kantata-acme": psa_id})
    # Then the snapshot shows it everywhere, is JSON, and shows no rates
    snapshot = sandbox_snapshot()
    printed = json.dumps(snapshot)
    assert snapshot["netsuite-acme"]["records"]["projects"][0]["code"] == code
    assert snapshot["kantata-acme"]["records"]["projects"][0]["rate_card_roles"]
    linked = [o for o in snapshot[crm_connection]["records"]["opportunities"] if o["linked_project"]]
    assert [o["native_id"] for o in linked] == [deal_id]
    assert all(str(rate.hourly_rate.amount) not in printed for rate in contract.rate_card.rates)


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
