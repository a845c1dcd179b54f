"""Functions: platform, observability and a least-privilege role per function, all from the topology."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pshub.settings import config_value
from pshub.store.inbox import INBOX_ACTIONS, inbox_key_prefix
from pshub.workflows.provisioning.starter import CONSUMER as STARTER_CONSUMER
from pshub_infra.constants import FUNCTION_LOG_RETENTION, POWERTOOLS_ENVIRONMENT
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, REPO_ROOT, FunctionSpec, Ref

from .support import Synth, as_list, get_att, ref, statements_allowing

RETENTION_DAYS = {"ONE_MONTH": 30}


def _function_path(spec: FunctionSpec) -> str:
    return f"Functions/{pascal_id(spec.key)}/Function/Resource"


def _role_path(spec: FunctionSpec) -> str:
    return f"Functions/{pascal_id(spec.key)}/Role/Resource"


def _expected_value(synth: Synth, value: Ref) -> dict[str, Any]:
    """What CloudFormation gets for a topology Ref (Ref of a queue is its URL; of the rest, its name)."""
    if value.kind == "state_machine":
        # Ref of a state machine is its ARN; its name is an attribute.
        machine_id = synth.logical_id(f"Workflows/{pascal_id(value.key)}/Resource")
        return ref(machine_id) if value.attribute == "arn" else get_att(machine_id, "Name")
    folder = {
        "queue": "Queues",
        "table": "Storage",
        "bucket": "Storage",
        "bus": "Events",
        "stream": "RawArchive",
    }
    logical_id = synth.logical_id(f"{folder[value.kind]}/{pascal_id(value.key)}/Resource")
    if value.attribute == "arn":
        return get_att(logical_id)
    if value.kind == "queue" and value.attribute == "name":
        return get_att(logical_id, "QueueName")
    return ref(logical_id)


def _resources_allowed(synth: Synth, spec: FunctionSpec, action: str) -> list[str]:
    statements = statements_allowing(synth.policy_statements(_role_path(spec)), action)
    return sorted(json.dumps(resource) for s in statements for resource in as_list(s["Resource"]))


def _arns(synth: Synth, folder: str, keys: tuple[str, ...], suffix: str = "") -> list[str]:
    out = []
    for key in keys:
        arn = get_att(synth.logical_id(f"{folder}/{pascal_id(key)}/Resource"))
        out.append(json.dumps({"Fn::Join": ["", [arn, suffix]]} if suffix else arn))
    return sorted(out)


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_function_runs_on_the_declared_platform(synth: Synth, spec: FunctionSpec) -> None:
    # Given a topology function
    props = synth.props(_function_path(spec))
    # Then it is python3.11 (the tests' Python) on Graviton with both layers, traced, sized as declared
    assert props["Runtime"] == "python3.11"
    assert props["Architectures"] == ["arm64"]
    assert sorted(map(json.dumps, props["Layers"])) == sorted(
        json.dumps(ref(synth.logical_id(f"Layers/{name}/Resource"))) for name in ("Dependencies", "Common")
    )
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["MemorySize"] == spec.memory_mb
    assert props["Timeout"] == spec.timeout_s
    assert props["Handler"] == spec.handler
    assert props.get("ReservedConcurrentExecutions") == spec.reserved_concurrency
    # And its own role, not a shared one
    assert props["Role"] == get_att(synth.logical_id(_role_path(spec)))


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_function_code_asset_is_its_code_dir(synth: Synth, spec: FunctionSpec) -> None:
    # Given the function's code asset in the cloud assembly
    asset = synth.resource(_function_path(spec))["Metadata"]["aws:asset:path"]
    module = spec.handler.rsplit(".", 1)[0]
    # Then it holds the handler module, and no interpreter caches
    assert (synth.outdir / asset / f"{module}.py").is_file()
    assert not list((synth.outdir / asset).rglob("__pycache__"))


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_function_environment(synth: Synth, spec: FunctionSpec) -> None:
    # Given a topology function's environment
    variables = synth.props(_function_path(spec))["Environment"]["Variables"]
    # Then Powertools is configured for the service
    for name, value in POWERTOOLS_ENVIRONMENT.items():
        assert variables[name] == spec.environment.get(name, value)
    # And every Ref resolves to the declared attribute of the declared resource
    for name, value in spec.environment.items():
        expected = value if isinstance(value, str) else _expected_value(synth, value)
        assert variables[name] == expected, name
    # And every configuration file arrives meaning exactly what the repository's file means:
    # its variable names the stack's SSM parameter holding it (or, for the ingress, holds it)
    parameters = {
        r["Properties"]["Name"]: r["Properties"]["Value"]
        for r in synth.resources("AWS::SSM::Parameter").values()
    }
    for name, relative_path in spec.config_env.items():
        value = variables[name]
        if not spec.config_in_environment:
            assert value.startswith("ssm:/pshub/config/")
            value = parameters[value.removeprefix("ssm:")]
        assert _parse(REPO_ROOT / relative_path, value) == _parse(
            REPO_ROOT / relative_path, (REPO_ROOT / relative_path).read_text()
        )


def _parse(path: Path, text: str) -> Any:
    text = config_value(text)  # a large file is deployed packed
    return (
        tomllib.loads(text)
        if path.suffix == ".toml"
        else json.loads(text)
        if path.suffix == ".json"
        else text
    )


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_function_logs_to_its_own_group_with_retention(synth: Synth, spec: FunctionSpec) -> None:
    # Given a topology function
    log_group_path = f"Functions/{pascal_id(spec.key)}/Logs/Resource"
    # Then it logs to its own group, which expires logs
    assert synth.props(_function_path(spec))["LoggingConfig"]["LogGroup"] == ref(
        synth.logical_id(log_group_path)
    )
    assert synth.props(log_group_path)["RetentionInDays"] == RETENTION_DAYS[FUNCTION_LOG_RETENTION.name]
    # And its role can write there, and nowhere else in CloudWatch Logs
    assert _resources_allowed(synth, spec, "logs:PutLogEvents") == [
        json.dumps(get_att(synth.logical_id(log_group_path)))
    ]


@pytest.mark.parametrize("spec", PIPELINE.functions, ids=lambda spec: spec.key)
def test_role_grants_exactly_what_the_spec_declares(synth: Synth, spec: FunctionSpec) -> None:
    # Given a topology function's role
    role = synth.props(_role_path(spec))
    # Then only Lambda can assume it and it carries no managed policy
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role
    # And each data-plane action reaches exactly the resources the spec names
    assert _resources_allowed(synth, spec, "sqs:SendMessage") == _arns(synth, "Queues", spec.sends_to_queues)
    assert _resources_allowed(synth, spec, "s3:GetObject") == _arns(
        synth, "Storage", spec.reads_buckets, "/*"
    )
    assert _resources_allowed(synth, spec, "s3:PutObject") == _arns(
        synth, "Storage", spec.writes_buckets, "/*"
    )
    tables = (*spec.reads_writes_tables, *((spec.inbox_table,) if spec.inbox_table else ()))
    indexed = tuple(t.key for t in PIPELINE.tables if t.indexes and t.key in spec.reads_writes_tables)
    assert _resources_allowed(synth, spec, "dynamodb:PutItem") == sorted(
        _arns(synth, "Storage", tables) + _arns(synth, "Storage", indexed, "/index/*")
    )
    read_only = (*spec.reads_writes_tables, *spec.reads_tables)  # the inbox never queries
    assert _resources_allowed(synth, spec, "dynamodb:Query") == sorted(
        _arns(synth, "Storage", read_only) + _arns(synth, "Storage", indexed, "/index/*")
    )
    assert _resources_allowed(synth, spec, "events:PutEvents") == _arns(synth, "Events", spec.puts_events_to)
    assert _resources_allowed(synth, spec, "firehose:PutRecordBatch") == _arns(
        synth, "RawArchive", spec.writes_streams
    )
    assert _resources_allowed(synth, spec, "states:StartExecution") == sorted(
        json.dumps(ref(synth.logical_id(f"Workflows/{pascal_id(key)}/Resource")))
        for key in spec.starts_state_machines
    )
    consumed = tuple(c.queue for c in PIPELINE.consumers if c.function == spec.key)
    assert _resources_allowed(synth, spec, "sqs:ReceiveMessage") == _arns(synth, "Queues", consumed)


@pytest.mark.parametrize("spec", [f for f in PIPELINE.functions if f.inbox_table], ids=lambda spec: spec.key)
def test_an_inbox_role_reaches_only_its_own_consumers_records(synth: Synth, spec: FunctionSpec) -> None:
    # Given a function that keeps a consumer inbox in a table other records share
    assert spec.inbox_table not in spec.reads_writes_tables
    table_arn = get_att(synth.logical_id(f"Storage/{pascal_id(spec.inbox_table or '')}/Resource"))
    on_table = [
        s
        for s in synth.policy_statements(_role_path(spec))
        if s["Effect"] == "Allow" and table_arn in as_list(s["Resource"])
    ]
    # Then one statement reaches that table: the four item actions Powertools' records take ...
    [statement] = on_table
    assert sorted(as_list(statement["Action"])) == sorted(f"dynamodb:{a}" for a in INBOX_ACTIONS)
    assert as_list(statement["Resource"]) == [table_arn]
    # ... on the items whose key starts with the consumer's prefix only
    [(operator, condition)] = statement["Condition"].items()
    assert operator == "ForAllValues:StringLike"
    assert list(condition) == ["dynamodb:LeadingKeys"]
    assert as_list(condition["dynamodb:LeadingKeys"]) == [f"{inbox_key_prefix(spec.key)}#*"]
    # And the table the code writes to is that table
    assert spec.environment["INBOX_TABLE"] == Ref("table", spec.inbox_table or "")


def test_the_starters_inbox_consumer_is_its_function_key() -> None:
    # The role's key prefix is derived from the function key; the code's from its consumer name
    assert PIPELINE.function(STARTER_CONSUMER).inbox_table == "idempotency"


def test_ingress_can_only_enqueue_raw_and_unmappable_deliveries(synth: Synth) -> None:
    # Given the ingress function, which acknowledges webhooks
    spec = PIPELINE.function("ingress")
    # Then it can send to the raw-delivery and unmappable queues only
    assert _resources_allowed(synth, spec, "sqs:SendMessage") == _arns(
        synth, "Queues", ("raw_deliveries", "unmappable_deliveries")
    )
    # And it cannot publish canonical events or consume any queue
    assert _resources_allowed(synth, spec, "events:PutEvents") == []
    assert _resources_allowed(synth, spec, "sqs:ReceiveMessage") == []


@pytest.mark.parametrize("consumer", PIPELINE.consumers, ids=lambda c: f"{c.queue}->{c.function}")
def test_queue_consumer_reports_batch_item_failures(synth: Synth, consumer: Any) -> None:
    # Given a consumer declared in the topology
    function_id = synth.logical_id(_function_path(PIPELINE.function(consumer.function)))
    queue_id = synth.logical_id(f"Queues/{pascal_id(consumer.queue)}/Resource")
    mappings = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == get_att(queue_id)
    ]
    # Then exactly one event-source mapping drives the function from the queue
    assert len(mappings) == 1
    (mapping,) = mappings
    assert mapping["FunctionName"] == ref(function_id)
    # And a failed record is retried alone instead of failing the whole batch
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == consumer.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == consumer.max_batching_window_s


def test_normaliser_is_driven_by_raw_deliveries(synth: Synth) -> None:
    # Given the normaliser
    function_id = synth.logical_id("Functions/Normaliser/Function/Resource")
    # Then its event source is the raw-delivery queue, reporting partial failures
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == ref(function_id)
    ]
    assert mapping["EventSourceArn"] == get_att(synth.logical_id("Queues/RawDeliveries/Resource"))
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
