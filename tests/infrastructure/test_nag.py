"""cdk-nag: the synth is clean, and every acknowledgment is one we meant, with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import CONNECTIONS_FILE, PIPELINE

from .support import STACK_NAME, Synth

MIN_REASON_LENGTH = 60


def _acknowledgments(synth: Synth) -> dict[tuple[str, str], str]:
    """(construct path below the stack, finding id) -> reason, from the cloud assembly's metadata."""
    metadata = json.loads((synth.outdir / f"{STACK_NAME}.metadata.json").read_text())
    found: dict[tuple[str, str], str] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for finding, reason in entry["data"].items():
                    where = path.removeprefix(f"/{STACK_NAME}").removeprefix("/")
                    found[(where, finding.removeprefix("Annotation::"))] = reason
    return found


def _expected_acknowledgments(synth: Synth) -> set[tuple[str, str]]:
    expected = {
        ("", "CloudFormation-Validate::W7001"),
        ("Storage/AccessLogs", "AwsSolutions-S1"),
        ("Ingress/HttpApi", "AwsSolutions-APIG4"),
    }
    redrive_targets = {q.dead_letter_queue for q in PIPELINE.queues}
    consumed = {c.queue for c in PIPELINE.consumers}
    for queue in PIPELINE.queues:
        if queue.dead_letter_queue is None and queue.key not in redrive_targets | consumed:
            expected.add((f"Queues/{pascal_id(queue.key)}", "AwsSolutions-SQS3"))
    for conn in json.loads(CONNECTIONS_FILE.read_text())["connections"]:
        expected.add((f"Connections/{conn['id']}", "AwsSolutions-SMG4"))
    for stream in PIPELINE.streams:
        bucket_id = synth.logical_id(f"Storage/{pascal_id(stream.bucket)}/Resource")
        for finding in ("s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*"):
            expected.add((f"RawArchive/{pascal_id(stream.key)}", f"AwsSolutions-IAM5[Action::{finding}]"))
        expected.add(
            (f"RawArchive/{pascal_id(stream.key)}", f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]")
        )
    for function in PIPELINE.functions:
        name = pascal_id(function.key)
        expected.add((f"Functions/{name}/Role", "AwsSolutions-IAM5[Resource::*]"))
        expected.add((f"Functions/{name}/Function", "AwsSolutions-L1"))
        for bucket in {*function.reads_buckets, *function.writes_buckets}:
            bucket_id = synth.logical_id(f"Storage/{pascal_id(bucket)}/Resource")
            expected.add((f"Functions/{name}/Role", f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]"))
        for table in PIPELINE.tables:
            if table.indexes and table.key in function.reads_writes_tables:
                table_id = synth.logical_id(f"Storage/{pascal_id(table.key)}/Resource")
                expected.add(
                    (f"Functions/{name}/Role", f"AwsSolutions-IAM5[Resource::<{table_id}.Arn>/index/*]")
                )
    for machine in PIPELINE.state_machines:
        name = pascal_id(machine.key)
        expected.add((f"Workflows/{name}", "AwsSolutions-IAM5[Resource::*]"))
        for key in machine.invokes_functions:
            function_id = synth.logical_id(f"Functions/{pascal_id(key)}/Function/Resource")
            expected.add((f"Workflows/{name}", f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]"))
    for function in sorted({schedule.function for schedule in PIPELINE.schedules}):
        function_id = synth.logical_id(f"Functions/{pascal_id(function)}/Function/Resource")
        expected.add(("Schedules/InvokeRole", f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]"))
    return expected


def test_synth_passes_every_validation(synth: Synth) -> None:
    # Given the synth of the real app (cdk-nag AwsSolutions + CDK's own template checks)
    # Then it did not fail, and no plugin reports an unacknowledged finding
    violations = {
        report["pluginName"]: [v["ruleName"] for v in report["violations"]]
        for report in synth.report["pluginReports"]
    }
    assert synth.error is None, violations
    assert all(not found for found in violations.values()), violations
    assert all(report["conclusion"] == "success" for report in synth.report["pluginReports"])


def test_acknowledgments_are_exactly_the_intended_ones(synth: Synth) -> None:
    # Given every acknowledgment recorded in the cloud assembly
    found = _acknowledgments(synth)
    # Then it is one of those we chose on purpose (a new one must be added here, consciously)
    assert set(found) == _expected_acknowledgments(synth)
    # And each says why
    short = {key: reason for key, reason in found.items() if len(reason) < MIN_REASON_LENGTH}
    assert not short


def test_an_unacknowledged_finding_fails_synth(cdk_app: Any, tmp_path: Path) -> None:
    # Given an app with the same compliance checks and a queue that breaks two AwsSolutions rules
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "NagProbe")
    sqs.Queue(stack, "NoDlqNoTls")
    cdk_app.add_compliance_checks(app)

    # When it is synthesized
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()

    # Then the report names both findings
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules
