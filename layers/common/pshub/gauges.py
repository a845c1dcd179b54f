"""What waits for a person, as gauges: read every five minutes by ``operations_tick`` and
emitted as KPIs (``pshub.kpis``), so the backlog alarms see its age, not only its arrivals.

Per owner team, every team every time (a team with nothing open reads 0, so its alarm
returns to OK): how many exceptions are open, how long the oldest has waited, the approved
hours they hold back from the ERP or the invoice and, per currency, the money at risk. Currencies are
never added together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pshub.business_exceptions import BusinessException, OwnerTeam, impact
from pshub.kpis import (
    AMOUNT_AT_RISK,
    HOURS_AT_RISK,
    OLDEST_EXCEPTION_AGE,
    OPEN_EXCEPTIONS,
    Kpi,
)

_CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217: anything else is not a dimension value


@dataclass(frozen=True)
class Reading:
    kpi: Kpi
    value: float
    dimensions: dict[str, str] = field(default_factory=dict)

    def emit(self) -> None:
        self.kpi.emit(self.value, **self.dimensions)


def exception_readings(open_exceptions: Iterable[BusinessException], now: datetime) -> list[Reading]:
    """The gauges of the open exceptions at ``now``, per owner team (all of them)."""
    count: dict[OwnerTeam, int] = dict.fromkeys(OwnerTeam, 0)
    oldest: dict[OwnerTeam, float] = dict.fromkeys(OwnerTeam, 0.0)
    hours: dict[OwnerTeam, Decimal] = dict.fromkeys(OwnerTeam, Decimal(0))
    amounts: dict[tuple[OwnerTeam, str], Decimal] = {}
    for exception in open_exceptions:
        owner = exception.owner_team
        count[owner] += 1
        oldest[owner] = max(oldest[owner], (now - exception.raised_at).total_seconds())
        found = impact(exception)
        hours[owner] += found.hours or Decimal(0)
        if found.amount is not None and found.currency and _CURRENCY.fullmatch(found.currency):
            key = (owner, found.currency)
            amounts[key] = amounts.get(key, Decimal(0)) + found.amount
    readings: list[Reading] = []
    for owner in OwnerTeam:
        dims = {"owner": owner.value}
        readings += [
            Reading(OPEN_EXCEPTIONS, count[owner], dims),
            Reading(OLDEST_EXCEPTION_AGE, round(max(oldest[owner], 0.0), 1), dims),
            Reading(HOURS_AT_RISK, float(hours[owner]), dims),
        ]
    readings += [
        Reading(AMOUNT_AT_RISK, float(amount), {"owner": owner.value, "currency": currency})
        for (owner, currency), amount in sorted(amounts.items())
    ]
    return readings
