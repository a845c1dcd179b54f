"""The connection registry and the connections' Secrets Manager secrets, one per purpose.

The registry (``infra/config/connections.json``) is configuration, not a secret: it
reaches the functions as the ``PSHUB_CONNECTIONS`` variable. Each connection has up to
two secrets, both issued by the platform, so that a function is granted only the one it
needs: the webhook signing secret (``pshub/connections/<id>/signing``, only for a
connection whose platform sends webhooks; read by the ingress) and the API credentials
(``pshub/connections/<id>/api``, every connection: a JSON object of the platform's
credential fields; read by the functions that call the platform). The stack creates
them with a generated placeholder and an operator puts the real value there. Each
purpose has its own KMS key, so a key policy never lets a role decrypt the other kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from pshub.connections import ROLES, Connection, api_secret_name, parse_registry, signing_secret_name
from pshub.settings import pack_config
from pshub_infra.constants import API_PLACEHOLDER_KEY, PLACEHOLDER_SECRET_LENGTH
from pshub_infra.constructs.acknowledgments import acknowledge

# Lambda allows 4 KB for all variables of a function together; leave room for the rest.
MAX_REGISTRY_ENV_BYTES = 3 * 1024


def refuse_stand_ins(connections: Iterable[Connection], source: str) -> None:
    """A deployed stack talks to real systems only: every connection of a role the workflows
    call has its platform's real connector for that role. A connection to a platform pshub only
    hears from (it pushes, and pshub has no connector to it at all, as Oracle Fusion's relay) is
    a source, not a stand-in: a workflow configured to call it fails on ``connector_for``'s
    error naming it, never on a substitute."""
    from pshub.connectors.registry import CONNECTOR_ROLES
    from pshub.platforms import platform

    def source_only(connection: Connection) -> bool:
        manifest = platform(connection.platform)
        return manifest.inbound is not None and not manifest.outbound

    problems = [
        f"{c.id}: {c.platform} has no {c.role} connector yet"
        for c in connections
        if c.role in CONNECTOR_ROLES and c.role not in platform(c.platform).outbound and not source_only(c)
    ]
    if problems:
        raise ValueError(
            f"{source}: a deployed stack needs a real connector behind every connection ({'; '.join(problems)}); "
            "add the platform's outbound connector for the role, or configure another platform"
        )


class ConnectionSecrets(Construct):
    """``self.signing`` and ``self.api`` are indexed by connection id; ``self.registry_json`` is the env value.

    ``self.signing`` has the connections that receive webhooks; ``self.api`` has every one.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, connections_file: Path, stage: str = ""
    ) -> None:
        super().__init__(scope, construct_id)
        document = json.loads(connections_file.read_text(encoding="utf-8"))
        self.registry = parse_registry(document, source=str(connections_file))
        refuse_stand_ins(self.registry.values(), str(connections_file))
        # Packed (zlib, base64) once over 1 KB: ``load_registry`` unpacks it.
        self.registry_json = pack_config(json.dumps(document, separators=(",", ":"), ensure_ascii=False))
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
        self.api_key = kms.Key(
            self,
            "ApiKey",
            description="Encrypts pshub's connection API credentials",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.signing: dict[str, secretsmanager.Secret] = {}
        self.api: dict[str, secretsmanager.Secret] = {}
        for connection in self.registry.values():
            # One scope per connection: the acknowledgment below covers both of its secrets.
            owner = Construct(self, connection.id)
            if connection.receives_webhooks:
                self.signing[connection.id] = secretsmanager.Secret(
                    owner,
                    "Signing",
                    secret_name=signing_secret_name(connection.id, stage),
                    description=(
                        f"Webhook signing secret of connection {connection.id} ({connection.platform}); "
                        "replace the generated placeholder with the platform's value after deploy"
                    ),
                    encryption_key=self.key,
                    generate_secret_string=secretsmanager.SecretStringGenerator(
                        password_length=PLACEHOLDER_SECRET_LENGTH, exclude_punctuation=True
                    ),
                )
            self.api[connection.id] = secretsmanager.Secret(
                owner,
                "Api",
                secret_name=api_secret_name(connection.id, stage),
                description=(
                    f"API credentials of connection {connection.id} ({connection.platform}): a JSON "
                    "object; fill in with the platform's credentials (replace the whole placeholder "
                    f'object {{"{API_PLACEHOLDER_KEY}": ...}}) after deploy'
                ),
                encryption_key=self.api_key,
                # A JSON object from the start, so a reader never has to guess the shape.
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template="{}",  # noqa: S106 - the shape, not a secret
                    generate_string_key=API_PLACEHOLDER_KEY,
                    password_length=PLACEHOLDER_SECRET_LENGTH,
                    exclude_punctuation=True,
                ),
            )
            acknowledge(
                owner,
                "AwsSolutions-SMG4",
                "The value is issued by the platform (a webhook signing secret or API credentials) and "
                "rotated in the platform's console, then pasted here by an operator; a Secrets Manager "
                "rotation function cannot mint a value the platform would accept.",
            )

    def grant_read_signing(self, grantee: iam.IGrantable) -> None:
        """Read every webhook signing secret, one grant per secret ARN (the ingress)."""
        for secret in self.signing.values():
            secret.grant_read(grantee)

    def grant_read_api(self, grantee: iam.IGrantable, roles: Iterable[str]) -> None:
        """Read the API credentials of the connections in ``roles`` only, one grant per secret ARN."""
        wanted = set(roles)
        unknown = wanted - ROLES
        if unknown:
            raise ValueError(f"no connection role {sorted(unknown)} (one of {sorted(ROLES)})")
        for connection_id, secret in self.api.items():
            if self.registry[connection_id].role in wanted:
                secret.grant_read(grantee)
