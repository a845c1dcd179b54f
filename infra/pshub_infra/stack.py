"""The pshub stack: composes one construct per concern from ``topology.PIPELINE``.

Order matters only where a construct needs another's resources; every construct
registers what it built in the ``ResourceIndex`` that the later ones read. State
machines come after the functions (their definitions name function ARNs); functions
that start them get that grant once both exist.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from pshub.connections import check_stage
from pshub_infra.constants import SERVICE_TAG
from pshub_infra.constructs.alarms import Alarms
from pshub_infra.constructs.archive import DeliveryStreams
from pshub_infra.constructs.config_text import ConfigParameters
from pshub_infra.constructs.connections import ConnectionSecrets
from pshub_infra.constructs.event_bus import EventBuses
from pshub_infra.constructs.functions import Functions
from pshub_infra.constructs.ingress_api import IngressApi
from pshub_infra.constructs.layers import Layers
from pshub_infra.constructs.log_groups import LogGroups
from pshub_infra.constructs.queues import Queues
from pshub_infra.constructs.references import ResourceIndex
from pshub_infra.constructs.schedules import Schedules
from pshub_infra.constructs.state_machines import StateMachines
from pshub_infra.constructs.storage import Storage
from pshub_infra.outputs import resource_outputs
from pshub_infra.topology import CONNECTIONS_FILE, PIPELINE, Topology


class PshubStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology = PIPELINE,
        stage: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if stage:
            check_stage(stage)
        cdk.Tags.of(self).add(*SERVICE_TAG)
        if stage:
            cdk.Tags.of(self).add("stage", stage)

        index = ResourceIndex()
        storage = Storage(self, "Storage", topology=topology)
        index.buckets.update(storage.buckets)
        index.tables.update(storage.tables)

        queues = Queues(self, "Queues", topology=topology)
        index.queues.update(queues.queues)

        log_groups = LogGroups(self, "LogGroups", topology=topology, stage=stage)
        buses = EventBuses(
            self, "Events", topology=topology, queues=index.queues, log_groups=log_groups.log_groups
        )
        index.buses.update(buses.buses)

        streams = DeliveryStreams(self, "RawArchive", topology=topology, buckets=index.buckets)
        index.streams.update(streams.streams)

        connections = ConnectionSecrets(self, "Connections", connections_file=CONNECTIONS_FILE, stage=stage)
        config = ConfigParameters(
            self, "Config", topology=topology, registry_text=connections.registry_json, stage=stage
        )
        layers = Layers(self, "Layers")
        self.functions = Functions(
            self,
            "Functions",
            topology=topology,
            index=index,
            layers=layers.all,
            connections=connections,
            config=config,
            stage=stage,
        )
        StateMachines(self, "Workflows", topology=topology, index=index, stage=stage)
        alarms = Alarms(
            self,
            "Alarms",
            topology=topology,
            queues=index.queues,
            functions=index.functions,
            state_machines=index.state_machines,
            stage=stage,
        )
        cdk.CfnOutput(
            self,
            "AlarmTopicArn",
            value=alarms.topic.topic_arn,
            description="SNS topic every alarm notifies: subscribe the on-call address or chat to it",
        )
        Schedules(self, "Schedules", topology=topology, functions=index.functions, queues=index.queues)
        self.functions.grant_state_machine_starts()

        api = IngressApi(self, "Ingress", routes=topology.routes, functions=index.functions)
        cdk.CfnOutput(
            self, "Stage", value=stage or "-", description="The stage in every physical name (`-` for none)"
        )
        cdk.CfnOutput(
            self, "WebhookEndpoint", value=api.url, description="Base URL of POST /webhooks/{connection}"
        )
        # How the operator commands (`pshub ...`) find every resource: one output per queue,
        # table, bucket and state machine, named as pshub_infra.outputs says (the local
        # runtime registers the same outputs).
        values = {
            "queue": lambda key: index.queues[key].queue_url,
            "table": lambda key: index.tables[key].table_name,
            "bucket": lambda key: index.buckets[key].bucket_name,
            "state_machine": lambda key: index.state_machines[key].state_machine_arn,
            "function": lambda key: index.functions[key].function_name,
        }
        for output in resource_outputs(topology):
            cdk.CfnOutput(
                self, output.name, value=values[output.kind](output.key), description=output.description
            )
        self.index = index
