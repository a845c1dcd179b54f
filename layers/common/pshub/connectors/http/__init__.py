"""The HTTP kit every real connector uses: one client, auth, rate limits, retries, masking.

- ``settings``: what a connection's configuration says about its API (base URL,
  timeouts, declared rate limits), validated when the connector is built.
- ``client.ApiClient``: pooled ``httpx`` connections reused across invocations,
  explicit timeouts, requests only to the configured host, responses classified
  into pshub's connector errors, transient ones retried (``tenacity``) honouring
  ``Retry-After``, and a lost answer to a write reported as ``OutcomeUnknown``.
- ``auth``: API keys, bearer tokens, OAuth 2.0 client credentials, Salesforce's JWT
  bearer flow, NetSuite's OAuth 2.0 machine-to-machine flow and token-based auth
  (OAuth 1.0a, HMAC-SHA256); fetched tokens are shared by every invocation
  (``tokens``) and refreshed once, however many invocations need it at once.
- ``limits``: the connection's declared rate and daily quota, enforced across every
  Lambda invocation (a generic cell-rate limiter in DynamoDB, ``state``).
- ``masking``: what request and response logs may show.
- ``context``: what a platform's outbound factory receives, and ``api_client`` to build
  its client from it.
"""

from pshub.connectors.http.client import ApiClient, ApiResponse, VendorError, describe_generic, retry_after
from pshub.connectors.http.context import ConnectorContext, api_client, oauth2
from pshub.connectors.http.settings import ApiSettings

__all__ = [
    "ApiClient",
    "ApiResponse",
    "ApiSettings",
    "ConnectorContext",
    "VendorError",
    "api_client",
    "describe_generic",
    "oauth2",
    "retry_after",
]
