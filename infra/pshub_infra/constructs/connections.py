"""The connection registry and one Secrets Manager secret per connection.

The registry (``infra/config/connections.json``) is configuration, not a secret: it
reaches the functions as the ``PSHUB_CONNECTIONS`` variable. Each connection's
secret (webhook signing secret, API credentials) is issued by the platform; the stack
creates it with a random placeholder and an operator puts the real value there.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from pshub.connections import parse_registry, secret_name
from pshub_infra.constants import PLACEHOLDER_SECRET_LENGTH
from pshub_infra.constructs.acknowledgments import acknowledge

# Lambda allows 4 KB for all variables of a function together; leave room for the rest.
MAX_REGISTRY_ENV_BYTES = 3 * 1024


class ConnectionSecrets(Construct):
    """``self.secrets`` is indexed by connection id; ``self.registry_json`` is the env value."""

    def __init__(self, scope: Construct, construct_id: str, *, connections_file: Path) -> None:
        super().__init__(scope, construct_id)
        document = json.loads(connections_file.read_text(encoding="utf-8"))
        registry = parse_registry(document, source=str(connections_file))
        self.registry_json = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        if len(self.registry_json.encode()) > MAX_REGISTRY_ENV_BYTES:
            raise ValueError(
                f"{connections_file}: the compact registry is {len(self.registry_json)} bytes, more than "
                f"{MAX_REGISTRY_ENV_BYTES} fit in a Lambda environment; move it to SSM or S3"
            )

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts pshub's connection signing secrets",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for connection in registry.values():
            secret = secretsmanager.Secret(
                self,
                connection.id,
                secret_name=secret_name(connection.id),
                description=(
                    f"Secret of connection {connection.id} ({connection.platform}): the platform's webhook "
                    "signing secret or API credentials; replace the generated placeholder after deploy"
                ),
                encryption_key=self.key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=PLACEHOLDER_SECRET_LENGTH, exclude_punctuation=True
                ),
            )
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "The value is issued by the platform (a webhook signing secret or API credentials) and "
                "rotated in the platform's console, then pasted here by an operator; a Secrets Manager "
                "rotation function cannot mint a value the platform would accept.",
            )
            self.secrets[connection.id] = secret

    def grant_read(self, grantee: iam.IGrantable) -> None:
        for secret in self.secrets.values():
            secret.grant_read(grantee)
