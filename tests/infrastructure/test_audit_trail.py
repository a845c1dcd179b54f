"""The audit trail's table: kept, recoverable, and out of every function's reach (append-only
is enforced by conditional writes; no role the stack creates may update or delete an entry)."""

from __future__ import annotations

import json

from .support import Synth


def test_the_audit_table_is_retained_and_recoverable_and_named_by_an_output(synth: Synth) -> None:
    table_id = synth.logical_id("Storage/Audit/Resource")
    table = synth.template["Resources"][table_id]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert synth.template["Outputs"]["AuditTable"]["Value"] == {"Ref": table_id}


def test_no_role_the_stack_creates_can_touch_the_audit_trail(synth: Synth) -> None:
    table_id = synth.logical_id("Storage/Audit/Resource")
    reaching = []
    for policy_id, policy in synth.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if table_id in json.dumps(statement.get("Resource")):
                reaching.append((synth.path_of(policy_id), statement["Action"]))
    # Operators write entries with their own credentials; no function, state machine or
    # schedule role is granted any action on the table (updates and deletes least of all).
    assert reaching == []
    assert synth.resources("AWS::IAM::Policy")  # the check above looked at the stack's policies
