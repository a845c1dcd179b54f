"""LocalRuntime against a small topology with throwaway handlers (not pshub's own)."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from pshub.connections import api_secret_name, signing_secret_name
from pshub.settings import config_value
from pshub_infra.topology import (
    CANONICAL_EVENT_SOURCE,
    CONNECTIONS_FILE,
    EventBusSpec,
    FunctionSpec,
    HttpRouteSpec,
    QueueConsumerSpec,
    QueueSpec,
    Ref,
    RuleSpec,
    StateMachineSpec,
    TableSpec,
    Topology,
)
from pshub_local.resources import put_api_credentials
from pshub_local.runtime import LocalRuntime
from pshub_local.vendors import local_secret

ALPHA = """
import json, os, uuid
import boto3
import helper  # a sibling module, as in Lambda's /var/task

QUEUE_URL = os.environ["WORK_QUEUE_URL"]  # read at import, like pshub's handlers
PARKING_URL = os.environ["PARKING_URL"]
LOG_LEVEL = os.environ["LOG_LEVEL"]
LOADED = str(uuid.uuid4())
_sqs = boto3.client("sqs")

def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("alpha refuses")
    if "send" in event:
        _sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=event["send"],
                          MessageAttributes={"reason": {"DataType": "String", "StringValue": "test"}})
    if "park" in event:  # a workflow step waiting for a person: the token goes to a queue
        _sqs.send_message(QueueUrl=PARKING_URL, MessageBody=event["park"])
    return {"helper": helper.NAME, "loaded": LOADED, "log_level": LOG_LEVEL, "function_name": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis(), "arn": context.invoked_function_arn}
"""

BETA = """
import json, os
import boto3
import helper

_events = boto3.client("events")
BUS = os.environ["EVENT_BUS_NAME"]
LOG_LEVEL = os.environ["LOG_LEVEL"]

def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        if record["body"] == "bad":
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        _events.put_events(Entries=[{"Source": "pshub.canonical", "DetailType": "Thing", "EventBusName": BUS,
                                     "Detail": json.dumps({"body": record["body"], "by": helper.NAME})}])
    return {"batchItemFailures": failures, "log_level": LOG_LEVEL}
