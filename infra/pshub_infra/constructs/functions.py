"""The Lambda functions of the topology, each with its own log group and least-privilege role."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from pshub.connections import STAGE_ENV_VAR
from pshub.settings import PARAMETER_PREFIX
from pshub.store.inbox import INBOX_ACTIONS, inbox_key_prefix
from pshub_infra.constants import (
    ASSET_EXCLUDES,
    CONNECTIONS_ENV_VAR,
    FUNCTION_LOG_RETENTION,
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    POWERTOOLS_ENVIRONMENT,
)
from pshub_infra.constructs.acknowledgments import acknowledge, logical_id
from pshub_infra.constructs.config_text import (
    LAMBDA_ENV_LIMIT_BYTES,
    ConfigParameters,
    config_text,
    environment_size,
)
from pshub_infra.constructs.connections import ConnectionSecrets
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.constructs.references import ResourceIndex
from pshub_infra.topology import (
    REPO_ROOT,
    FunctionSpec,
    QueueConsumerSpec,
    Topology,
    config_parameter_name,
    config_variables,
)


class PipelineFunction(Construct):
    """One function: its role (only what its spec allows), its log group, the function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        environment: dict[str, str],
        layers: Sequence[lambda_.ILayerVersion],
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"pshub {spec.key}: {spec.purpose}"[:1000],
        )
        # An explicit group (not the implicit /aws/lambda one) so retention is ours and
        # the role can be limited to writing to it.
        self.log_group = logs.LogGroup(self, "Logs", retention=FUNCTION_LOG_RETENTION)
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.purpose[:256],
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler=spec.handler,
            code=lambda_.Code.from_asset(str(REPO_ROOT / spec.code_dir), exclude=list(ASSET_EXCLUDES)),
            layers=list(layers),
            memory_size=spec.memory_mb,
            timeout=cdk.Duration.seconds(spec.timeout_s),
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role,
            log_group=self.log_group,
            environment=environment,
            reserved_concurrent_executions=spec.reserved_concurrency,
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions; it is the only statement on '*'.",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The runtime is pinned to the Python the tests run on (python3.11): the dependencies layer "
            "is built for its cp311/aarch64 wheels from the tested lock; moving to a newer runtime is a "
            "deliberate upgrade of layer, runtime and tests together.",
        )


