"""``pshub trace`` and ``pshub replay`` on a running pipeline: a provisioned project's timeline in
order, step by step; a replay's dry run after a mapping change shows the diff and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from pshub.platforms.hubspot.inbound import HubSpotAdapter
from pshub.store.audit import AuditLog
from pshub_local.cli import main
from tests.e2e.stack import LocalStack

PROJECT = "PRJ-HARBLOGI-0001"
DEAL = "27182818284"  # the HubSpot sample deal
# The provisioning workflow's steps on a deal that goes straight through, in the order a
# project is set up: the client and project in the ERP, the PSA project and its rates, billing.
STEPS = [
    "LoadDeal", "ValidateTerms", "UpsertErpClient", "CreateErpProject", "CreatePsaProject",
    "PushRateCard", "SetUpBilling", "RecordActivation", "PublishProjectActivated", "Provisioned",
]  # fmt: skip


def cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def provisioned(local: LocalStack) -> None:
    assert local.deliver("hubspot-acme", "hubspot/deal.closed_won.json").status == 200
    local.runtime.drain()
    assert [p["code"] for p in local.records("netsuite-acme", "projects")] == [PROJECT]


def test_trace_of_a_provisioned_project_shows_every_step_in_order(local: LocalStack, capsys: Any) -> None:
    provisioned(local)
    code, out, err = cli(capsys, "trace", PROJECT, "--json")
    assert code == 0, err
    timeline = json.loads(out)
    items = timeline["items"]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    done = [
        i["what"].removesuffix(" done") for i in items if i["stage"] == "step" and i["what"].endswith(" done")
    ]
    # Every step once, in order
    assert done == STEPS
    entered = [
        i["what"].removesuffix(" entered")
        for i in items
        if i["stage"] == "step" and i["what"].endswith(" entered")
    ]
    assert entered == STEPS
    sequence = [(i["stage"], i["what"]) for i in items]

    def at(entry: tuple[str, str]) -> int:
        return sequence.index(entry)

    # The deal's event, then the workflow, its steps, the activation (dated when the step
    # recorded it), the end
    assert at(("bus", "OpportunityClosedWon")) < at(("workflow", "provision_project started"))
    assert at(("workflow", "provision_project started")) < at(("step", "LoadDeal entered"))
    assert at(("step", "RecordActivation entered")) < at(("bus", "ProjectActivated"))
    assert at(("bus", "ProjectActivated")) <= at(("workflow", "provision_project succeeded"))
    assert timeline["kinds"] == ["project"] and len(timeline["correlation_ids"]) == 1
    # The same timeline from the deal's id, and a readable table
    code, out, _ = cli(capsys, "trace", f"opportunity:{DEAL}", "--json")
    assert code == 0 and [i["what"] for i in json.loads(out)["items"]] == [i["what"] for i in items]
    code, out, _ = cli(capsys, "trace", PROJECT)
    assert code == 0 and "provision_project started" in out and "ProjectActivated" in out
    code, out, _ = cli(capsys, "trace", "PRJ-NOBODY-0000")
    assert code == 2 and "nothing traced" in out


def test_replay_dry_run_after_a_mapping_change_shows_the_diff_and_changes_nothing(
    local: LocalStack, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioned(local)
    events_before = len(local.runtime.canonical_events())
    ns_requests = local.fake("netsuite-acme").calls()
    today = datetime.now(UTC).date().isoformat()
    # Unchanged mapping: every event is as emitted before
    code, out, err = cli(
        capsys, "replay", "--since", today, "--connection", "hubspot-acme", "--dry-run", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    [delivery] = report["deliveries"]
    assert {e["event_type"]: e["status"] for e in delivery["events"]} == {
        "OpportunityClosedWon": "unchanged", "OpportunityUpdated": "unchanged",
    }  # fmt: skip
    # A mapping fix: the deal's stage is now given as the CRM's label, not its internal id (say)
    original = HubSpotAdapter.to_canonical

    def fixed(self: HubSpotAdapter, event: Any, delivery: Any) -> list[Any]:
        mapped = original(self, event, delivery)
        return [
            c.model_copy(update={"payload": {**c.payload, "stage": f"Closed Won ({c.payload['stage']})"}})
            if c.event_type == "OpportunityClosedWon"
            else c
            for c in mapped
        ]

    monkeypatch.setattr(HubSpotAdapter, "to_canonical", fixed)
    code, out, _ = cli(
        capsys, "replay", "--since", today, "--connection", "hubspot-acme", "--dry-run", "--json"
    )
    assert code == 0
    [delivery] = json.loads(out)["deliveries"]
    statuses = {e["event_type"]: e for e in delivery["events"]}
    assert set(statuses) == {"OpportunityClosedWon", "OpportunityUpdated"}, delivery["problem"]
    assert statuses["OpportunityUpdated"]["status"] == "unchanged"
    won = statuses["OpportunityClosedWon"]
    assert won["status"] == "changed"
    [change] = won["changes"]
    assert change["path"] == "payload.stage" and change["after"] == f"Closed Won ({change['before']})"
    code, out, _ = cli(capsys, "replay", "--since", today, "--dry-run", "--changed")
    assert code == 0 and "payload.stage" in out and "1 with events that change; would send 1" in out
    # A dry run changed nothing: no event, no message, no call to a platform, no audit entry
    local.runtime.drain()
    assert len(local.runtime.canonical_events()) == events_before
    assert local.fake("netsuite-acme").calls() == ns_requests
    audit = AuditLog(boto3.client("dynamodb"), local.runtime.resource_name("table", "audit"))
    assert audit.entries("replay#raw_deliveries") == []
    # The replay itself sends the delivery back; idempotency publishes nothing twice
    code, out, _ = cli(
        capsys, "replay", "--since", today, "--connection", "hubspot-acme", "--note", "name fix"
    )
    assert code == 0 and "sent 1 to the normaliser" in out
    local.runtime.drain()
    assert len(local.runtime.canonical_events()) == events_before
    assert len(local.records("netsuite-acme", "projects")) == 1
    [entry] = audit.entries("replay#raw_deliveries")
    assert (entry.action, entry.note, entry.after["sent"]) == ("replay", "name fix", 1)