"""


FLOW = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "${AlphaArn}",
            "ResultPath": "$.check",
            "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Refused"}],
            "Next": "Park",
        },
        "Park": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "${AlphaArn}", "Payload": {"park.$": "$$.Task.Token"}},
            "End": True,
        },
        "Refused": {"Type": "Fail", "Error": "Refused", "Cause": "alpha refused"},
    },
}


def topology(repo: Path) -> Topology:
    return Topology(
        queues=(
            QueueSpec("work", "work", dead_letter_queue="work_dlq", max_receive_count=2),
            QueueSpec("work_dlq", "dead work"),
            QueueSpec("unmappable_deliveries", "parked"),
        ),
        tables=(TableSpec("claims", "claims", partition_key="id", ttl_attribute="expiration"),),
        buckets=(),
        streams=(),
        buses=(EventBusSpec("business_events", "bus"),),
        rules=(
            RuleSpec(
                "canonical_event_log",
                "log",
                bus="business_events",
                pattern={"source": [CANONICAL_EVENT_SOURCE]},
                target_log_group="canonical_events",
            ),
        ),
        functions=(
            FunctionSpec(
                "alpha",
                "a",
                code_dir="functions/alpha",
                handler="handler.lambda_handler",
                timeout_s=7,
                environment={
                    "WORK_QUEUE_URL": Ref("queue", "work", "url"),
                    "PARKING_URL": Ref("queue", "unmappable_deliveries", "url"),
                    "CLAIMS": Ref("table", "claims"),
                },
                uses_connections=True,
            ),
            FunctionSpec(
                "beta",
                "b",
                code_dir="functions/beta",
                handler="handler.lambda_handler",
                environment={
                    "EVENT_BUS_NAME": Ref("bus", "business_events"),
                    "BETA_ARN": Ref("function", "beta", "arn"),
                    "LOG_LEVEL": "DEBUG",
                },
                config_env={"PSHUB_OWNERSHIP_POLICY": "ownership.toml"},
            ),
        ),
        consumers=(QueueConsumerSpec(queue="work", function="beta", batch_size=10),),
        routes=(HttpRouteSpec("POST", "/webhooks/{connection}", "alpha"),),
        log_groups=("canonical_events",),
        state_machines=(
            StateMachineSpec(
                "flow",
                "a workflow",
                definition_file=str(repo / "flow.asl.json"),  # absolute: outside infra/statemachines
                substitutions={"AlphaArn": Ref("function", "alpha", "arn")},
                invokes_functions=("alpha",),
            ),
        ),
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name, source in (("alpha", ALPHA), ("beta", BETA)):
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "handler.py").write_text(textwrap.dedent(source))
        (folder / "helper.py").write_text(f"NAME = '{name}-helper'\n")
    (tmp_path / "ownership.toml").write_text("[policy]\nversion = 1\n")
    (tmp_path / "flow.asl.json").write_text(json.dumps(FLOW))
    return tmp_path


def local_runtime(repo: Path) -> LocalRuntime:
    return LocalRuntime(topology(repo), repo_root=repo)


@pytest.fixture
def runtime(repo: Path) -> Iterator[LocalRuntime]:
    with local_runtime(repo) as local:
        yield local


def test_handlers_load_with_resolved_environment_and_their_own_helpers(runtime: LocalRuntime) -> None:
    result = runtime.invoke("alpha", {})
    assert result["helper"] == "alpha-helper"
    assert result["function_name"] == "pshub-alpha"
    assert result["arn"] == runtime.function_arn("alpha")
    assert 6000 < result["remaining_ms"] <= 7000
    assert os.environ["WORK_QUEUE_URL"] == runtime.queue_url("work")
    assert os.environ["CLAIMS"] == "pshub-claims"
    assert os.environ["BETA_ARN"] == runtime.function_arn("beta")
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "pshub"
    # The configured registry, each connection with a real connector pointed at its local fake
    configured = json.loads(CONNECTIONS_FILE.read_text())
    received = json.loads(config_value(os.environ["PSHUB_CONNECTIONS"]))  # packed when over 1 KB
    for entry in configured["connections"]:
        local = runtime.fakes.get(entry["id"])
        if local is not None:
            entry["options"] = {**entry.get("options", {}), **local.fake.local_options()}
            assert local.fake.base_url.startswith("http://127.0.0.1:")
    assert received == configured
    # every connection pshub calls: the workflows' roles, and the sources it must read from
    # (Oracle Fusion's connection is inbound only, through its relay: nothing pshub calls)
    assert set(runtime.fakes) == {
        c["id"]
        for c in configured["connections"]
        if (c["role"] in {"erp", "psa", "crm", "billing"} and c["id"] != "oracle-fusion-acme")
        or c["id"] in {"harvest-acme", "concur-acme"}
    }
    assert "\n" not in os.environ["PSHUB_CONNECTIONS"]
    # configuration is read from its SSM parameter, as deployed, holding the file's text
    assert os.environ["PSHUB_OWNERSHIP_POLICY"] == "ssm:/pshub/config/ownership-policy"
    assert config_value(os.environ["PSHUB_OWNERSHIP_POLICY"]) == "[policy]\nversion = 1\n"


def test_a_variable_set_differently_per_function_is_each_ones_own_at_import(runtime: LocalRuntime) -> None:
    assert runtime.invoke("alpha", {})["log_level"] == "INFO"
    assert runtime.invoke("beta", {"Records": []})["log_level"] == "DEBUG"


def test_function_environment_in_moto_lambda_is_what_cdk_would_set(runtime: LocalRuntime) -> None:
    variables = boto3.client("lambda").get_function_configuration(FunctionName="pshub-beta")["Environment"][
        "Variables"
    ]
    assert variables == {
        "POWERTOOLS_SERVICE_NAME": "pshub",
        "POWERTOOLS_METRICS_NAMESPACE": "pshub",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "LOG_LEVEL": "DEBUG",  # the spec overrides the default, as in CDK
        "EVENT_BUS_NAME": "pshub-business-events",
        "BETA_ARN": runtime.function_arn("beta"),
        "PSHUB_OWNERSHIP_POLICY": "ssm:/pshub/config/ownership-policy",
    }


def test_resources_are_named_from_the_topology(runtime: LocalRuntime) -> None:
    assert runtime.resource_name("queue", "work") == "pshub-work"
    assert runtime.resource_name("table", "claims") == "pshub-claims"
    assert runtime.resource_name("log_group", "canonical_events") == "/pshub/canonical-events"
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=runtime.queue_url("work"), AttributeNames=["All"])[
        "Attributes"
    ]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": runtime.resource_arn("queue", "work_dlq"),
        "maxReceiveCount": 2,
    }
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="pshub-claims")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"


def test_each_webhook_connection_gets_its_local_signing_secret(runtime: LocalRuntime) -> None:
    secrets = boto3.client("secretsmanager")
    for connection in runtime.connections.values():
        if not connection.receives_webhooks:
            with pytest.raises(secrets.exceptions.ResourceNotFoundException):
                secrets.get_secret_value(SecretId=signing_secret_name(connection.id))
            continue
        value = secrets.get_secret_value(SecretId=signing_secret_name(connection.id))["SecretString"]
        assert (
            value == local_secret(connection.id, connection.platform) == runtime.signing_secret(connection.id)
        )


def test_each_connection_gets_the_api_credentials_its_fake_accepts(runtime: LocalRuntime) -> None:
    secrets = boto3.client("secretsmanager")
    for connection in runtime.connections.values():
        value = json.loads(secrets.get_secret_value(SecretId=api_secret_name(connection.id))["SecretString"])
        local = runtime.fakes.get(connection.id)
        assert value == (local.credentials if local is not None else {})
        assert local is None or value  # a fake's connection is handed credentials, never nothing

    # When credentials are stored for a local fake, Then a reader gets them
    connection_id = next(iter(runtime.connections))
    arn = put_api_credentials(secrets, connection_id, {"client_id": "local-only"})
    stored = secrets.get_secret_value(SecretId=api_secret_name(connection_id))
    assert stored["ARN"] == arn
    assert json.loads(stored["SecretString"]) == {"client_id": "local-only"}
    # And a session works as well as a client
    put_api_credentials(boto3.Session(region_name=runtime.region), connection_id, {"token": "t"})
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == {"token": "t"}


def test_drain_runs_the_consumer_and_events_reach_the_log(runtime: LocalRuntime) -> None:
    runtime.invoke("alpha", {"send": "hello"})

    assert runtime.drain(timeout_s=10) == 1

    (event,) = runtime.canonical_events()
    assert event["detail-type"] == "Thing"
    assert event["detail"] == {"body": "hello", "by": "beta-helper"}
    assert runtime.queue_depth("work") == 0


def test_failed_records_end_on_the_dlq_with_their_attributes(runtime: LocalRuntime) -> None:
    runtime.invoke("alpha", {"send": "bad"})

    runtime.drain(timeout_s=10)

    (dead,) = runtime.dead_letters()
    assert (dead.queue, dead.body, dead.attributes) == ("work_dlq", "bad", {"reason": "test"})
    assert runtime.canonical_events() == []


def test_peek_does_not_count_as_a_delivery(runtime: LocalRuntime) -> None:
    boto3.client("sqs").send_message(QueueUrl=runtime.queue_url("unmappable_deliveries"), MessageBody="x")
    assert [m.receive_count for m in runtime.unmappable()] == [0]
    assert [m.receive_count for m in runtime.unmappable()] == [0]


def test_moto_lambda_invoke_runs_our_handler_with_lambda_error_shape(runtime: LocalRuntime) -> None:
    client = boto3.client("lambda")
    assert client.get_function(FunctionName="pshub-alpha")["Configuration"][
        "FunctionArn"
    ] == runtime.function_arn("alpha")

    ok = client.invoke(FunctionName=runtime.function_arn("alpha"), Payload=b"{}")
    failed = client.invoke(FunctionName="pshub-alpha", Payload=json.dumps({"fail": True}).encode())

    assert json.loads(ok["Payload"].read())["helper"] == "alpha-helper"
    assert failed["FunctionError"] == "Handled"
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "alpha refuses")


def test_every_runtime_imports_the_handlers_afresh(repo: Path) -> None:
    with local_runtime(repo) as first:
        loaded_first = first.invoke("alpha", {})["loaded"]
    with local_runtime(repo) as second:
        assert second.invoke("alpha", {})["loaded"] != loaded_first
        second.invoke("alpha", {"send": "again"})
        second.drain(timeout_s=10)
        assert len(second.canonical_events()) == 1  # the new runtime's state only


def test_stop_restores_the_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone-elses")
    monkeypatch.delenv("WORK_QUEUE_URL", raising=False)
    with local_runtime(repo):
        assert "AWS_PROFILE" not in os.environ
        assert "WORK_QUEUE_URL" in os.environ
    assert os.environ["AWS_PROFILE"] == "someone-elses"
    assert "WORK_QUEUE_URL" not in os.environ


def test_a_missing_handler_fails_start_and_leaves_nothing_behind(repo: Path) -> None:
    (repo / "functions" / "beta" / "handler.py").unlink()
    before = dict(os.environ)
    with pytest.raises(FileNotFoundError, match="beta"):
        local_runtime(repo).start()
    assert dict(os.environ) == before


def test_state_machines_run_our_handlers_and_drain_skips_parked_executions(runtime: LocalRuntime) -> None:
    sfn = boto3.client("stepfunctions")
    refused = sfn.start_execution(
        stateMachineArn=runtime.state_machine_arn("flow"), name="refused", input='{"fail": true}'
    )
    parked = sfn.start_execution(stateMachineArn=runtime.state_machine_arn("flow"), name="parked", input="{}")

    # drain returns although "parked" waits for a person (its task token)
    runtime.drain(timeout_s=10)

    failed = sfn.describe_execution(executionArn=refused["executionArn"])
    assert (failed["status"], failed["error"]) == ("FAILED", "Refused")
    assert sfn.describe_execution(executionArn=parked["executionArn"])["status"] == "RUNNING"

    # When the person resumes it
    (token,) = [m.body for m in runtime.unmappable()]
    sfn.send_task_success(taskToken=token, output='{"resumed": true}')
    runtime.drain(timeout_s=10)

    assert sfn.describe_execution(executionArn=parked["executionArn"])["status"] == "SUCCEEDED"
    assert {e["name"]: e["status"] for e in runtime.executions()} == {
        "refused": "FAILED",
        "parked": "SUCCEEDED",
    }
