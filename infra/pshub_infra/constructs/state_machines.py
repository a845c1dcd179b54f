"""Step Functions workflows of the topology, from the ASL files in infra/statemachines/.

The definition is the file itself, inline in the template (``from_string``), with its
``${Name}`` placeholders filled by ``definition_substitutions``; the local runtime
loads the same file, so what runs in tests is what deploys. CDK grants nothing for
ARNs inside a definition string: the role gets exactly what the spec declares.
"""

from __future__ import annotations

import json
import re

from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from pshub_infra.constants import STATE_MACHINE_LOG_RETENTION
from pshub_infra.constructs.acknowledgments import acknowledge, logical_id
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.constructs.references import ResourceIndex
from pshub_infra.topology import StateMachineSpec, Topology, state_machine_log_group_name

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class StateMachines(Construct):
    """Builds every state machine and registers it in ``index.state_machines``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        index: ResourceIndex,
        stage: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self._index = index
        self._stage = stage
        for spec in topology.state_machines:
            index.state_machines[spec.key] = self._state_machine(spec)

    def _state_machine(self, spec: StateMachineSpec) -> sfn.StateMachine:
        definition = spec.definition_path.read_text(encoding="utf-8")
        json.loads(definition)  # a malformed file fails the synth, not the deploy
        placeholders = set(_PLACEHOLDER.findall(definition))
        if placeholders != set(spec.substitutions):
            raise ValueError(
                f"state machine {spec.key!r}: {spec.definition_file} uses {sorted(placeholders)} "
                f"but the topology substitutes {sorted(spec.substitutions)}"
            )
        name = pascal_id(spec.key)
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            log_group_name=state_machine_log_group_name(spec.key, self._stage),
            retention=STATE_MACHINE_LOG_RETENTION,
        )
        machine = sfn.StateMachine(
            self,
            name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions={
                placeholder: self._index.resolve_now(ref) for placeholder, ref in spec.substitutions.items()
            },
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        acknowledge(
            machine,
            "AwsSolutions-IAM5[Resource::*]",
            "Logging to CloudWatch Logs (logs:*LogDelivery, PutResourcePolicy, Describe*) and X-Ray tracing "
            "need actions that support no resource-level permissions; CDK adds exactly those on '*'.",
        )
        for key in spec.invokes_functions:
            function = self._index.functions[key]
            function.grant_invoke(machine)
            acknowledge(
                machine,
                f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                f"grant_invoke covers the {key} function's versions and aliases (ARN:*) besides the bare "
                "ARN, so a task may name a qualified ARN; it is still that one declared function.",
            )
        for key in spec.puts_events_to:
            self._index.buses[key].grant_put_events_to(machine)
        return machine
