"""CloudWatch Logs groups the topology declares (event rule targets, audit trails)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from pshub_infra.constants import EVENT_LOG_RETENTION
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import Topology, log_group_name


class LogGroups(Construct):
    """``self.log_groups`` is indexed by topology key; names come from ``topology.log_group_name``."""

    def __init__(self, scope: Construct, construct_id: str, *, topology: Topology, stage: str = "") -> None:
        super().__init__(scope, construct_id)
        self.log_groups: dict[str, logs.LogGroup] = {
            key: logs.LogGroup(
                self,
                pascal_id(key),
                # Fixed names: people search these by name when tracing a correlation id,
                # and the local runtime creates the same ones.
                log_group_name=log_group_name(key, stage),
                retention=EVENT_LOG_RETENTION,
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            for key in topology.log_groups
        }
