"""Alarms on what must never wait unseen, a dashboard of the pipeline, and the topic they notify.

Every dead-letter queue the topology declares (a queue's redrive target, an EventBridge rule's
dead-letter queue, the schedules') and the queue of deliveries parked as unmappable alarm as
soon as one message is in it; each function alarms when it is throttled through three
five-minute periods in a row, and each state machine when an execution fails. The alarms notify
one SNS topic (KMS-encrypted with a key CloudWatch may use, TLS only): subscribe the team's
address or chat to it after deploy.

The business alarms watch the KPIs of ``pshub.kpis`` (that module holds their names, dimensions
and limits): each owner team's oldest open exception, a slow project activation, a polled feed
left unread towards its retention horizon, a platform throttling pshub for fifteen minutes. Each alarm's description is its runbook line (the README's
"Operating it" table has them in full).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from pshub.kpis import (
    ACTIVATION_LIMIT_S,
    BACKLOG_AGE_LIMIT_S,
    DELIVERIES_RECEIVED,
    HOURS_AT_RISK,
    INVOICE_CYCLE,
    MESSAGES_FAILED,
    OLDEST_EXCEPTION_AGE,
    OPEN_EXCEPTIONS,
    PLATFORM_THROTTLED,
    POLL_COVERAGE_AGE,
    PROJECT_ACTIVATION,
    STRAIGHT_THROUGH,
    WEBHOOK_REJECTED,
    Kpi,
    base_dimensions,
    poll_coverage_limit_s,
)
from pshub.kpis import (
    NAMESPACE as KPI_NAMESPACE,
)
from pshub.platforms import platform
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import Topology, connection_registry, poll_connections

PARKED_QUEUES = ("unmappable_deliveries",)  # parked for a person, not failed: alarm all the same
THROTTLE_PERIODS = 3  # five-minute periods in a row: a burst is absorbed, a sustained throttle is not


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"


def dead_letter_queues(topology: Topology) -> tuple[str, ...]:
    """Every queue that holds what failed: redrive targets, rules' and schedules' DLQs."""
    found = [q.dead_letter_queue for q in topology.queues if q.dead_letter_queue]
    found += [r.target_dlq for r in topology.rules if r.target_dlq]
    found += [s.dead_letter_queue for s in topology.schedules]
    return tuple(dict.fromkeys(k for k in found if k))


class Alarms(Construct):
    """``self.topic`` is the alarms' SNS topic; ``self.alarms`` is indexed by what they watch."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        queues: dict[str, sqs.Queue],
        functions: dict[str, lambda_.Function],
        state_machines: dict[str, sfn.StateMachine],
        stage: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts pshub's alarm notifications",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # CloudWatch publishes to the encrypted topic: it must be able to use the key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"pshub{f' {stage}' if stage else ''} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for queue_key in (*dead_letter_queues(topology), *PARKED_QUEUES):
            self._alarm(
                f"queue:{queue_key}",
                f"{pascal_id(queue_key)}NotEmpty",
                queues[queue_key].metric_approximate_number_of_messages_visible(
                    period=cdk.Duration.minutes(1), statistic="Maximum"
                ),
                f"{queue_key} is not empty: {topology.queue(queue_key).purpose}. Runbook: read the messages "
                "(their error attributes say why), fix the cause, redrive to the source queue; "
                "idempotency makes a redrive safe to run twice.",
            )
        for function_key, function in functions.items():
            self._alarm(
                f"function:{function_key}",
                f"{pascal_id(function_key)}Throttled",
                function.metric_throttles(period=cdk.Duration.minutes(5), statistic="Sum"),
                f"{function_key} throttled for {THROTTLE_PERIODS * 5} minutes. Runbook: the account's or the "
                "function's concurrency is spent; queues hold the work, so raise the limit or find the burst.",
                periods=THROTTLE_PERIODS,
            )
        for machine_key, machine in state_machines.items():
            self._alarm(
                f"state_machine:{machine_key}",
                f"{pascal_id(machine_key)}ExecutionsFailed",
                machine.metric_failed(period=cdk.Duration.minutes(5), statistic="Sum"),
                f"a {machine_key} execution failed (not parked: parked ones wait on an exception). Runbook: "
                "open the execution, fix the cause, start it again with the same input.",
            )
        self._stage = stage
        self._business_alarms()
        self.dashboard = self._dashboard(topology, queues, functions)

    def kpi(
        self, kpi: Kpi, statistic: str = "Maximum", minutes: int = 5, **dimensions: str
    ) -> cloudwatch.Metric:
        """The CloudWatch metric of a business KPI, as the functions emit it for this stage."""
        return cloudwatch.Metric(
            namespace=KPI_NAMESPACE,
            metric_name=kpi.name,
            dimensions_map={**base_dimensions(self._stage), **dimensions},
            statistic=statistic,
            period=cdk.Duration.minutes(minutes),
        )

    def _search(self, kpi: Kpi, statistic: str) -> cloudwatch.MathExpression:
        """Every series of a KPI for this stage, whatever its dimension values (connections,
        reasons, queues known only at run time)."""
        schema = ",".join(sorted({*base_dimensions(self._stage), *kpi.dimensions}))
        stage = base_dimensions(self._stage)["stage"]
        return cloudwatch.MathExpression(
            expression=(
                f'SEARCH(\'{{{KPI_NAMESPACE},{schema}}} MetricName="{kpi.name}" stage="{stage}"\', '
                f"'{statistic}', 300)"
            ),
            using_metrics={},
            label=kpi.name,
        )

    def _business_alarms(self) -> None:
        for owner, limit_s in BACKLOG_AGE_LIMIT_S.items():
            self._alarm(
                f"backlog:{owner}",
                f"{pascal_id(owner)}BacklogAge",
                self.kpi(OLDEST_EXCEPTION_AGE, owner=owner),
                f"a business exception owned by {owner} has waited over {_hours(limit_s)}. Runbook: "
                f"`pshub exceptions list --owner {owner}` (most at risk first), fix and resolve or retry "
                "each. No data for 15 minutes also alarms: the operations_tick function is not running.",
                threshold=limit_s,
                periods=3,
                missing=cloudwatch.TreatMissingData.BREACHING,
            )
        self._alarm(
            "activation",
            "ProjectActivationSlow",
            self.kpi(PROJECT_ACTIVATION),
            f"a won deal took over {_hours(ACTIVATION_LIMIT_S)} to become a live project in every system. "
            "Runbook: `pshub trace --opportunity ID` shows where it waited (a parked step is an open "
            "exception; a slow platform shows in its step's duration).",
            threshold=ACTIVATION_LIMIT_S,
        )
        registry = connection_registry()
        for connection_id, every_minutes in poll_connections():
            retention = platform(registry[connection_id].platform).feed_retention_days
            limit_s = poll_coverage_limit_s(retention)
            minutes = max(60, 3 * every_minutes)
            self._alarm(
                f"poll:{connection_id}",
                f"{pascal_id(connection_id.replace('-', '_'))}PollBehind",
                self.kpi(POLL_COVERAGE_AGE, minutes=minutes, connection=connection_id),
                f"{connection_id}'s change feed has gone unread for over {_hours(limit_s)}"
                + (f" (it keeps {retention:g} days)" if retention else "")
                + f", or the poller reported nothing for {minutes} minutes. Runbook: `pshub connections "
                f"check {connection_id}`, then the poller's log; past the feed's horizon, changes are "
                "lost to the feed: reconcile the connection in full.",
                threshold=limit_s,
                missing=cloudwatch.TreatMissingData.BREACHING,
            )
        for connection_id in sorted(registry):
            self._alarm(
                f"throttled:{connection_id}",
                f"{pascal_id(connection_id.replace('-', '_'))}PlatformThrottled",
                self.kpi(PLATFORM_THROTTLED, "Sum", connection=connection_id),
                f"{connection_id}'s platform has refused pshub's calls (429) for {THROTTLE_PERIODS * 5} "
                "minutes. Runbook: the work waits and retries on its own; lower the connection's "
                "rate_per_s or max_concurrency option, or ask the vendor for a higher quota.",
                periods=THROTTLE_PERIODS,
            )

    def _alarm(
        self,
        key: str,
        construct_id: str,
        metric: cloudwatch.IMetric,
        runbook: str,
        *,
        periods: int = 1,
        threshold: float = 0,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        """An alarm when ``metric`` is above ``threshold`` in ``periods`` periods in a row; it
        notifies the topic."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
            alarm_description=runbook,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[key] = alarm

    def _dashboard(
        self, topology: Topology, queues: dict[str, sqs.Queue], functions: dict[str, lambda_.Function]
    ) -> cloudwatch.Dashboard:
        dlqs = set(dead_letter_queues(topology))
        work = [k for k in queues if k not in dlqs]
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth (work waiting)",
                left=[queues[k].metric_approximate_number_of_messages_visible(label=k) for k in work],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Oldest message age (s)",
                left=[queues[k].metric_approximate_age_of_oldest_message(label=k) for k in work],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24),
        )
        owners = list(BACKLOG_AGE_LIMIT_S)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Open exceptions by owner team",
                left=[self.kpi(OPEN_EXCEPTIONS, owner=o).with_(label=o) for o in owners],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Oldest open exception (s) by owner team",
                left=[self.kpi(OLDEST_EXCEPTION_AGE, owner=o).with_(label=o) for o in owners],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Approved hours held by open exceptions",
                left=[self.kpi(HOURS_AT_RISK, owner=o).with_(label=o) for o in owners],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Closed-won to project live (s)",
                left=[
                    self.kpi(PROJECT_ACTIVATION, "p50", 60).with_(label="median"),
                    self.kpi(PROJECT_ACTIVATION, "Maximum", 60).with_(label="slowest"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Straight-through provisioning (share)",
                left=[self.kpi(STRAIGHT_THROUGH, "Average", 1440).with_(label="per day")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Invoice drafted to paid (s)",
                left=[self.kpi(INVOICE_CYCLE, "p50", 1440).with_(label="median per day")],
                width=8,
            ),
        )
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=title,
                    left=[self._search(kpi, "Sum")],
                    width=6,
                )
                for title, kpi in (
                    ("Deliveries taken in, per connection", DELIVERIES_RECEIVED),
                    ("Webhooks refused, per connection and reason", WEBHOOK_REJECTED),
                    ("Messages failed (sync failures), per queue", MESSAGES_FAILED),
                    ("Platform throttling (429), per connection", PLATFORM_THROTTLED),
                )
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[f.metric_errors(label=k, period=cdk.Duration.minutes(5)) for k, f in functions.items()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function throttles",
                left=[
                    f.metric_throttles(label=k, period=cdk.Duration.minutes(5)) for k, f in functions.items()
                ],
                width=12,
            ),
        )
        return dashboard
