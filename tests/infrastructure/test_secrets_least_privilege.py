"""Connection secrets, least privilege: proven on the synthesized template's IAM policies.

The expectations come from the connection registry (``infra/config/connections.json``) and
the purpose of each secret, not from the topology: the function behind the webhook route
reads every webhook signing secret and no API credentials; a function whose code calls
the connector registry reads the API credentials of the connections of the roles that
registry serves, and no signing secret; every other role reads no connection secret, and
no role may read secrets by a wildcard. Each statement's ``Resource`` is resolved
(``Ref``, ``Fn::Join``, ``Fn::Sub``, pseudo-parameters) to an ARN pattern and matched, as
IAM would, against the ARN of every secret in the template.
"""

from __future__ import annotations

import ast
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, get_args

import pytest

from pshub.connections import parse_registry
from pshub.connectors.registry import READER_ROLES, Role
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE

from .support import REPO_ROOT, Synth, as_list

REGISTRY = parse_registry(json.loads((REPO_ROOT / "infra" / "config" / "connections.json").read_text()))
SIGNING = {f"pshub/connections/{c.id}/signing" for c in REGISTRY.values() if c.receives_webhooks}
API = {f"pshub/connections/{c.id}/api" for c in REGISTRY.values()}
# The roles the connector registry builds connectors for: what a caller of it may need.
# (and the roles whose platforms are read where they cannot push: pollers, report reads)
CONNECTOR_ROLES = frozenset(get_args(Role)) | READER_ROLES
CONNECTOR_API = {f"pshub/connections/{c.id}/api" for c in REGISTRY.values() if c.role in CONNECTOR_ROLES}
WEBHOOK_ROUTE = "POST /webhooks/{connection}"
READ_SECRET = "secretsmanager:GetSecretValue"
DECRYPT = "kms:Decrypt"

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "pshub",
}


def secret_arn(name: str) -> str:
    # Secrets Manager appends a hyphen and six random characters to the name.
    return f"arn:aws:secretsmanager:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:secret:{name}-Ab12Cd"


class Resolver:
    """Resolves template expressions to strings; a secret's ``Ref`` is its ARN (from its name)."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, dict[str, Any]] = template["Resources"]

    def __call__(self, node: Any) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                return f"<{argument[0]}.{argument[1]}>"
            if function == "Fn::Join":
                separator, parts = argument
                return str(separator).join(self(part) for part in parts)
            if function == "Fn::Sub" and isinstance(argument, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.ref(m.group(1)), argument)
        raise AssertionError(f"cannot resolve {node!r}")

    def ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        resource = self.resources[name]
        if resource["Type"] == "AWS::SecretsManager::Secret":
            return secret_arn(resource["Properties"]["Name"])
        return f"<{name}>"


def allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement grants ``action``, wildcards included (IAM actions ignore case)."""
    assert "NotAction" not in statement and "NotResource" not in statement, statement
    return statement["Effect"] == "Allow" and any(
        fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement["Action"])
    )


def role_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    """Every identity-policy statement of a role: inline, attached policies and managed ones."""
    role = synth.template["Resources"][role_id]["Properties"]
    # An AWS-managed policy cannot be read from the template: none may be attached.
    assert not role.get("ManagedPolicyArns"), (role_id, role.get("ManagedPolicyArns"))
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in synth.resources(type_).values():
            if {"Ref": role_id} in policy["Properties"].get("Roles", []):
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def secret_names(synth: Synth) -> dict[str, str]:
    """Logical id -> name of every secret in the template."""
    return {lid: r["Properties"]["Name"] for lid, r in synth.resources("AWS::SecretsManager::Secret").items()}


def readable_secrets(synth: Synth, role_id: str) -> set[str]:
    """Names of the template's secrets whose value the role may read."""
    resolve = Resolver(synth.template)
    patterns = [
        resolve(resource)
        for statement in role_statements(synth, role_id)
        if allows(statement, READ_SECRET)
        for resource in as_list(statement["Resource"])
    ]
    return {
        name
        for name in secret_names(synth).values()
        if any(fnmatchcase(secret_arn(name), pattern) for pattern in patterns)
    }


def function_role(synth: Synth, function_id: str) -> str:
    role = synth.template["Resources"][function_id]["Properties"]["Role"]
    assert "Fn::GetAtt" in role, role
    role_id: str = role["Fn::GetAtt"][0]
    return role_id


def ingress_function(synth: Synth) -> str:
    """The function behind the webhook route (route -> integration -> function)."""
    (route,) = [
        r
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == WEBHOOK_ROUTE
    ]
    target = route["Properties"]["Target"]["Fn::Join"][1]
    (integration_ref,) = [part["Ref"] for part in target if isinstance(part, dict)]
    uri = synth.template["Resources"][integration_ref]["Properties"]["IntegrationUri"]
    function_id: str = uri["Fn::GetAtt"][0]
    return function_id


def _calls_connector_registry(code_dir: Path) -> bool:
    for source in code_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("pshub.connectors.registry"):
                    return True
                if node.module == "pshub.connectors" and any(a.name == "registry" for a in node.names):
                    return True
            if isinstance(node, ast.Import) and any(
                a.name.startswith("pshub.connectors.registry") for a in node.names
            ):
                return True
    return False


