"""Business KPIs as CloudWatch metrics (Powertools EMF), defined once: the functions emit them
through ``Kpi.emit`` and the alarms and dashboard CDK builds (``pshub_infra.constructs.alarms``)
read the same names, units and dimensions.

Every KPI carries the dimensions ``service`` (``pshub``) and ``stage`` (the deployed stage, ``-``
for none), so stacks sharing an account never mix their figures. What each one measures:

- ``WebhookRejected`` (connection, reason): a delivery refused at the door. An unknown
  connection is counted as ``unknown``: the path is the caller's, its values are not dimensions.
- ``DeliveriesReceived`` (connection): verified deliveries and polled records the normaliser
  took in; with ``WebhookRejected``, the acceptance rate per connection.
- ``ProjectActivationSeconds``: closed-won (the deal's ``occurred_at``) to ``ProjectActivated``.
- ``ProvisioningStraightThrough``: 1 per activated project that no business exception held, 0
  per one a person had to touch; its average is the straight-through rate.
- ``InvoiceCycleSeconds``: an invoice drafted to paid.
- ``MessagesFailed`` (queue): messages a consumer could not process (sync failures), per
  attempt; SQS retries each, then dead-letters it.
- ``PlatformThrottled`` (connection): a platform answered 429 (or its own throttle signal).
- ``ExceptionsOpened`` (owner): business exceptions raised for an owner team.
- Gauges, written every five minutes by the ``operations_tick`` function (``pshub.gauges``): ``OpenExceptions``, ``OldestOpenExceptionAgeSeconds`` and
  ``HoursAtRisk`` (owner: approved hours an open exception holds back from the ERP or the
  invoice), ``AmountAtRisk`` (owner, currency; never summed across currencies).
- ``PollCoverageAgeSeconds`` (connection), by the poller after each poll, failed or not: how
  long ago the last complete query of the platform's change feed began (every change older
  than that has been read). A platform keeps its feed for a while (``Platform.feed_retention_days``);
  past that, unread changes are gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from pshub.connections import STAGE_ENV_VAR
from pshub.observability import SERVICE

NAMESPACE = SERVICE
UNKNOWN = "unknown"


def base_dimensions(stage: str | None = None) -> dict[str, str]:
    """The dimensions every KPI carries: the service and the stage (``-`` for none)."""
    chosen = os.environ.get(STAGE_ENV_VAR, "") if stage is None else stage
    return {"service": SERVICE, "stage": chosen or "-"}


@dataclass(frozen=True)
class Kpi:
    name: str
    unit: MetricUnit
    dimensions: tuple[str, ...] = ()

    def emit(self, value: float, **dimensions: str) -> None:
        """One EMF line with this KPI's own dimensions (and no other metric's)."""
        if set(dimensions) != set(self.dimensions):
            raise ValueError(f"{self.name} takes dimensions {self.dimensions}, not {tuple(dimensions)}")
        with single_metric(
            name=self.name,
            unit=self.unit,
            value=value,
            namespace=NAMESPACE,
            default_dimensions=base_dimensions(),
        ) as metric:
            for name in self.dimensions:
                metric.add_dimension(name=name, value=str(dimensions[name]) or UNKNOWN)


WEBHOOK_REJECTED = Kpi("WebhookRejected", MetricUnit.Count, ("connection", "reason"))
DELIVERIES_RECEIVED = Kpi("DeliveriesReceived", MetricUnit.Count, ("connection",))
PROJECT_ACTIVATION = Kpi("ProjectActivationSeconds", MetricUnit.Seconds)
STRAIGHT_THROUGH = Kpi("ProvisioningStraightThrough", MetricUnit.Count)
INVOICE_CYCLE = Kpi("InvoiceCycleSeconds", MetricUnit.Seconds)
MESSAGES_FAILED = Kpi("MessagesFailed", MetricUnit.Count, ("queue",))
PLATFORM_THROTTLED = Kpi("PlatformThrottled", MetricUnit.Count, ("connection",))
EXCEPTIONS_OPENED = Kpi("ExceptionsOpened", MetricUnit.Count, ("owner",))
OPEN_EXCEPTIONS = Kpi("OpenExceptions", MetricUnit.Count, ("owner",))
OLDEST_EXCEPTION_AGE = Kpi("OldestOpenExceptionAgeSeconds", MetricUnit.Seconds, ("owner",))
HOURS_AT_RISK = Kpi("HoursAtRisk", MetricUnit.Count, ("owner",))
AMOUNT_AT_RISK = Kpi("AmountAtRisk", MetricUnit.Count, ("owner", "currency"))
POLL_COVERAGE_AGE = Kpi("PollCoverageAgeSeconds", MetricUnit.Seconds, ("connection",))

# How long an open exception may wait for its owner team before the backlog alarm sounds.
BACKLOG_AGE_LIMIT_S = {
    "sales_ops": 24 * 3600,
    "finance_ops": 24 * 3600,  # money waits: a working day
    "pmo": 24 * 3600,
    "integration_support": 4 * 3600,  # a broken mapping or connection holds everything behind it
    "data_steward": 3 * 24 * 3600,
}
# Closed-won to project live: beyond this a client starts without its project in every system.
ACTIVATION_LIMIT_S = 3600
# A polled platform's feed: alarm when half its retention horizon has gone unread (changes are
# lost once the horizon passes); a feed with no horizon alarms after a day unread.
POLL_COVERAGE_SHARE = 0.5
POLL_COVERAGE_DEFAULT_S = 24 * 3600


def poll_coverage_limit_s(retention_days: float | None) -> int:
    if retention_days is None:
        return POLL_COVERAGE_DEFAULT_S
    return int(retention_days * 86400 * POLL_COVERAGE_SHARE)
