"""boto3 clients for the webhook's ack path, without per-request work that buys it nothing.

Two costs botocore 1.44 pays on every call that the ingress does not need:
- the User-Agent header is rebuilt from its parts on every request, twice (when the
  request is built and again just before it is sent): ~30 us each, character by
  character, about as much as the rest of a ``SendMessage``. It is built once per
  client here; what changes between requests is only the per-call feature metadata
  (``m/...``), which AWS uses for its own telemetry.
- parameter validation checks types that pshub's own code sets (a queue URL and a
  string); the service validates them again anyway.
Only the ingress uses these (a webhook waits on it); every other function keeps
botocore's defaults.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_LEAN = Config(parameter_validation=False)


def lean_client(service_name: str) -> Any:
    """``boto3.client(service_name)`` with its User-Agent built once and parameter validation off."""
    client = boto3.client(service_name, config=_LEAN)  # type: ignore[call-overload]
    creator = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if callable(build):
        # A botocore without this private attribute keeps its own behaviour: only slower.
        user_agent = build()
        creator.to_string = lambda: user_agent  # type: ignore[union-attr]
    return client
