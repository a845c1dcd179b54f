"""EventBridge Scheduler schedules the topology declares (the pollers of poll-only platforms).

Each invokes its function with the schedule's input; a failed invocation is retried by the
scheduler and, after its retries, kept on a dead-letter queue rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from pshub_infra.constructs.acknowledgments import acknowledge, logical_id
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import Topology


class Schedules(Construct):
    """``self.schedules`` is indexed by topology key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        functions: Mapping[str, lambda_.IFunction],
        queues: Mapping[str, sqs.IQueue],
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.Schedule] = {}
        if not topology.schedules:
            return
        # One role for every schedule, granted exactly the functions they invoke.
        self.role = iam.Role(
            self,
            "InvokeRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler: invokes pshub's scheduled functions (pollers)",
        )
        invoked: set[str] = set()
        for spec in topology.schedules:
            function = functions.get(spec.function)
            if function is None:
                raise KeyError(
                    f"schedule {spec.key!r} invokes function {spec.function!r}, which was not built"
                )
            self.schedules[spec.key] = scheduler.Schedule(
                self,
                pascal_id(spec.key),
                description=spec.purpose,
                schedule=scheduler.ScheduleExpression.rate(cdk.Duration.minutes(spec.every_minutes)),
                target=targets.LambdaInvoke(
                    function,
                    role=self.role,
                    input=scheduler.ScheduleTargetInput.from_object(dict(spec.input)),
                    dead_letter_queue=queues[spec.dead_letter_queue],
                    retry_attempts=2,
                    max_event_age=cdk.Duration.minutes(spec.every_minutes),
                ),
            )
            if spec.function not in invoked:
                invoked.add(spec.function)
                acknowledge(
                    self.role,
                    f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                    f"the scheduler's invoke grant covers the {spec.function} function's versions and "
                    "aliases (ARN:*) besides the bare ARN; it is still that one declared function.",
                )
