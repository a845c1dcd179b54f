"""Connections: the registry reaches the functions that need it; one KMS-encrypted secret per connection."""

from __future__ import annotations

import json

import pytest

from pshub.connections import load_registry, parse_registry, secret_name
from pshub_infra.constants import CONNECTIONS_ENV_VAR
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import CONNECTIONS_FILE, PIPELINE, FunctionSpec

from .support import Synth, as_list, get_att, ref, statements_allowing

REGISTRY = parse_registry(json.loads(CONNECTIONS_FILE.read_text()))


def test_one_secret_per_connection_encrypted_with_the_rotating_key(synth: Synth) -> None:
    # Given the connection registry
    key_id = synth.logical_id("Connections/Key/Resource")
    secrets = synth.resources("AWS::SecretsManager::Secret")

    # Then there is exactly one secret per connection, named as pshub.connections expects
    assert sorted(s["Properties"]["Name"] for s in secrets.values()) == sorted(
        secret_name(conn_id) for conn_id in REGISTRY
    )
    # And each is encrypted with the customer-managed key and starts with a generated placeholder
    for secret in secrets.values():
        assert secret["Properties"]["KmsKeyId"] == get_att(key_id)
        assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert synth.props("Connections/Key/Resource")["EnableKeyRotation"] is True


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_registry_env_only_where_declared(synth: Synth, spec: FunctionSpec) -> None:
    # Given a function
    variables = synth.props(f"Functions/{pascal_id(spec.key)}/Function/Resource")["Environment"]["Variables"]
    # Then it gets PSHUB_CONNECTIONS exactly when it uses connections, and the value is the registry
    if spec.uses_connections:
        assert load_registry(variables[CONNECTIONS_ENV_VAR]) == REGISTRY
    else:
        assert CONNECTIONS_ENV_VAR not in variables


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_only_connection_users_can_read_the_secrets(synth: Synth, spec: FunctionSpec) -> None:
    # Given a function's role
    role_path = f"Functions/{pascal_id(spec.key)}/Role/Resource"
    reads = statements_allowing(synth.policy_statements(role_path), "secretsmanager:GetSecretValue")
    secret_refs = [ref(synth.logical_id(f"Connections/{conn_id}/Resource")) for conn_id in REGISTRY]

    # Then it may read every connection secret if it uses connections, and none otherwise
    readable = [resource for s in reads for resource in as_list(s["Resource"])]
    if spec.uses_connections:
        assert sorted(map(json.dumps, readable)) == sorted(map(json.dumps, secret_refs))
    else:
        assert readable == []

    # And decryption through Secrets Manager is granted on the key for exactly those roles
    key_statements = synth.props("Connections/Key/Resource")["KeyPolicy"]["Statement"]
    role_arn = get_att(synth.logical_id(role_path))
    decrypt_for_role = [
        s
        for s in key_statements
        if role_arn in as_list(s["Principal"].get("AWS")) and "kms:Decrypt" in as_list(s["Action"])
    ]
    assert bool(decrypt_for_role) == spec.uses_connections
