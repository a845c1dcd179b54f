"""moto's Step Functions interpreter made safe for concurrent executions (pshub_local.moto_patches)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from pshub_local.moto_patches import queue_patches, step_functions_patches

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def patched() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        patches = step_functions_patches()
        for patch in patches:
            patch.start()
        try:
            yield
        finally:
            for patch in reversed(patches):
                patch.stop()


def test_definitions_are_parsed_one_at_a_time_however_many_executions_start_together() -> None:
    # Given a parser that records how many calls are inside it at once (and lingers there)
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    inside, most = [0], [0]
    guard = threading.Lock()

    def slow_parse(definition: str) -> Any:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)
        with guard:
            inside[0] -= 1
        return definition

    with mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(slow_parse)):
        patches = step_functions_patches()
        for patch in patches:
            patch.start()
        try:
            start = threading.Barrier(12)

            def parse() -> None:
                start.wait()
                AmazonStateLanguageParser.parse("{}")

            threads = [threading.Thread(target=parse) for _ in range(12)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
        finally:
            for patch in reversed(patches):
                patch.stop()

    # Then no two parses overlapped
    assert most[0] == 1


def test_an_execution_whose_interpreter_fails_ends_failed_instead_of_running_for_ever(patched: None) -> None:
    # Given the interpreter raises inside an execution's worker thread (as moto's parser once did)
    from moto.stepfunctions.parser.asl.parse import asl_parser

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="m", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    with mock.patch.object(
        asl_parser.Preprocessor, "visit", side_effect=IndexError("list index out of range")
    ):
        execution = sfn.start_execution(stateMachineArn=arn, name="e1", input="{}")["executionArn"]
        deadline = time.monotonic() + 10
        while (
            sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)

    # Then it is FAILED with the interpreter's error, as Step Functions reports a runtime failure
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "IndexError" in described["cause"]


def test_executions_still_succeed_through_the_patches(patched: None) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="m", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="ok", input='{"a": 1}')["executionArn"]
    deadline = time.monotonic() + 10
    while (
        sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"a": 1}


@pytest.fixture
def queues() -> Iterator[Any]:
    with mock_aws():
        patches = queue_patches()
        for patch in patches:
            patch.start()
        try:
            yield boto3.client("sqs", region_name="eu-west-1")
        finally:
            for patch in reversed(patches):
                patch.stop()


def test_a_full_queue_hands_out_each_message_once_and_what_failed_comes_back_after_its_timeout(
    queues: Any,
) -> None:
    # Given 300 messages on a queue
    url = queues.create_queue(QueueName="postings")["QueueUrl"]
    for start in range(0, 300, 10):
        queues.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"entry-{start + i}"} for i in range(10)]
        )
    # When they are received ten at a time, with a one-second visibility timeout
    bodies: list[str] = []
    handles: list[str] = []
    while got := queues.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1).get(
        "Messages"
    ):
        bodies += [m["Body"] for m in got]
        handles += [m["ReceiptHandle"] for m in got]
    # Then every message came once, and none is left visible
    assert sorted(bodies) == sorted(f"entry-{n}" for n in range(300))
    # And one left undeleted is seen again once its timeout has passed, the rest never again
    for start in range(10, 300, 10):
        queues.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[start : start + 10])],
        )
    time.sleep(1.1)
    again = queues.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert sorted(m["Body"] for m in again) == sorted(bodies[:10])


def test_a_message_older_than_the_queues_retention_period_is_not_handed_out(queues: Any) -> None:
    # Given a queue that keeps messages for a minute, and one message on it
    url = queues.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    queues.send_message(QueueUrl=url, MessageBody="old")
    # When it is received two minutes later
    later = time.time() + 120
    with mock.patch.object(time, "time", return_value=later):
        got = queues.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # Then it is not handed out
    assert got == []
