"""Each ERP connection's declared limits: what its posting may ask of the ERP, and how fast.

The limits are the ERP's, not pshub's. A connection declares them in its options (an
account with more SuiteCloud Plus licences, a Dynamics tenant with more entitlements), and
every platform has the vendor's published defaults below. The same numbers set the posting
function's concurrency and its queue's batch size (CDK and the local runtime alike) and the
connector's request budget (``rate_per_s``, ``burst``, ``daily_quota``, shared by every
invocation through the connector state table).

Each platform's manifest declares the vendor's published limits (``Platform.limits``), e.g.
an account-wide concurrency of 5 and batches of 100 for one ERP, 6,000 requests per 5 minutes
and 52 concurrent for another, 60 per minute, 5 concurrent and 5,000 a day for a third.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pshub.connections import Connection, ConnectionConfigError


@dataclass(frozen=True)
class PostingLimits:
    concurrency: int  # requests in flight at once, across every invocation
    max_batch: int  # entries in one call
    rate_per_s: float | None = None  # sustained requests per second
    burst: int = 1
    daily_quota: int | None = None

    @property
    def function_concurrency(self) -> int:
        """The posting function's reserved concurrency: one call in flight per invocation."""
        return max(1, self.concurrency)

    @property
    def queue_batch_size(self) -> int:
        """How many instructions one invocation takes: one ERP call's worth, at most 10 per
        SQS receive multiplied out by the batching window."""
        return max(1, min(self.max_batch, 100))


FALLBACK = PostingLimits(concurrency=2, max_batch=10)


def declared_limits(connection: Connection) -> PostingLimits:
    """The connection's limits: its options over its platform's published defaults."""
    from pshub.platforms import platform

    options = {**platform(connection.platform).limits, **connection.options}
    base = FALLBACK
    where = f"connection {connection.id!r}"
    return PostingLimits(
        concurrency=_integer(options, "max_concurrency", where, base.concurrency),
        max_batch=_integer(options, "max_batch", where, base.max_batch),
        rate_per_s=_number(options, "rate_per_s", where, base.rate_per_s),
        burst=_integer(options, "burst", where, base.burst),
        daily_quota=_integer(options, "daily_quota", where, 0) or None if "daily_quota" in options else None,
    )


def _integer(options: Mapping[str, str], name: str, where: str, default: int | None) -> int:
    raw = options.get(name)
    if raw is None:
        if default is None:
            raise ConnectionConfigError(f"{where}: options.{name} is required")
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConnectionConfigError(
            f"{where}: options.{name} must be a whole number of at least 1, not {raw!r}"
        )
    return int(raw)


def _number(options: Mapping[str, str], name: str, where: str, default: float | None) -> float | None:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConnectionConfigError(f"{where}: options.{name} must be a number, not {raw!r}") from None
    if not value > 0:
        raise ConnectionConfigError(f"{where}: options.{name} must be above 0")
    return value
