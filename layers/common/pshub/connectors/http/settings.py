"""What a connection's configuration says about its API, validated when a connector is built.

Options (strings, as every connection option is):

- ``base_url`` (required): scheme, host and path prefix every request goes under;
  ``https`` unless the host is the loopback (the local fakes).
- ``connect_timeout_s`` (default 3.05) and ``read_timeout_s`` (default 30): a read
  timeout after a write was sent is an unknown outcome, never a blind retry.
- ``rate_per_s`` and ``burst``: the vendor's request budget for this account,
  enforced across every invocation; ``daily_quota``: requests per UTC day.
- ``pace`` (default 0.95): the share of ``rate_per_s`` pshub sends at. The vendor measures
  arrivals, not sends: network and scheduling jitter bunch requests on the way, and a 429
  costs a whole ``Retry-After`` second for every invocation, far more than 5 % headroom.
- ``max_attempts`` (default 4): tries of one call for transient failures, and
  ``max_wait_s`` (default 20): the longest a call waits for the limiter or a
  ``Retry-After`` before it hands the wait back to the workflow as ``RateLimited``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pshub.connections import ConnectionConfigError

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class ApiSettings:
    base_url: str  # no trailing slash
    scheme: str
    host: str  # lower-case, with the port when one is given
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 30.0
    rate_per_s: float | None = None
    burst: int = 1
    daily_quota: int | None = None
    max_attempts: int = 4
    max_wait_s: float = 20.0
    pace: float = 1.0

    @classmethod
    def of(
        cls,
        connection_id: str,
        options: Mapping[str, str],
        *,
        default_base_url: str | None = None,
        default_rate_per_s: float | None = None,
        default_burst: int = 1,
    ) -> ApiSettings:
        """Settings from a connection's options; the platform supplies its documented defaults."""
        where = f"connection {connection_id!r}"
        base_url = (options.get("base_url") or default_base_url or "").rstrip("/")
        if not base_url:
            raise ConnectionConfigError(f"{where}: options.base_url is required (the platform's API root)")
        scheme, host = origin_of(base_url, where)
        rate = _number(options, "rate_per_s", where, default_rate_per_s)
        burst = _integer(options, "burst", where, default_burst if rate is not None else 1) or 1
        return cls(
            base_url=base_url,
            scheme=scheme,
            host=host,
            connect_timeout_s=_number(options, "connect_timeout_s", where, 3.05) or 3.05,
            read_timeout_s=_number(options, "read_timeout_s", where, 30.0) or 30.0,
            rate_per_s=rate,
            burst=max(1, burst),
            daily_quota=_integer(options, "daily_quota", where, None),
            max_attempts=max(1, _integer(options, "max_attempts", where, 4) or 4),
            max_wait_s=_number(options, "max_wait_s", where, 20.0) or 20.0,
            pace=_pace(options, where),
        )

    @property
    def paced_rate_per_s(self) -> float | None:
        """The rate pshub sends at: the declared one, less the headroom."""
        return None if self.rate_per_s is None else self.rate_per_s * self.pace


def origin_of(url: str, where: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of an absolute URL; plain http only to the loopback."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        raise ConnectionConfigError(f"{where}: {url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise ConnectionConfigError(f"{where}: {url!r} must be https (plain http only to 127.0.0.1)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConnectionConfigError(f"{where}: {url!r} may hold no credentials, query or fragment")
    return parts.scheme, f"{host}:{parts.port}" if parts.port else host


def _number(options: Mapping[str, str], name: str, where: str, default: float | None) -> float | None:
    raw = options.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConnectionConfigError(f"{where}: options.{name} = {raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ConnectionConfigError(f"{where}: options.{name} = {raw!r} must be a positive number")
    return value


def _integer(options: Mapping[str, str], name: str, where: str, default: int | None) -> int | None:
    raw = options.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConnectionConfigError(f"{where}: options.{name} = {raw!r} must be a positive whole number")
    return int(raw)


DEFAULT_PACE = 0.95


def _pace(options: Mapping[str, str], where: str) -> float:
    value = _number(options, "pace", where, DEFAULT_PACE)
    if value is None or not 0 < value <= 1:
        raise ConnectionConfigError(
            f"{where}: options.pace must be above 0 and at most 1 (a share of rate_per_s)"
        )
    return value
