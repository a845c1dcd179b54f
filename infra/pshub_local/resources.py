"""Create every resource of the topology on moto, named by ``topology.local_name``.

This is the local twin of the CDK constructs: it reads the same ``Topology`` and
nothing else, so a queue added there exists here too.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pshub.connections import SECRET_PREFIX, Connection, api_secret_name
from pshub.settings import PARAMETER_PREFIX
from pshub_infra.topology import (
    BASE_FUNCTION_ENVIRONMENT,
    CANONICAL_EVENT_SOURCE,
    CONNECTIONS_VARIABLE,
    FunctionSpec,
    Ref,
    Topology,
    config_files,
    config_parameter_name,
    config_variables,
    local_name,
    log_group_name,
    render_config,
)

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_secretsmanager import SecretsManagerClient

LAMBDA_RUNTIME = "python3.12"
MAX_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class Resource:
    kind: str
    key: str
    name: str
    arn: str
    url: str | None = None


class Resources:
    """What was created, by (kind, key); resolves a ``Ref`` the way CDK wires it."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Resource] = {}

    def add(self, resource: Resource) -> Resource:
        self._items[(resource.kind, resource.key)] = resource
        return resource

    def get(self, kind: str, key: str) -> Resource:
        try:
            return self._items[(kind, key)]
        except KeyError:
            raise KeyError(f"no local {kind} with key {key!r} (is it declared in the topology?)") from None

    def resolve(self, ref: Ref) -> str:
        resource = self.get(ref.kind, ref.key)
        if ref.attribute == "url":
            if resource.url is None:
                raise ValueError(f"{ref.kind} {ref.key!r} has no URL")
            return resource.url
        return resource.arn if ref.attribute == "arn" else resource.name

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for (k, _), r in self._items.items() if k == kind]


# What CDK gives every function, plus: no X-Ray daemon locally.
BASE_ENVIRONMENT = {**BASE_FUNCTION_ENVIRONMENT, "POWERTOOLS_TRACE_DISABLED": "true"}


def function_environment(
    spec: FunctionSpec, resources: Resources, connections_json: str, repo_root: Path
) -> dict[str, str]:
    """The environment CDK gives the function, with local resource names."""
    env = dict(BASE_ENVIRONMENT)
    if spec.config_in_environment:
        if spec.uses_connections:
            env[CONNECTIONS_VARIABLE] = connections_json
        for name, relative_path in spec.config_env.items():
            env[name] = render_config(str(repo_root / relative_path))
    else:  # as in AWS: the variable names the SSM parameter (``create_config_parameters``)
        for name in config_variables(spec):
            env[name] = PARAMETER_PREFIX + config_parameter_name(name)
    # As in CDK, the spec may override a default.
    env.update(
        {name: resources.resolve(v) if isinstance(v, Ref) else v for name, v in spec.environment.items()}
    )
    return env


def create_config_parameters(
    topology: Topology, session: Session, connections_json: str, repo_root: Path
) -> dict[str, str]:
    """The SSM parameters CDK creates (``ConfigParameters``), with the same texts; returns
    their names by variable."""
    ssm = session.client("ssm")
    texts = {CONNECTIONS_VARIABLE: connections_json}
    texts.update({v: render_config(str(repo_root / path)) for v, path in config_files(topology).items()})
    names = {}
    for variable, text in texts.items():
        names[variable] = config_parameter_name(variable)
        ssm.put_parameter(Name=names[variable], Value=text, Type="String", Overwrite=True)
    return names


def provision(
    topology: Topology,
    session: Session,
    region: str,
    connections: Mapping[str, Connection],
    secrets: Mapping[str, str],
) -> Resources:
    """Create queues, tables, buckets, streams, buses, rules, log groups and secrets."""
    resources = Resources()
    role = session.client("iam").create_role(
        RoleName="pshub-local-service-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    resources.add(Resource("role", "service", "pshub-local-service-role", role))
    _create_log_groups(topology, session, resources)
    _create_queues(topology, session, resources)
    _create_tables(topology, session, resources)
    _create_buckets(topology, session, resources, region)
    _create_streams(topology, session, resources)
    _create_buses_and_rules(topology, session, resources)
    _create_secrets(connections, secrets, session, resources)
    return resources


def _create_log_groups(topology: Topology, session: Session, resources: Resources) -> None:
    logs = session.client("logs")
    for key in topology.log_groups:
        name = log_group_name(key)
        logs.create_log_group(logGroupName=name)
        arn = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["arn"].removesuffix(":*")
        resources.add(Resource("log_group", key, name, arn))


def _create_tables(topology: Topology, session: Session, resources: Resources) -> None:
    dynamodb = session.client("dynamodb")
    for table in topology.tables:
        name = local_name(table.key)
        keys: list[tuple[str, Literal["HASH", "RANGE"]]] = [(table.partition_key, "HASH")]
        if table.sort_key:
            keys.append((table.sort_key, "RANGE"))
        attributes = dict.fromkeys(n for n, _ in keys)
        indexes: list[dict[str, Any]] = []
        for index in table.indexes:
            schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
            if index.sort_key:
                schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
            attributes.update(dict.fromkeys(s["AttributeName"] for s in schema))
            indexes.append(
                {"IndexName": index.name, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}
            )
        arn = dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in attributes],
            **({"GlobalSecondaryIndexes": indexes} if indexes else {}),  # type: ignore[arg-type]
        )["TableDescription"]["TableArn"]
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        resources.add(Resource("table", table.key, name, arn))


