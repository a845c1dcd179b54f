"""Workflows: each topology state machine deploys its ASL file, logged and traced, with only its grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, Ref, StateMachineSpec

from .support import Synth, as_list, get_att, ref, statements_allowing

_FOLDERS = {
    "queue": "Queues",
    "table": "Storage",
    "bucket": "Storage",
    "bus": "Events",
    "stream": "RawArchive",
}


def _expected(synth: Synth, value: Ref) -> dict[str, Any]:
    if value.kind == "function":
        logical_id = synth.logical_id(f"Functions/{pascal_id(value.key)}/Function/Resource")
        return get_att(logical_id) if value.attribute == "arn" else ref(logical_id)
    logical_id = synth.logical_id(f"{_FOLDERS[value.kind]}/{pascal_id(value.key)}/Resource")
    return get_att(logical_id) if value.attribute == "arn" else ref(logical_id)


def _role_statements(synth: Synth, spec: StateMachineSpec) -> list[dict[str, Any]]:
    return synth.policy_statements(f"Workflows/{pascal_id(spec.key)}/Role/Resource")


def _allowed(statements: list[dict[str, Any]], action: str) -> list[str]:
    return sorted(
        json.dumps(r) for s in statements_allowing(statements, action) for r in as_list(s["Resource"])
    )


@pytest.mark.parametrize("spec", PIPELINE.state_machines, ids=lambda spec: spec.key)
def test_state_machine_deploys_its_asl_file(synth: Synth, spec: StateMachineSpec) -> None:
    # Given a topology state machine
    props = synth.props(f"Workflows/{pascal_id(spec.key)}/Resource")
    # Then its definition is the file, verbatim, inline in the template
    assert json.loads(props["DefinitionString"]) == json.loads(spec.definition_path.read_text())
    # And every placeholder is filled with the declared resource
    assert props["DefinitionSubstitutions"] == {
        name: _expected(synth, r) for name, r in spec.substitutions.items()
    }
    assert props["StateMachineType"] == "STANDARD"


@pytest.mark.parametrize("spec", PIPELINE.state_machines, ids=lambda spec: spec.key)
def test_state_machine_logs_everything_and_is_traced(synth: Synth, spec: StateMachineSpec) -> None:
    # Given a topology state machine
    name = pascal_id(spec.key)
    props = synth.props(f"Workflows/{name}/Resource")
    log_group_id = synth.logical_id(f"Workflows/{name}Logs/Resource")
    # Then every execution event, with its data, goes to its own vended-logs group, and it is traced
    assert props["LoggingConfiguration"] == {
        "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": get_att(log_group_id)}}],
        "IncludeExecutionData": True,
        "Level": "ALL",
    }
    assert props["TracingConfiguration"] == {"Enabled": True}
    log_group = synth.props(f"Workflows/{name}Logs/Resource")
    assert log_group["LogGroupName"].startswith("/aws/vendedlogs/states/")
    assert log_group["RetentionInDays"] > 0


@pytest.mark.parametrize("spec", PIPELINE.state_machines, ids=lambda spec: spec.key)
def test_state_machine_role_grants_exactly_what_the_spec_declares(
    synth: Synth, spec: StateMachineSpec
) -> None:
    # Given a topology state machine's role
    statements = _role_statements(synth, spec)
    # Then it may invoke the declared functions (and their versions) and nothing else
    invocable = []
    for key in spec.invokes_functions:
        arn = get_att(synth.logical_id(f"Functions/{pascal_id(key)}/Function/Resource"))
        invocable += [json.dumps(arn), json.dumps({"Fn::Join": ["", [arn, ":*"]]})]
    assert _allowed(statements, "lambda:InvokeFunction") == sorted(invocable)
    # And put events on the declared buses only
    assert _allowed(statements, "events:PutEvents") == sorted(
        json.dumps(get_att(synth.logical_id(f"Events/{pascal_id(key)}/Resource")))
        for key in spec.puts_events_to
    )


@pytest.mark.parametrize(
    "spec", [f for f in PIPELINE.functions if f.starts_state_machines], ids=lambda spec: spec.key
)
def test_only_declared_functions_start_executions(synth: Synth, spec: Any) -> None:
    # Given a function that starts workflows
    statements = synth.policy_statements(f"Functions/{pascal_id(spec.key)}/Role/Resource")
    # Then it may start exactly those, by ARN
    assert _allowed(statements, "states:StartExecution") == sorted(
        json.dumps(ref(synth.logical_id(f"Workflows/{pascal_id(key)}/Resource")))
        for key in spec.starts_state_machines
    )