class Functions(Construct):
    """All functions of the topology; registers them in ``index.functions``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        index: ResourceIndex,
        layers: Sequence[lambda_.ILayerVersion],
        connections: ConnectionSecrets,
        config: ConfigParameters,
        stage: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._stage = stage
        self._topology = topology
        self._index = index
        self._connections = connections
        self.functions: dict[str, PipelineFunction] = {}
        for spec in topology.functions:
            built = PipelineFunction(
                self,
                pascal_id(spec.key),
                spec=spec,
                environment=self._environment(spec),
                layers=layers,
            )
            self._grant(built)
            self.functions[spec.key] = built
            index.functions[spec.key] = built.function
        self._add_consumers(topology.consumers)

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        environment = dict(POWERTOOLS_ENVIRONMENT)
        if self._stage:  # the stage's own secrets (pshub/<stage>/connections/...)
            environment[STAGE_ENV_VAR] = self._stage
        if spec.config_in_environment:
            if spec.uses_connections:
                environment[CONNECTIONS_ENV_VAR] = self._connections.registry_json
            for name, relative_path in spec.config_env.items():
                environment[name] = config_text(REPO_ROOT / relative_path)
        else:  # the variable names the parameter; the function reads (and caches) its text
            for name in config_variables(spec):
                environment[name] = PARAMETER_PREFIX + config_parameter_name(name, self._stage)
        # The spec may override a default (e.g. LOG_LEVEL=DEBUG for one function).
        for name, value in spec.environment.items():
            environment[name] = value if isinstance(value, str) else self._index.resolve(value)
        # Lambda would only refuse this at deploy time; fail the synth instead.
        size = environment_size(environment)
        if size > LAMBDA_ENV_LIMIT_BYTES:
            largest = sorted(
                (
                    (len(value), name)
                    for name, value in environment.items()
                    if not cdk.Token.is_unresolved(value)
                ),
                reverse=True,
            )[:3]
            raise ValueError(
                f"function {spec.key!r}: environment of ~{size} bytes exceeds Lambda's "
                f"{LAMBDA_ENV_LIMIT_BYTES}; largest variables (bytes, name): {largest}"
            )
        return environment

    def _grant(self, built: PipelineFunction) -> None:
        spec, role, index = built.spec, built.role, self._index
        for key in spec.sends_to_queues:
            index.queues[key].grant_send_messages(role)
        # Object-level actions only: the functions never list or configure buckets.
        for key in spec.reads_buckets:
            index.buckets[key].grants.actions_on_object_keys(role, "*", "s3:GetObject")
        for key in spec.writes_buckets:
            index.buckets[key].grants.actions_on_object_keys(role, "*", "s3:PutObject")
        for key in {*spec.reads_buckets, *spec.writes_buckets}:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{logical_id(index.buckets[key])}.Arn>/*]",
                f"Object keys in the {key} bucket are generated per delivery, so the grant covers its "
                "objects; it is limited to that one bucket and to object reads/writes as the topology "
                "declares (no list, delete or bucket configuration).",
            )
        self._grant_tables(built)
        for key in spec.puts_events_to:
            index.buses[key].grant_put_events_to(role)
        for key in spec.writes_streams:
            index.streams[key].grant_put_records(role)
        if spec.reads_signing_secrets and spec.reads_api_credentials_for:
            raise ValueError(
                f"function {spec.key!r} would read webhook signing secrets and API credentials; "
                "each kind of connection secret belongs to a different function"
            )
        if spec.reads_signing_secrets:
            self._connections.grant_read_signing(role)
        if spec.reads_api_credentials_for:
            self._connections.grant_read_api(role, spec.reads_api_credentials_for)
        if not spec.config_in_environment:
            for name in config_variables(spec):
                self._config.parameters[name].grant_read(role)

    def _grant_tables(self, built: PipelineFunction) -> None:
        spec, role, index = built.spec, built.role, self._index
        indexed = {t.key for t in self._topology.tables if t.indexes}
        for key in spec.reads_writes_tables:
            index.tables[key].grant_read_write_data(role)
            if key in indexed:  # CDK's grant covers the table's own indexes with it
                acknowledge(
                    role,
                    f"AwsSolutions-IAM5[Resource::<{logical_id(index.tables[key])}.Arn>/index/*]",
                    f"The {key} table's own secondary indexes, which CDK's table grant includes: they "
                    "project that one table's items, which the role may read and write already.",
                )
        for key in spec.reads_tables:
            index.tables[key].grant_read_data(role)
        if spec.inbox_table:
            # The inbox shares its table with other records (the normaliser's claims): the
            # role reaches only the items of its own consumer, by their key prefix.
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[f"dynamodb:{action}" for action in INBOX_ACTIONS],
                    resources=[index.tables[spec.inbox_table].table_arn],
                    conditions={
                        "ForAllValues:StringLike": {
                            "dynamodb:LeadingKeys": [f"{inbox_key_prefix(spec.key)}#*"]
                        }
                    },
                )
            )

    def grant_state_machine_starts(self) -> None:
        """Call once the state machines exist (they may name these functions in their definitions)."""
        for built in self.functions.values():
            for key in built.spec.starts_state_machines:
                machine = self._index.state_machines.get(key)
                if machine is None:
                    raise KeyError(
                        f"function {built.spec.key!r} starts state machine {key!r}, which was not built"
                    )
                machine.grant_start_execution(built.role)

    def _add_consumers(self, consumers: Iterable[QueueConsumerSpec]) -> None:
        for consumer in consumers:
            if consumer.queue not in self._index.queues:
                raise KeyError(
                    f"function {consumer.function!r} consumes queue {consumer.queue!r}, "
                    "which the topology does not declare"
                )
            built = self.functions[consumer.function]
            queue = self._index.queues[consumer.queue]
            visibility_s = self._topology.queue(consumer.queue).visibility_timeout_s
            # Otherwise a message becomes visible again while its first attempt still runs.
            if visibility_s < built.spec.timeout_s:
                raise ValueError(
                    f"queue {consumer.queue!r} hides messages for {visibility_s}s, less than the "
                    f"{built.spec.timeout_s}s timeout of its consumer {consumer.function!r}"
                )
            built.function.add_event_source(
                event_sources.SqsEventSource(
                    queue,
                    batch_size=consumer.batch_size,
                    max_batching_window=(
                        cdk.Duration.seconds(consumer.max_batching_window_s)
                        if consumer.max_batching_window_s
                        else None
                    ),
                    # A failed record is retried alone; the rest of the batch is deleted.
                    report_batch_item_failures=True,
                    max_concurrency=consumer.max_concurrency,
                )
            )