def _create_buckets(topology: Topology, session: Session, resources: Resources, region: str) -> None:
    s3 = session.client("s3")
    for bucket in topology.buckets:
        name = local_name(bucket.key)
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
        resources.add(Resource("bucket", bucket.key, name, f"arn:aws:s3:::{name}"))


def _create_streams(topology: Topology, session: Session, resources: Resources) -> None:
    firehose = session.client("firehose")
    role = resources.get("role", "service").arn
    for stream in topology.streams:
        name = local_name(stream.key)
        # moto writes each record straight to S3 (no buffering) and does not
        # expand the !{timestamp:...} prefix expressions.
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role,
                "BucketARN": resources.get("bucket", stream.bucket).arn,
                "Prefix": stream.prefix,
                "ErrorOutputPrefix": stream.error_prefix,
                "BufferingHints": {
                    "IntervalInSeconds": stream.buffer_interval_s,
                    "SizeInMBs": stream.buffer_size_mib,
                },
            },
        )
        description = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        resources.add(Resource("stream", stream.key, name, description["DeliveryStreamARN"]))


def _create_buses_and_rules(topology: Topology, session: Session, resources: Resources) -> None:
    events = session.client("events")
    for bus in topology.buses:
        name = local_name(bus.key)
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        events.create_archive(
            ArchiveName=f"{name}-archive"[:48],
            EventSourceArn=arn,
            EventPattern=json.dumps({"source": [CANONICAL_EVENT_SOURCE]}),
            RetentionDays=bus.archive_retention_days,
        )
        resources.add(Resource("bus", bus.key, name, arn))
    for rule in topology.rules:
        name = local_name(rule.key)
        bus_name = resources.get("bus", rule.bus).name
        pattern = json.dumps(rule.pattern)
        arn = events.put_rule(Name=name, EventBusName=bus_name, EventPattern=pattern)["RuleArn"]
        targets: list[dict[str, Any]] = []
        if rule.target_queue:
            targets.append({"Id": "queue", "Arn": resources.get("queue", rule.target_queue).arn})
        if rule.target_log_group:
            targets.append({"Id": "log-group", "Arn": resources.get("log_group", rule.target_log_group).arn})
        if rule.target_dlq:
            # Recorded only: moto never fails a delivery, so nothing reaches it locally.
            for target in targets:
                target["DeadLetterConfig"] = {"Arn": resources.get("queue", rule.target_dlq).arn}
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=targets)  # type: ignore[arg-type]
        resources.add(Resource("rule", rule.key, name, arn))


def _create_secrets(
    connections: Mapping[str, Connection], secrets: Mapping[str, str], session: Session, resources: Resources
) -> None:
    """As in AWS: a signing secret for each connection that receives webhooks (``secrets`` has
    its LOCAL-ONLY value), an API credentials secret for every connection."""
    client = session.client("secretsmanager")
    for connection in connections.values():
        if connection.receives_webhooks:
            name = connection.signing_secret_name
            arn = client.create_secret(
                Name=name,
                SecretString=secrets[connection.id],
                Description=f"LOCAL-ONLY demo signing secret of connection {connection.id}",
            )["ARN"]
            resources.add(Resource("secret", name.removeprefix(SECRET_PREFIX), name, arn))
        name = connection.api_secret_name
        # An empty object, unless credentials were already stored (put_api_credentials).
        arn = _secret_arn(client, name) or put_api_credentials(client, connection.id, {})
        resources.add(Resource("secret", name.removeprefix(SECRET_PREFIX), name, arn))


