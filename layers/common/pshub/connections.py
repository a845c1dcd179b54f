"""Connections: which platform stands behind ``POST /webhooks/{connection}``.

A connection is configuration, not code: its id, the platform, the role the
platform plays for the firm, optional legal entity/region and platform options.
Its secrets live in Secrets Manager, one per purpose, so each function can be given
only the one it needs: the webhook signing secret under ``signing_secret_name(id)``
(only for a connection whose platform sends webhooks) and the platform's API
credentials, a JSON object of credential fields, under ``api_secret_name(id)``. The
registry (everything but the secrets) reaches the functions as the JSON value of
``PSHUB_CONNECTIONS``, written from ``infra/config/connections.json`` by CDK and by
the local runtime alike.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# How pshub reaches the platform's API: "http", the platform's real connector over its
# API (the only one; locally it talks to the platform's fake on 127.0.0.1).
IMPLEMENTATIONS = frozenset({"http"})
DEFAULT_IMPLEMENTATION = "http"
ROLES = frozenset({"crm", "psa", "erp", "hr", "billing", "time", "expense"})
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SECRET_PREFIX = "pshub/connections/"  # noqa: S105 - a name prefix, not a secret (no stage)
# A deployed stack's stage (dev, staging, prod): in its secrets' names, so stages share an account.
STAGE_ENV_VAR = "PSHUB_STAGE"
_STAGE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# The purposes of a connection's secrets, the last part of their names.
SIGNING_PURPOSE = "signing"
API_PURPOSE = "api"


class ConnectionConfigError(ValueError):
    """The connection registry is malformed; the message names the entry and field."""


@dataclass(frozen=True)
class Connection:
    id: str
    platform: str
    role: str
    legal_entity: str | None = None
    region: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    implementation: str = DEFAULT_IMPLEMENTATION

    @property
    def receives_webhooks(self) -> bool:
        """Whether its platform pushes to ``POST /webhooks/{connection}`` (its manifest says)."""
        from pshub.platforms import platform

        return platform(self.platform).inbound == "webhook"

    @property
    def signing_secret_name(self) -> str:
        """Where its webhook signing secret is (only ingress reads it; only if it receives webhooks)."""
        return signing_secret_name(self.id)

    @property
    def api_secret_name(self) -> str:
        """Where its API credentials are (only functions that call the platform read them)."""
        return api_secret_name(self.id)


def check_stage(stage: str) -> str:
    """A stage name: lowercase letters and digits, 1 to 12, starting with a letter (it goes into
    every physical name, some of which AWS limits to 64 characters)."""
    if not _STAGE.fullmatch(stage):
        raise ConnectionConfigError(
            f"stage {stage!r} is not 1-12 lowercase letters or digits starting with a letter (e.g. dev, prod)"
        )
    return stage


def secret_prefix(stage: str | None = None) -> str:
    """``pshub/connections/``, or ``pshub/<stage>/connections/`` for a stage (default: the
    function's own, ``PSHUB_STAGE``; none locally)."""
    return _prefix(os.environ.get(STAGE_ENV_VAR, "") if stage is None else stage)


@functools.cache
def _prefix(stage: str) -> str:
    """Checked once per stage: the ingress names a secret on every request."""
    return f"pshub/{check_stage(stage)}/connections/" if stage else SECRET_PREFIX


def signing_secret_name(connection_id: str, stage: str | None = None) -> str:
    """``pshub[/<stage>]/connections/<id>/signing``: the platform's webhook signing secret."""
    return f"{secret_prefix(stage)}{connection_id}/{SIGNING_PURPOSE}"


def api_secret_name(connection_id: str, stage: str | None = None) -> str:
    """``pshub[/<stage>]/connections/<id>/api``: a JSON object of the platform's API credential fields."""
    return f"{secret_prefix(stage)}{connection_id}/{API_PURPOSE}"


def parse_registry(document: Mapping[str, Any], source: str = "connections") -> dict[str, Connection]:
    """Validate a registry document and index it by connection id."""
    from pshub.platforms import platform_names  # the package list only: no platform is imported

    entries = document.get("connections")
    if not isinstance(entries, list):
        raise ConnectionConfigError(f"{source}: expected a 'connections' list")
    registry: dict[str, Connection] = {}
    for index, entry in enumerate(entries):
        where = f"{source}: connections[{index}]"
        if not isinstance(entry, dict):
            raise ConnectionConfigError(f"{where}: expected an object")
        conn_id = entry.get("id")
        if not isinstance(conn_id, str) or not _ID.match(conn_id):
            raise ConnectionConfigError(f"{where}.id: {conn_id!r} is not a lower-case slug (a-z, 0-9, '-')")
        if conn_id in registry:
            raise ConnectionConfigError(f"{where}.id: {conn_id!r} is declared twice")
        platform = entry.get("platform")
        known = platform_names()
        if platform not in known:
            raise ConnectionConfigError(
                f"{where}.platform: {platform!r} has no package in pshub.platforms (one of {sorted(known)})"
            )
        role = entry.get("role")
        if role not in ROLES:
            raise ConnectionConfigError(f"{where}.role: {role!r} is not one of {sorted(ROLES)}")
        options = entry.get("options", {})
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise ConnectionConfigError(f"{where}.options: expected an object of strings")
        implementation = entry.get("implementation", DEFAULT_IMPLEMENTATION)
        if implementation not in IMPLEMENTATIONS:
            raise ConnectionConfigError(
                f"{where}.implementation: {implementation!r} is not available (one of {sorted(IMPLEMENTATIONS)})"
            )
        unknown = set(entry) - {
            "id",
            "platform",
            "role",
            "legal_entity",
            "region",
            "options",
            "implementation",
        }
        if unknown:
            raise ConnectionConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
        registry[conn_id] = Connection(
            id=conn_id,
            platform=platform,
            role=role,
            legal_entity=entry.get("legal_entity"),
            region=entry.get("region"),
            options=dict(options),
            implementation=implementation,
        )
    return registry


def load_registry(raw_json: str, source: str = "PSHUB_CONNECTIONS") -> dict[str, Connection]:
    """The registry from its JSON text, as written (or packed to fit Lambda's environment:
    ``pshub.settings.pack_config``)."""
    from pshub.settings import config_value

    try:
        document = json.loads(config_value(raw_json))
    except json.JSONDecodeError as exc:
        raise ConnectionConfigError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ConnectionConfigError(f"{source}: expected a JSON object")
    return parse_registry(document, source)
