"""Alarms on what must never wait unseen, a dashboard of the pipeline, and the topic they notify.

Every dead-letter queue the topology declares (a queue's redrive target, an EventBridge rule's
dead-letter queue, the schedules') and the queue of deliveries parked as unmappable alarm as
soon as one message is in it; each function alarms when it is throttled through three
five-minute periods in a row, and each state machine when an execution fails. The alarms notify
one SNS topic (KMS-encrypted with a key CloudWatch may use, TLS only): subscribe the team's
address or chat to it after deploy. Each alarm's description is its runbook line (the README's
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

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import Topology

PARKED_QUEUES = ("unmappable_deliveries",)  # parked for a person, not failed: alarm all the same
THROTTLE_PERIODS = 3  # five-minute periods in a row: a burst is absorbed, a sustained throttle is not


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
        self.dashboard = self._dashboard(topology, queues, functions)

    def _alarm(
        self, key: str, construct_id: str, metric: cloudwatch.IMetric, runbook: str, *, periods: int = 1
    ) -> None:
        """An alarm when ``metric`` is above 0 in ``periods`` periods in a row; it notifies the topic."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
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
