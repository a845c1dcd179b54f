"""Connection signing secrets from Secrets Manager, cached in the execution environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Five minutes: a rotated vendor secret is picked up quickly, and a warm function
# makes no Secrets Manager call on the ack path.
SECRET_CACHE_SECONDS = 300


class SecretsManagerSource:
    def __init__(self, client: SecretsManagerClient) -> None:
        # A client from the caller's session shares its loaded endpoint and service
        # data: ~7 ms to build instead of ~70 ms for a provider with its own session.
        self._provider = parameters.SecretsProvider(boto3_client=client)

    def __call__(self, name: str) -> str:
        value = self._provider.get(name, max_age=SECRET_CACHE_SECONDS)
        if not isinstance(value, str) or not value:
            raise LookupError(f"secret {name!r} is empty or not a string")
        return value
