"""Approved time and expenses in the template: a posting queue and function per ERP connection,
sized by the connection's declared limits, and a schedule per polled connection."""

from __future__ import annotations

import json

from pshub.connections import parse_registry
from pshub.platforms import platform
from pshub.workflows.time_expense.limits import declared_limits
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import CONNECTIONS_FILE, PIPELINE, posting_key

from .support import Synth

REGISTRY = parse_registry(json.loads(CONNECTIONS_FILE.read_text()))
ERPS = [c for c in REGISTRY.values() if c.role == "erp"]


def test_each_erp_connection_has_its_own_posting_queue_function_and_rule(synth: Synth) -> None:
    assert ERPS, "the sample registry has an ERP connection"
    for connection in ERPS:
        key = posting_key(connection.id)
        name = pascal_id(key)
        # NetSuite's published default: 5 requests in flight per account, 100 records per batch
        if connection.platform == "netsuite" and "max_concurrency" not in connection.options:
            assert declared_limits(connection).concurrency == 5
        limits = declared_limits(connection)
        function = synth.props(f"Functions/{name}/Function/Resource")
        assert function["ReservedConcurrentExecutions"] == limits.concurrency
        assert function["Environment"]["Variables"]["ERP_CONNECTION"] == connection.id
        function_id = synth.logical_id(f"Functions/{name}/Function/Resource")
        [mapping] = [
            m["Properties"]
            for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": function_id}
        ]
        assert mapping["BatchSize"] == min(limits.max_batch, 100)
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == max(2, limits.concurrency)
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = synth.props(f"Queues/{name}/Resource")
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
        rule = synth.props(f"Events/{name}/Resource")
        pattern = rule["EventPattern"]
        assert pattern["detail"] == {"payload": {"erp_connection": [connection.id]}}
        assert set(pattern["detail-type"]) == {
            f"{kind}{step}"
            for kind in ("TimeEntry", "Expense")
            for step in ("Approved", "Adjusted", "Rejected")
        }


def test_each_polled_connection_has_a_schedule_invoking_the_poller(synth: Synth) -> None:
    polled = [c for c in REGISTRY.values() if platform(c.platform).inbound == "poll"]
    polls = [s for s in PIPELINE.schedules if s.function == "poller"]
    assert polled and len(polls) == len(polled)
    schedules = synth.resources("AWS::Scheduler::Schedule")
    assert len(schedules) == len(PIPELINE.schedules) == len(polls) + 2  # and the billing and operations ticks
    poller = synth.logical_id("Functions/Poller/Function/Resource")
    for spec in polls:
        props = synth.props(f"Schedules/{pascal_id(spec.key)}/Resource")
        assert props["ScheduleExpression"] == f"rate({spec.every_minutes} minutes)"
        assert props["Target"]["Arn"] == {"Fn::GetAtt": [poller, "Arn"]}
        assert json.loads(props["Target"]["Input"]) == dict(spec.input)
        assert "DeadLetterConfig" in props["Target"]
