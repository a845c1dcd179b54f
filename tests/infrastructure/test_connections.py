"""Connections: the registry reaches the functions that need it; KMS-encrypted secrets by purpose.

Who may read which secret is proven on the template in ``test_secrets_least_privilege``.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from pshub.connections import api_secret_name, load_registry, parse_registry, signing_secret_name
from pshub_infra.constants import API_PLACEHOLDER_KEY, CONNECTIONS_ENV_VAR
from pshub_infra.constructs.connections import ConnectionSecrets
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import CONNECTIONS_FILE, PIPELINE, FunctionSpec

from .support import Synth, get_att

REGISTRY = parse_registry(json.loads(CONNECTIONS_FILE.read_text()))


def test_a_signing_secret_per_webhook_connection_and_api_credentials_for_every_one(synth: Synth) -> None:
    # Given the connection registry
    signing_key = synth.logical_id("Connections/Key/Resource")
    api_key = synth.logical_id("Connections/ApiKey/Resource")
    secrets = {
        s["Properties"]["Name"]: s["Properties"]
        for s in synth.resources("AWS::SecretsManager::Secret").values()
    }
    signing = {signing_secret_name(c.id) for c in REGISTRY.values() if c.receives_webhooks}
    api = {api_secret_name(c.id) for c in REGISTRY.values()}

    # Then there is a signing secret per connection that receives webhooks and an API
    # credentials secret per connection, named as pshub.connections expects
    assert signing and len(signing) < len(REGISTRY)
    assert set(secrets) == signing | api
    # And a signing secret starts as a long random placeholder, under the signing key
    for name in signing:
        assert secrets[name]["KmsKeyId"] == get_att(signing_key)
        assert secrets[name]["GenerateSecretString"]["PasswordLength"] >= 32
    # And API credentials start as a JSON object with one random placeholder field, under their own key
    for name in api:
        assert secrets[name]["KmsKeyId"] == get_att(api_key)
        generated = secrets[name]["GenerateSecretString"]
        assert generated["SecretStringTemplate"] == "{}"
        assert generated["GenerateStringKey"] == API_PLACEHOLDER_KEY
        assert generated["PasswordLength"] >= 32
    for key in ("Connections/Key/Resource", "Connections/ApiKey/Resource"):
        assert synth.props(key)["EnableKeyRotation"] is True


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_registry_env_only_where_declared(synth: Synth, spec: FunctionSpec) -> None:
    # Given a function
    variables = synth.props(f"Functions/{pascal_id(spec.key)}/Function/Resource")["Environment"]["Variables"]
    # Then it gets PSHUB_CONNECTIONS exactly when it uses connections: the registry itself for
    # the ingress, else the SSM parameter holding it, which its role may read
    if not spec.uses_connections:
        assert CONNECTIONS_ENV_VAR not in variables
    elif spec.config_in_environment:
        assert load_registry(variables[CONNECTIONS_ENV_VAR]) == REGISTRY
    else:
        assert variables[CONNECTIONS_ENV_VAR] == "ssm:/pshub/config/connections"
        [parameter] = [
            r["Properties"]
            for r in synth.resources("AWS::SSM::Parameter").values()
            if r["Properties"]["Name"] == "/pshub/config/connections"
        ]
        assert load_registry(parameter["Value"]) == REGISTRY
        readable = json.dumps(synth.policy_statements(f"Functions/{pascal_id(spec.key)}/Role/Resource"))
        assert "ssm:GetParameter" in readable


def test_api_credentials_are_granted_by_connection_role(tmp_path: Path) -> None:
    # Given a registry with a connection of a role the grant does not name (hr)
    document = json.loads(CONNECTIONS_FILE.read_text())
    document["connections"].append({"id": "zuora-hr", "platform": "zuora", "role": "hr"})
    connections_file = tmp_path / "connections.json"
    connections_file.write_text(json.dumps(document))
    stack = cdk.Stack(cdk.App(), "Probe")
    secrets = ConnectionSecrets(stack, "Connections", connections_file=connections_file)
    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))

    # When a role is granted the API credentials of the erp and crm connections
    secrets.grant_read_api(role, ("erp", "crm"))

    # Then the hr connection has API credentials too, and the role reads only erp and crm ones
    assert "zuora-hr" in secrets.api and "zuora-hr" not in secrets.signing
    template = Template.from_stack(stack).to_json()
    readable = {
        resource["Ref"]
        for policy in template["Resources"].values()
        if policy["Type"] == "AWS::IAM::Policy"
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in statement["Action"]
        for resource in (
            [statement["Resource"]] if isinstance(statement["Resource"], dict) else statement["Resource"]
        )
    }
    expected = {
        stack.resolve((secret.node.default_child).logical_id)  # type: ignore[union-attr]
        for connection_id, secret in secrets.api.items()
        if REGISTRY.get(connection_id) is not None and REGISTRY[connection_id].role in ("erp", "crm")
    }
    assert readable == expected
    # And an unknown role is refused at synth
    with pytest.raises(ValueError, match="no connection role"):
        secrets.grant_read_api(role, ("accounting",))


@pytest.mark.parametrize(
    ("change", "refusal"),
    [({"platform": "hubspot", "role": "psa"}, "kantata-acme: hubspot has no psa connector yet")],
)
def test_a_deployed_stack_refuses_a_connection_without_a_real_connector(
    tmp_path: Path, change: dict[str, str], refusal: str
) -> None:
    # Given the registry with the PSA connection made a stand-in
    document = json.loads(CONNECTIONS_FILE.read_text())
    [psa] = [c for c in document["connections"] if c["id"] == "kantata-acme"]
    psa.update(change)
    connections_file = tmp_path / "connections.json"
    connections_file.write_text(json.dumps(document))
    # When the stack is synthesized, Then it fails and names the connection and what to do
    stack = cdk.Stack(cdk.App(), "Probe")
    with pytest.raises(ValueError, match="a deployed stack needs a real connector") as refused:
        ConnectionSecrets(stack, "Connections", connections_file=connections_file)
    assert refusal in str(refused.value)
    assert "add the platform's outbound connector" in str(refused.value)


def test_every_configured_connection_of_a_workflow_role_has_its_platforms_connector() -> None:
    from pshub.platforms import platform

    sources = {"oracle-fusion-acme"}  # a relay pshub only hears from: no connector to call
    for connection in REGISTRY.values():
        assert connection.implementation == "http"
        if connection.role in {"erp", "psa", "crm", "billing"} and connection.id not in sources:
            assert connection.role in platform(connection.platform).outbound
    assert all(not platform(REGISTRY[c].platform).outbound for c in sources)


def test_a_source_only_connection_is_allowed_but_a_workflow_calling_it_is_told_why(tmp_path: Path) -> None:
    from pshub.connections import ConnectionConfigError
    from pshub.connectors.registry import new_connector

    # The configured registry synthesizes with its Oracle Fusion relay connection (erp, no connector)
    ConnectionSecrets(cdk.Stack(cdk.App(), "Probe"), "Connections", connections_file=CONNECTIONS_FILE)
    # and a workflow pointed at it fails by name, never on a substitute
    with pytest.raises(ConnectionConfigError, match="oracle_fusion has no outbound erp connector"):
        new_connector(REGISTRY["oracle-fusion-acme"], "erp", None)  # type: ignore[arg-type]