def connector_functions(synth: Synth) -> set[str]:
    """Functions whose deployed code (the asset CDK packaged) imports the connector registry."""
    found = set()
    for function_id, function in synth.resources("AWS::Lambda::Function").items():
        asset = function.get("Metadata", {}).get("aws:asset:path")
        assert asset, f"{function_id} has no asset path to read its code from"
        if _calls_connector_registry(synth.outdir / asset):
            found.add(function_id)
    return found


def test_the_template_has_the_secrets_the_registry_implies(synth: Synth) -> None:
    # Given the registry, Then the template holds one signing secret per webhook connection
    # and one API credentials secret per connection, and the analysis below has both kinds
    assert set(secret_names(synth).values()) == SIGNING | API
    assert SIGNING and API and CONNECTOR_API
    # And the functions this test reasons about exist
    assert ingress_function(synth) not in connector_functions(synth)
    assert connector_functions(synth), "no function calls the connector registry"


def test_ingress_reads_every_signing_secret_and_no_api_credentials(synth: Synth) -> None:
    # Given the role of the function behind POST /webhooks/{connection}
    role_id = function_role(synth, ingress_function(synth))
    # When its readable secrets are resolved from its policies
    readable = readable_secrets(synth, role_id)
    # Then they are exactly the signing secrets: no API credentials
    assert readable & API == set(), f"the ingress may read API credentials: {sorted(readable & API)}"
    assert readable == SIGNING


def test_connector_callers_read_only_the_api_credentials_of_their_roles(synth: Synth) -> None:
    for function_id in sorted(connector_functions(synth)):
        # Given the role of a function that calls the connector registry
        readable = readable_secrets(synth, function_role(synth, function_id))
        # Then it reads no signing secret, and the API credentials of the connector roles only
        assert readable & SIGNING == set(), (
            f"{function_id} may read signing secrets: {sorted(readable & SIGNING)}"
        )
        # (the API credentials of exactly the connection roles its spec declares it calls)
        [spec] = [
            f for f in PIPELINE.functions if function_id.startswith(f"Functions{pascal_id(f.key)}Function")
        ]
        assert spec.reads_api_credentials_for, function_id
        assert set(spec.reads_api_credentials_for) <= CONNECTOR_ROLES
        declared = {
            f"pshub/connections/{c.id}/api"
            for c in REGISTRY.values()
            if c.role in spec.reads_api_credentials_for
        }
        assert readable == declared, function_id


def test_no_other_role_reads_a_connection_secret(synth: Synth) -> None:
    entitled = {function_role(synth, ingress_function(synth))} | {
        function_role(synth, function_id) for function_id in connector_functions(synth)
    }
    for role_id in sorted(set(synth.resources("AWS::IAM::Role")) - entitled):
        assert readable_secrets(synth, role_id) == set(), role_id


@pytest.mark.parametrize("action", [READ_SECRET, "secretsmanager:DescribeSecret"])
def test_no_role_reads_secrets_by_wildcard(synth: Synth, action: str) -> None:
    # Given every role in the template, Then no statement allowing the action names "*" or a
    # pattern: each secret is granted by its own ARN
    resolve = Resolver(synth.template)
    for role_id in synth.resources("AWS::IAM::Role"):
        for statement in role_statements(synth, role_id):
            if allows(statement, action):
                resources = [resolve(r) for r in as_list(statement["Resource"])]
                wild = [r for r in resources if "*" in r or "?" in r]
                assert wild == [], (role_id, statement)
                assert all(r.startswith("arn:aws:secretsmanager:") for r in resources), (role_id, resources)


def test_each_kind_of_secret_is_decrypted_only_by_its_readers(synth: Synth) -> None:
    # Given the KMS key of each kind of secret (as the template's secrets name them)
    names = secret_names(synth)
    keys_of: dict[str, set[str]] = {"signing": set(), "api": set()}
    for lid, name in names.items():
        key = synth.template["Resources"][lid]["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
        keys_of["signing" if name in SIGNING else "api"].add(key)
    # Then the two kinds never share a key
    assert keys_of["signing"].isdisjoint(keys_of["api"])

    ingress_role = function_role(synth, ingress_function(synth))
    connector_roles = {function_role(synth, f) for f in connector_functions(synth)}
    for kind, expected in (("signing", {ingress_role}), ("api", connector_roles)):
        for key in keys_of[kind]:
            # And only the readers of that kind may decrypt with its key, through Secrets Manager
            statements = synth.template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
            decrypters = {
                principal["Fn::GetAtt"][0]
                for s in statements
                if allows(s, DECRYPT)
                for principal in as_list(s["Principal"].get("AWS", []))
                if isinstance(principal, dict) and "Fn::GetAtt" in principal
            }
            assert decrypters == expected, (kind, key)
            for role_id in set(synth.resources("AWS::IAM::Role")) - expected:
                granted = [
                    s
                    for s in role_statements(synth, role_id)
                    if allows(s, DECRYPT) and {"Fn::GetAtt": [key, "Arn"]} in as_list(s["Resource"])
                ]
                assert granted == [], (role_id, key)
