"""How a connector proves who it is, per platform: one small class per scheme.

- ``HeaderAuth``: a static credential in a header (Stripe's secret key as a bearer
  token, Kantata's and HubSpot private apps' bearer tokens). Nothing to refresh: a
  401 means the credential was revoked, a permanent error a person fixes.
- ``OAuth2``: a bearer token from a token endpoint, shared and refreshed through
  ``tokens.SharedTokens``; the grants are functions building the token request:
  ``client_credentials``, ``salesforce_jwt_bearer`` (RS256 assertion, no refresh
  token), ``netsuite_m2m`` (client credentials with a PS256 client assertion signed by
  the certificate uploaded to NetSuite) and ``refresh_token`` (rotating).
- ``NetSuiteTba``: OAuth 1.0a token-based auth, HMAC-SHA256, every request signed
  (``oauthlib``), realm = the account id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from pshub.connections import ConnectionConfigError
from pshub.connectors.http.settings import ApiSettings, origin_of
from pshub.connectors.http.tokens import SharedTokens, Token

TokenRequest = Callable[[Token | None], tuple[str, dict[str, str]]]  # -> (token URL, form fields)


class Auth(Protocol):
    def authorize(self, request: httpx.Request) -> None:
        """Add the credential to ``request`` (headers; a signature over its URL)."""
        ...

    def refused(self, request: httpx.Request) -> bool:
        """The platform answered 401 to ``request``: True if a retry with a new credential may pass."""
        ...


class HeaderAuth:
    def __init__(self, value: str, header: str = "Authorization", scheme: str = "Bearer") -> None:
        if not value:
            raise ValueError("an empty credential")
        self._header = header
        self._value = f"{scheme} {value}" if scheme else value

    def authorize(self, request: httpx.Request) -> None:
        request.headers[self._header] = self._value

    def refused(self, request: httpx.Request) -> bool:
        return False


class OAuth2:
    def __init__(self, tokens: SharedTokens) -> None:
        self.tokens = tokens

    def authorize(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self.tokens.get().value}"

    def refused(self, request: httpx.Request) -> bool:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.tokens.refused(sent)
        return True

    @property
    def extra(self) -> Mapping[str, str]:
        return self.tokens.get().extra


class TokenEndpointRefused(Exception):
    """The token endpoint refused the credentials (``invalid_client``, ``invalid_grant``...)."""

    def __init__(self, status: int, error: str | None, description: str | None) -> None:
        super().__init__(f"token endpoint answered {status} {error or ''}".strip())
        self.status = status
        self.error = error
        self.description = description


class TokenEndpointUnavailable(Exception):
    """The token endpoint did not answer usefully (timeout, 5xx): try again later."""


def token_fetcher(
    build: TokenRequest,
    http: httpx.Client,
    *,
    clock: Callable[[], float] = time.time,
) -> Callable[[Token | None], Token]:
    """A ``SharedTokens`` fetch that POSTs the grant ``build`` makes (form-encoded)."""

    def fetch(previous: Token | None) -> Token:
        url, form = build(previous)
        origin_of(url, "token endpoint")  # https only (loopback aside), no credentials in the URL
        try:
            response = http.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise TokenEndpointUnavailable(f"token endpoint: {type(error).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TokenEndpointUnavailable(f"token endpoint answered {response.status_code}")
        document = _json(response)
        if response.status_code != 200 or not isinstance(document.get("access_token"), str):
            raise TokenEndpointRefused(
                response.status_code, _text(document.get("error")), _text(document.get("error_description"))
            )
        expires_in = document.get("expires_in")
        lifetime = (
            float(expires_in) if isinstance(expires_in, int | float | str) and str(expires_in) else None
        )
        extra: dict[str, str] = {
            k: str(document[k]) for k in ("instance_url", "id", "scope") if k in document
        }
        return Token(
            value=document["access_token"],
            expires_at=clock() + lifetime if lifetime else None,
            refresh_token=_text(document.get("refresh_token")),
            extra=extra,
        )

    return fetch


def client_credentials(
    token_url: str, client_id: str, client_secret: str, scope: str | None = None
) -> TokenRequest:
    def build(previous: Token | None) -> tuple[str, dict[str, str]]:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if scope:
            form["scope"] = scope
        return token_url, form

    return build


def refresh_token(
    token_url: str, client_id: str, client_secret: str, initial_refresh_token: str
) -> TokenRequest:
    """Refresh-token grant; the rotated refresh token the previous answer carried wins."""

    def build(previous: Token | None) -> tuple[str, dict[str, str]]:
        current = (previous.refresh_token if previous is not None else None) or initial_refresh_token
        return token_url, {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": current,
        }

    return build


def salesforce_jwt_bearer(
    token_url: str,
    consumer_key: str,
    username: str,
    private_key_pem: str,
    audience: str = "https://login.salesforce.com",
    *,
    clock: Callable[[], float] = time.time,
) -> TokenRequest:
    """OAuth 2.0 JWT bearer flow: an RS256 assertion valid three minutes, no refresh token."""
    import jwt

    def build(previous: Token | None) -> tuple[str, dict[str, str]]:
        claims = {"iss": consumer_key, "sub": username, "aud": audience, "exp": int(clock()) + 180}
        assertion = jwt.encode(claims, private_key_pem, algorithm="RS256")
        return token_url, {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion,
        }

    return build


def netsuite_m2m(
    token_url: str,
    client_id: str,
    certificate_id: str,
    private_key_pem: str,
    scope: str = "rest_webservices",
    *,
    clock: Callable[[], float] = time.time,
) -> TokenRequest:
    """NetSuite OAuth 2.0 client credentials (M2M): a PS256 client assertion, ``kid`` = the
    certificate id from the mapping page, valid at most 60 minutes; tokens last 60 minutes."""
    import jwt

    def build(previous: Token | None) -> tuple[str, dict[str, str]]:
        now = int(clock())
        claims = {"iss": client_id, "scope": scope.split(), "aud": token_url, "iat": now, "exp": now + 1800}
        assertion = jwt.encode(
            claims, private_key_pem, algorithm="PS256", headers={"kid": certificate_id, "typ": "JWT"}
        )
        return token_url, {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }

    return build


class NetSuiteTba:
    """Token-based authentication: OAuth 1.0a with HMAC-SHA256 over method, URL and query."""

    def __init__(
        self,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client  # type: ignore[import-untyped]

        self._clock = clock
        self._nonce = nonce
        self._client = Client(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=token_id,
            resource_owner_secret=token_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            realm=account_id.upper().replace("-", "_"),
        )

    def authorize(self, request: httpx.Request) -> None:
        # The JSON body is not part of an OAuth 1.0a signature (only form bodies are).
        self._client.timestamp = str(int(self._clock()))
        self._client.nonce = self._nonce()
        _, headers, _ = self._client.sign(str(request.url), http_method=request.method)
        request.headers["Authorization"] = headers["Authorization"]
        self._client.timestamp = None
        self._client.nonce = None

    def refused(self, request: httpx.Request) -> bool:
        return False  # TBA tokens do not expire: a 401 is a revoked or wrong token


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class PinnedOrigin:
    """OAuth 2.0 bearer tokens used only while the API origin the token response names (a field
    such as Salesforce's ``instance_url`` or Concur's ``geolocation``) is the configured
    ``base_url``'s: a token pointing elsewhere raises ``ConnectionConfigError`` with ``explain``'s
    words (``explain(named, configured)``), before anything is sent."""

    def __init__(
        self,
        oauth: OAuth2,
        settings: ApiSettings,
        connection_id: str,
        *,
        field: str,
        explain: Callable[[str, str], str],
    ) -> None:
        self._oauth = oauth
        self._settings = settings
        self._connection_id = connection_id
        self._field = field
        self._explain = explain

    def authorize(self, request: httpx.Request) -> None:
        self._oauth.authorize(request)
        named = self._oauth.extra.get(self._field)
        if named is None:
            return
        where = f"connection {self._connection_id!r}"
        if origin_of(named, f"{where}: the token's {self._field}") != (
            self._settings.scheme,
            self._settings.host,
        ):
            raise ConnectionConfigError(f"{where}: {self._explain(named, self._settings.base_url)}")

    def refused(self, request: httpx.Request) -> bool:
        return self._oauth.refused(request)
