"""Connection signing secrets from Secrets Manager, cached in the execution environment."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

# Five minutes: a rotated vendor secret is picked up quickly, and a warm function
# makes no Secrets Manager call on the ack path.
SECRET_CACHE_SECONDS = 300


class SecretsManagerSource:
    def __init__(self, provider: parameters.SecretsProvider | None = None) -> None:
        self._provider = provider or parameters.SecretsProvider()

    def __call__(self, name: str) -> str:
        value = self._provider.get(name, max_age=SECRET_CACHE_SECONDS)
        if not isinstance(value, str) or not value:
            raise LookupError(f"secret {name!r} is empty or not a string")
        return value
