"""Connection webhook signing secrets from Secrets Manager, cached in the execution environment."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Five minutes: a rotated vendor secret is picked up quickly, and a warm function
# makes no Secrets Manager call on the ack path.
SECRET_CACHE_SECONDS = 300


class SecretsManagerSource:
    """Built at init, connected on the first lookup (the first webhook of a connection
    needs its secret anyway): init builds no AWS client and imports no provider."""

    def __init__(self, client: Callable[[], SecretsManagerClient]) -> None:
        # A client from the caller's session shares its loaded endpoint and service
        # data: ~7 ms to build instead of ~70 ms for a provider with its own session.
        self._client = client
        self._provider: SecretsProvider | None = None
        self._cache: dict[str, tuple[str, float]] = {}

    def __call__(self, name: str) -> str:
        # A dictionary and a clock read on the warm path: the provider's own cache costs
        # ~2 us a lookup (key building, datetime arithmetic), a twentieth of the ack path.
        cached = self._cache.get(name)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(boto3_client=self._client())
        value = self._provider.get(name, max_age=SECRET_CACHE_SECONDS)
        if not isinstance(value, str) or not value:
            raise LookupError(f"secret {name!r} is empty or not a string")
        self._cache[name] = (value, now + SECRET_CACHE_SECONDS)
        return value
