"""The alarms the stack deploys, read off the synthesized template: any dead-letter queue (and
the parked-deliveries queue) not empty, a function throttled for fifteen minutes, a workflow
execution failed; each notifies the one alarm topic, which CloudWatch can publish to."""

from __future__ import annotations

import json
from typing import Any

from pshub_infra.constructs.alarms import PARKED_QUEUES, dead_letter_queues
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE

from .support import Synth


def alarms(synth: Synth) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values()]


def test_every_dead_letter_queue_alarms_on_its_first_message(synth: Synth) -> None:
    topic = {"Ref": synth.logical_id("Alarms/Topic/Resource")}
    watched = {}
    for alarm in alarms(synth):
        if alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            [dimension] = alarm["Dimensions"]
            watched[json.dumps(dimension["Value"])] = alarm
    expected = (*dead_letter_queues(PIPELINE), *PARKED_QUEUES)
    assert {"schedule_dlq", "raw_deliveries_dlq", "billing_events_dlq", "unmappable_deliveries"} <= set(
        expected
    )
    for key in expected:
        queue_id = synth.logical_id(f"Queues/{pascal_id(key)}/Resource")
        alarm = watched[json.dumps({"Fn::GetAtt": [queue_id, "QueueName"]})]
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
            0, "GreaterThanThreshold", 1
        )  # fmt: skip
        assert (alarm["Statistic"], alarm["Period"], alarm["TreatMissingData"]) == (
            "Maximum",
            60,
            "notBreaching",
        )
        assert alarm["AlarmActions"] == [topic] and "Runbook" in alarm["AlarmDescription"]
    # A work queue with messages in it is not an alarm: only what failed or was parked.
    raw = synth.logical_id("Queues/RawDeliveries/Resource")
    assert json.dumps({"Fn::GetAtt": [raw, "QueueName"]}) not in watched


def test_sustained_throttling_and_failed_executions_alarm(synth: Synth) -> None:
    throttles = [a for a in alarms(synth) if a.get("MetricName") == "Throttles"]
    assert len(throttles) == len(PIPELINE.functions)
    assert all(
        (a["EvaluationPeriods"], a["DatapointsToAlarm"], a["Period"]) == (3, 3, 300) for a in throttles
    )
    failed = [a for a in alarms(synth) if a.get("MetricName") == "ExecutionsFailed"]
    assert len(failed) == len(PIPELINE.state_machines) and all(a["Threshold"] == 0 for a in failed)


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_takes_tls_only(synth: Synth) -> None:
    topic = synth.props("Alarms/Topic/Resource")
    key_id = synth.logical_id("Alarms/TopicKey/Resource")
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key_policy = synth.props("Alarms/TopicKey/Resource")["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and "kms:GenerateDataKey*" in s["Action"]
        for s in key_policy
    )
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::SNS::TopicPolicy").values()
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    assert synth.template["Outputs"]["AlarmTopicArn"]["Value"] == {
        "Ref": synth.logical_id("Alarms/Topic/Resource")
    }
    assert len(synth.resources("AWS::CloudWatch::Dashboard")) == 1


def kpi_alarms(synth: Synth, metric: str) -> dict[str, dict[str, Any]]:
    """The alarms on business KPI ``metric``, by their dimensions other than service and stage."""
    found = {}
    for alarm in alarms(synth):
        if alarm.get("Namespace") == "pshub" and alarm["MetricName"] == metric:
            dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert (dims.pop("service"), dims.pop("stage")) == ("pshub", "-")
            found[",".join(f"{k}={v}" for k, v in sorted(dims.items()))] = alarm
    return found


def test_every_owner_teams_exception_backlog_alarms_when_its_oldest_waits_too_long(synth: Synth) -> None:
    backlog = kpi_alarms(synth, "OldestOpenExceptionAgeSeconds")
    # Money and people wait a working day; a broken connection or mapping, four hours
    limits = {"sales_ops": 86400, "finance_ops": 86400, "pmo": 86400, "integration_support": 14400}
    for owner, limit in limits.items():
        alarm = backlog[f"owner={owner}"]
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"]) == (
            limit, "GreaterThanThreshold", "Maximum"
        )  # fmt: skip
        # Fifteen minutes in a row, and a silent operations tick counts as breaching
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (
            300,
            3,
            "breaching",
        )
        assert f"pshub exceptions list --owner {owner}" in alarm["AlarmDescription"]
    assert "owner=data_steward" in backlog


def test_a_slow_activation_alarms(synth: Synth) -> None:
    [alarm] = kpi_alarms(synth, "ProjectActivationSeconds").values()
    assert (alarm["Threshold"], alarm["Statistic"], alarm["TreatMissingData"]) == (
        3600,
        "Maximum",
        "notBreaching",
    )
    assert "pshub trace" in alarm["AlarmDescription"]


def test_each_polled_connection_alarms_before_its_feed_falls_out_of_reach(synth: Synth) -> None:
    # Harvest and Kantata are polled by modification time (no horizon): a day unread alarms,
    # and so does an hour with no report from the poller at all
    behind = kpi_alarms(synth, "PollCoverageAgeSeconds")
    assert set(behind) == {"connection=harvest-acme", "connection=kantata-acme"}
    for alarm in behind.values():
        assert (alarm["Threshold"], alarm["Period"], alarm["TreatMissingData"]) == (86400, 3600, "breaching")


def test_sustained_platform_throttling_alarms_per_connection(synth: Synth) -> None:
    throttled = kpi_alarms(synth, "PlatformThrottled")
    assert {"connection=netsuite-acme", "connection=stripe-acme", "connection=kantata-acme"} <= set(throttled)
    for alarm in throttled.values():
        assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (
            "Sum", 300, 3, 0
        )  # fmt: skip


def test_the_dashboard_shows_the_business_kpis(synth: Synth) -> None:
    [dashboard] = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ProjectActivationSeconds",
        "ProvisioningStraightThrough",
        "InvoiceCycleSeconds",
        "HoursAtRisk",
        "OldestOpenExceptionAgeSeconds",
        "DeliveriesReceived",
        "WebhookRejected",
        "MessagesFailed",
    ):
        assert metric in body, metric
