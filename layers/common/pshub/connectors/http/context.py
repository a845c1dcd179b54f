"""What a platform's outbound factory receives, and the one way it builds its ``ApiClient``.

A platform package declares ``outbound={"erp": "pshub.platforms.<vendor>.outbound:connect"}``
in its manifest; ``connect(connection, context)`` returns the role's connector. The
context carries the connection's API credentials (its ``api`` secret, a JSON object),
the shared state (tokens, rate cells) and, for tests, a transport, a clock and a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.http.auth import Auth, OAuth2, TokenRequest, token_fetcher
from pshub.connectors.http.client import ApiClient, Budget, Describe, describe_generic, pooled_client
from pshub.connectors.http.limits import RateLimiter
from pshub.connectors.http.settings import ApiSettings
from pshub.connectors.http.state import SharedState, shared_state
from pshub.connectors.http.tokens import SharedTokens


@dataclass(frozen=True)
class ConnectorContext:
    credentials: Mapping[str, str] = field(repr=False)
    state: SharedState = field(default_factory=shared_state)
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def credential(self, connection: Connection, name: str) -> str:
        """A required credential field; a configuration error naming the field (never its value)."""
        value = self.credentials.get(name)
        if not isinstance(value, str) or not value:
            raise ConnectionConfigError(
                f"connection {connection.id!r}: its api secret has no {name!r} (set it in {connection.api_secret_name})"
            )
        return value


def api_client(
    connection: Connection,
    context: ConnectorContext,
    auth: Auth,
    *,
    settings: ApiSettings | None = None,
    describe: Describe = describe_generic,
    default_retry_after_s: float = 1.0,
    refresh_on_401: bool = True,
    mask_fields: tuple[str, ...] = (),
    budget: Budget | None = None,
) -> ApiClient:
    """The connection's client: its settings, the shared limiter, the platform's error reader."""
    settings = settings or ApiSettings.of(connection.id, connection.options)
    limiter = RateLimiter(
        context.state,
        connection.id,
        rate_per_s=settings.paced_rate_per_s,
        burst=settings.burst,
        daily_quota=settings.daily_quota,
        max_wait_s=settings.max_wait_s,
        clock=context.clock,
        sleep=context.sleep,
    )
    return ApiClient(
        platform=connection.platform,
        connection_id=connection.id,
        settings=settings,
        auth=auth,
        limiter=limiter,
        describe=describe,
        default_retry_after_s=default_retry_after_s,
        refresh_on_401=refresh_on_401,
        mask_fields=mask_fields,
        budget=budget,
        transport=context.transport,
        sleep=context.sleep,
    )


def oauth2(
    connection: Connection,
    context: ConnectorContext,
    grant: TokenRequest,
    *,
    settings: ApiSettings | None = None,
    refresh_margin_s: float = 60.0,
) -> OAuth2:
    """Bearer tokens from ``grant``, shared by every invocation of the connection."""
    settings = settings or ApiSettings.of(connection.id, connection.options)
    fetch = token_fetcher(grant, pooled_client(settings, context.transport), clock=context.clock)
    tokens = SharedTokens(
        context.state,
        connection.id,
        fetch,
        refresh_margin_s=refresh_margin_s,
        clock=context.clock,
        sleep=context.sleep,
    )
    return OAuth2(tokens)
