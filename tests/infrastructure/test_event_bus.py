"""Event bus: archived for replay; rules deliver to their target with a dead-letter queue."""

from __future__ import annotations

import json

import pytest

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import CANONICAL_EVENT_SOURCE, PIPELINE, EventBusSpec, RuleSpec, log_group_name

from .support import Synth, get_att, ref


@pytest.mark.parametrize("spec", PIPELINE.buses, ids=lambda spec: spec.key)
def test_bus_archives_every_canonical_event(synth: Synth, spec: EventBusSpec) -> None:
    # Given a bus of the topology
    bus_id = synth.logical_id(f"Events/{pascal_id(spec.key)}/Resource")
    # When its archive is looked up
    archive = synth.props(f"Events/{pascal_id(spec.key)}/Archive/Archive")
    # Then it keeps every canonical event for the declared retention
    assert archive["SourceArn"] == get_att(bus_id)
    assert archive["EventPattern"] == {"source": [CANONICAL_EVENT_SOURCE]}
    assert archive["RetentionDays"] == spec.archive_retention_days


@pytest.mark.parametrize("spec", PIPELINE.rules, ids=lambda spec: spec.key)
def test_rule_matches_its_spec(synth: Synth, spec: RuleSpec) -> None:
    # Given a topology rule
    props = synth.props(f"Events/{pascal_id(spec.key)}/Resource")
    # Then it listens on its bus with exactly the declared pattern
    assert props["EventBusName"] == ref(synth.logical_id(f"Events/{pascal_id(spec.bus)}/Resource"))
    assert props["EventPattern"] == spec.pattern
    assert props["State"] == "ENABLED"
    # And its one target has the declared dead-letter queue
    (target,) = props["Targets"]
    if spec.target_dlq:
        dlq_id = synth.logical_id(f"Queues/{pascal_id(spec.target_dlq)}/Resource")
        assert target["DeadLetterConfig"] == {"Arn": get_att(dlq_id)}
    if spec.target_queue:
        assert target["Arn"] == get_att(synth.logical_id(f"Queues/{pascal_id(spec.target_queue)}/Resource"))
    if spec.target_log_group:
        group_id = synth.logical_id(f"LogGroups/{pascal_id(spec.target_log_group)}/Resource")
        assert ref(group_id) in target["Arn"]["Fn::Join"][1]


def test_canonical_event_log_target_can_write_and_dead_letter(synth: Synth) -> None:
    # Given the rule that logs every canonical event
    rule_id = synth.logical_id("Events/CanonicalEventLog/Resource")
    group_id = synth.logical_id("LogGroups/CanonicalEvents/Resource")
    dlq_id = synth.logical_id("Queues/CanonicalEventLogDlq/Resource")

    # Then the log group is the named one and EventBridge may write to it
    assert synth.props("LogGroups/CanonicalEvents/Resource")["LogGroupName"] == log_group_name(
        "canonical_events"
    )
    policy = synth.props("Events/EventsWriteCanonicalEvents/ResourcePolicy")["PolicyDocument"]
    rendered = "".join(part if isinstance(part, str) else json.dumps(part) for part in policy["Fn::Join"][1])
    assert '"events.amazonaws.com"' in rendered
    assert '"logs:PutLogEvents"' in rendered
    assert json.dumps(get_att(group_id)) in rendered

    # And only this rule may send what it cannot deliver to the DLQ
    statements = synth.props("Queues/CanonicalEventLogDlq/Policy/Resource")["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": get_att(rule_id)}},
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": get_att(dlq_id),
            "Sid": allows[0]["Sid"],
        }
    ]


def test_no_lambda_backed_custom_resource_for_log_targets(synth: Synth) -> None:
    # Given the template
    # Then the log group's resource policy is native, not CDK's custom resource
    assert not [r for r in synth.template["Resources"].values() if r["Type"].startswith("Custom::")]
    assert synth.resources("AWS::Logs::ResourcePolicy")
