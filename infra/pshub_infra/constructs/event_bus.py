"""EventBridge buses of the topology, each with its archive, and the rules on them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import CANONICAL_EVENT_SOURCE, EventBusSpec, RuleSpec, Topology

# EventBridge pattern fields and the matching ``events.EventPattern`` arguments.
_PATTERN_FIELDS = {
    "version": "version",
    "id": "id",
    "detail-type": "detail_type",
    "source": "source",
    "account": "account",
    "time": "time",
    "region": "region",
    "resources": "resources",
    "detail": "detail",
}


class EventBuses(Construct):
    """``self.buses`` and ``self.rules`` are indexed by topology key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        queues: Mapping[str, sqs.IQueue],
        log_groups: Mapping[str, logs.ILogGroup],
    ) -> None:
        super().__init__(scope, construct_id)
        self._queues = queues
        self._log_groups = log_groups
        self.buses: dict[str, events.EventBus] = {spec.key: self._bus(spec) for spec in topology.buses}
        self.rules: dict[str, events.Rule] = {spec.key: self._rule(spec) for spec in topology.rules}

    def _bus(self, spec: EventBusSpec) -> events.EventBus:
        bus = events.EventBus(self, pascal_id(spec.key), description=spec.purpose[:512])
        # Every canonical event is kept for replay: a new or fixed consumer can catch up.
        bus.archive(
            "Archive",
            description=f"Canonical events of {spec.key}, for replay",
            event_pattern=events.EventPattern(source=[CANONICAL_EVENT_SOURCE]),
            retention=cdk.Duration.days(spec.archive_retention_days),
        )
        return bus

    def _rule(self, spec: RuleSpec) -> events.Rule:
        rule = events.Rule(
            self,
            pascal_id(spec.key),
            description=spec.purpose[:512],
            event_bus=self.buses[spec.bus],
            event_pattern=event_pattern(spec.pattern),
        )
        rule.add_target(self._target(spec))
        return rule

    def _target(self, spec: RuleSpec) -> events.IRuleTarget:
        if (spec.target_queue is None) == (spec.target_log_group is None):
            raise ValueError(f"rule {spec.key!r} needs exactly one of target_queue, target_log_group")
        dlq = self._queues[spec.target_dlq] if spec.target_dlq else None
        if spec.target_queue is not None:
            return targets.SqsQueue(self._queues[spec.target_queue], dead_letter_queue=dlq)
        assert spec.target_log_group is not None
        log_group = self._log_groups[spec.target_log_group]
        self._allow_events_to_write(spec.target_log_group, log_group)
        return LogGroupTarget(log_group, dead_letter_queue=dlq)

    def _allow_events_to_write(self, key: str, log_group: logs.ILogGroup) -> None:
        policy_id = f"EventsWrite{pascal_id(key)}"
        if self.node.try_find_child(policy_id) is not None:
            return
        # A native AWS::Logs::ResourcePolicy; CDK's CloudWatchLogGroup target would deploy
        # a Lambda-backed custom resource (and a role on logs:* '*') to do the same.
        logs.ResourcePolicy(
            self,
            policy_id,
            policy_statements=[
                iam.PolicyStatement(
                    sid="EventBridgeDeliversRuleTargets",
                    principals=[
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                    ],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                )
            ],
        )


@jsii.implements(events.IRuleTarget)
class LogGroupTarget:
    """A CloudWatch Logs group as rule target, given write access by ``EventBuses`` itself."""

    def __init__(self, log_group: logs.ILogGroup, *, dead_letter_queue: sqs.IQueue | None = None) -> None:
        self._log_group = log_group
        self._dead_letter_queue = dead_letter_queue

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        dead_letter_config = None
        if self._dead_letter_queue is not None:
            _allow_rule_to_dead_letter(rule, self._dead_letter_queue)
            dead_letter_config = events.CfnRule.DeadLetterConfigProperty(
                arn=self._dead_letter_queue.queue_arn
            )
        stack = cdk.Stack.of(self._log_group)
        return events.RuleTargetConfig(
            # The target takes the group's ARN without the ':*' suffix of its GetAtt Arn.
            arn=stack.format_arn(
                service="logs",
                resource="log-group",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                resource_name=self._log_group.log_group_name,
            ),
            dead_letter_config=dead_letter_config,
        )


def _allow_rule_to_dead_letter(rule: IRuleRef, queue: sqs.IQueue) -> None:
    """What CDK's own targets do for their DLQ: only this rule may send to it."""
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"AllowEventRule{cdk.Names.node_unique_id(rule.node)}"[:100],
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
        )
    )


def event_pattern(pattern: Mapping[str, object]) -> events.EventPattern:
    """Turn a raw EventBridge pattern (as the topology and moto use it) into CDK's struct."""
    unknown = set(pattern) - set(_PATTERN_FIELDS)
    if unknown:
        raise ValueError(f"unsupported top-level event pattern field(s): {sorted(unknown)}")
    arguments: dict[str, Any] = {_PATTERN_FIELDS[name]: value for name, value in pattern.items()}
    return events.EventPattern(**arguments)