def put_api_credentials(
    session_or_client: Session | SecretsManagerClient, connection_id: str, mapping: Mapping[str, Any]
) -> str:
    """Store LOCAL-ONLY API credentials (a JSON object of credential fields) for a connection.

    Creates ``pshub/connections/<id>/api`` or puts a new version of it, where a connector
    reads its platform's credentials; local fakes use it to hand a connector the values they
    expect. Returns the secret's ARN. The values are never logged.
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(f"API credentials of {connection_id!r} must be a mapping of credential fields")
    client = _secretsmanager(session_or_client)
    name = api_secret_name(connection_id)
    value = json.dumps(dict(mapping), separators=(",", ":"), sort_keys=True)
    try:
        return client.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    except client.exceptions.ResourceNotFoundException:
        return client.create_secret(
            Name=name,
            SecretString=value,
            Description=f"LOCAL-ONLY API credentials of connection {connection_id}",
        )["ARN"]


def _secretsmanager(session_or_client: Session | SecretsManagerClient) -> SecretsManagerClient:
    from boto3.session import Session as Boto3Session

    if isinstance(session_or_client, Boto3Session):
        return session_or_client.client("secretsmanager")
    return session_or_client


def _secret_arn(client: SecretsManagerClient, name: str) -> str | None:
    try:
        return client.describe_secret(SecretId=name)["ARN"]
    except client.exceptions.ResourceNotFoundException:
        return None


def _create_queues(topology: Topology, session: Session, resources: Resources) -> None:
    sqs = session.client("sqs")
    for queue in topology.queues:
        name = local_name(queue.key) + (".fifo" if queue.fifo else "")
        attributes = {
            "VisibilityTimeout": str(queue.visibility_timeout_s),
            "MessageRetentionPeriod": str(min(queue.retention_days * 24 * 3600, MAX_RETENTION_S)),
        }
        if queue.fifo:
            attributes["FifoQueue"] = "true"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resources.add(Resource("queue", queue.key, name, arn, url))
    # Redrive once every queue exists: a DLQ may be declared after its source.
    for queue in topology.queues:
        if queue.dead_letter_queue:
            policy = {
                "deadLetterTargetArn": resources.get("queue", queue.dead_letter_queue).arn,
                "maxReceiveCount": queue.max_receive_count,
            }
            sqs.set_queue_attributes(
                QueueUrl=resources.get("queue", queue.key).url or "",
                Attributes={"RedrivePolicy": json.dumps(policy)},
            )


def declare_compute(topology: Topology, resources: Resources, region: str, account_id: str) -> None:
    """Name functions and state machines up front: they reference each other's ARNs."""
    for spec in topology.functions:
        name = local_name(spec.key)
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
        resources.add(Resource("function", spec.key, name, arn))
    for machine in topology.state_machines:
        name = local_name(machine.key)
        arn = f"arn:aws:states:{region}:{account_id}:stateMachine:{name}"
        resources.add(Resource("state_machine", machine.key, name, arn))


def create_state_machines(topology: Topology, session: Session, resources: Resources) -> None:
    """The ASL files CDK deploys, with the same ``${Name}`` substitutions."""
    stepfunctions = session.client("stepfunctions")
    role = resources.get("role", "service").arn
    for machine in topology.state_machines:
        declared = resources.get("state_machine", machine.key)
        values = {name: resources.resolve(ref) for name, ref in machine.substitutions.items()}
        definition = substitute(
            machine.definition_path.read_text(encoding="utf-8"), values, machine.definition_file
        )
        arn = stepfunctions.create_state_machine(
            name=declared.name, definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
        if arn != declared.arn:
            raise RuntimeError(f"moto named state machine {machine.key!r} {arn}, expected {declared.arn}")


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


def substitute(definition: str, values: Mapping[str, str], source: str) -> str:
    """Replace ``${Name}`` as CloudFormation's Fn::Sub does; an unknown name is an error there too."""
    unknown = sorted({name for name in _PLACEHOLDER.findall(definition) if name not in values})
    if unknown:
        raise ValueError(f"{source}: no substitution for {', '.join('${' + n + '}' for n in unknown)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], definition)


def register_functions(
    topology: Topology, session: Session, resources: Resources, environments: Mapping[str, dict[str, str]]
) -> None:
    """Create each function in moto's Lambda so state machines can name real ARNs."""
    lambda_ = session.client("lambda")
    role = resources.get("role", "service").arn
    for spec in topology.functions:
        declared = resources.get("function", spec.key)
        arn = lambda_.create_function(
            FunctionName=declared.name,
            Runtime=LAMBDA_RUNTIME,
            Role=role,
            Handler=spec.handler,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
            Environment={"Variables": environments[spec.key]},
            Description=spec.purpose[:256],
        )["FunctionArn"]
        if arn != declared.arn:
            raise RuntimeError(f"moto named function {spec.key!r} {arn}, expected {declared.arn}")


def _placeholder_zip() -> bytes:
    # The code moto stores is never run: invocations are dispatched to our handlers.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "pshub local runtime: code runs in-process from functions/\n")
    return buffer.getvalue()


def stack_outputs(topology: Topology, resources: Resources) -> dict[str, str]:
    """The outputs the CDK stack declares (``pshub_infra.outputs``), valued with local resources."""
    from pshub_infra.outputs import resource_outputs

    def value(kind: str, key: str) -> str:
        resource = resources.get(kind, key)
        if kind == "queue":
            return resource.url or ""
        return resource.arn if kind == "state_machine" else resource.name

    found = {}
    for output in resource_outputs(topology):
        with contextlib.suppress(KeyError):  # not provisioned (a store-level test without compute)
            found[output.name] = value(output.kind, output.key)
    return found
