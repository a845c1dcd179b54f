"""The operator's commands on a running pipeline: dead letters shown with their error and
redriven (a selection, twice, across a crash) without posting twice; status; connections."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from pshub_local.cli import main
from pshub_local.ops import dlq
from tests.e2e.stack import LocalStack
from tests.e2e.test_time_and_expenses import provision, time_bills, toggl

POSTING_DLQ = "erp_posting_netsuite_acme_dlq"
# The integration role lacks a permission: not the entry's fault, so not a business exception;
# the posting is dead-lettered with the reason until an administrator fixes the role.
NETSUITE_FORBIDDEN = {
    "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4",
    "title": "Forbidden",
    "status": 403,
    "o:errorDetails": [
        {
            "detail": "Permission Violation: You need the 'Track Time' permission.",
            "o:errorCode": "INSUFFICIENT_PERMISSION",
        }
    ],
}


def cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def two_dead_postings(local: LocalStack) -> None:
    """Two approved time entries NetSuite refuses for want of a permission: both dead-lettered."""
    provision(local)
    netsuite = local.fake("netsuite-acme")
    netsuite.inject("suiteql", 403, NETSUITE_FORBIDDEN, times=10)
    assert toggl(local, "time_entry.updated") == 200
    assert toggl(local, "time_entry.updated", id=4_100_000_002, at="2026-12-03T09:00:00+00:00") == 200
    local.runtime.drain()
    assert time_bills(local) == []
    netsuite.clear_faults()  # the administrator grants the permission


def test_a_filtered_redrive_moves_only_its_selection_and_a_crash_mid_redrive_posts_nothing_twice(
    local: LocalStack, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_dead_postings(local)
    # The operator sees both, with the error NetSuite gave, and no rate in the output
    code, out, err = cli(capsys, "dlq", "show", POSTING_DLQ, "--json")
    assert code == 0
    letters = json.loads(out)
    assert len(letters) == 2
    assert {letter["error_class"] for letter in letters} == {"PermanentConnectorError"}
    assert all("Track Time" in letter["error"] for letter in letters), letters
    assert "260" not in out and "260" not in err  # the Senior Consultant rate
    first, second = sorted(letters, key=lambda letter: letter["sent_at"] + letter["message_id"])
    # A dry run says exactly what would move, and moves nothing
    code, out, err = cli(capsys, "dlq", "redrive", POSTING_DLQ, "--id", first["message_id"], "--dry-run")
    assert code == 0, err
    assert f"would move {first['message_id']}" in out and "1 would stay" in out
    assert len(dead_letter_ids()) == 2
    # The selection moves; the other stays in the dead-letter queue
    code, out, _ = cli(capsys, "dlq", "redrive", POSTING_DLQ, "--id", first["message_id"], "--note", "fixed")
    assert code == 0 and "1 moved, 1 skipped" in out
    local.runtime.drain()
    assert len(time_bills(local)) == 1
    [left] = dead_letter_ids()
    assert left == second["message_id"]
    # A crash between sending the rest back and deleting it from the dead-letter queue ...
    real_client = boto3.client("sqs")

    class CrashesOnDelete:
        def __getattr__(self, name: str) -> Any:
            if name == "delete_message_batch":
                raise ConnectionError("the operator's laptop lost the network")
            return getattr(real_client, name)

    monkeypatch.setattr(
        dlq.Target,
        "client",
        lambda self, service: CrashesOnDelete() if service == "sqs" else boto3.client(service),
    )
    code, _, err = cli(capsys, "dlq", "redrive", POSTING_DLQ)
    assert code == 1 and "lost the network" in err
    monkeypatch.undo()
    local.runtime.drain()
    # ... leaves it in both places; redriving again posts nothing twice: the ledger decides
    assert dead_letter_ids() == [second["message_id"]]
    code, out, _ = cli(capsys, "dlq", "redrive", POSTING_DLQ)
    assert code == 0 and "1 moved, 0 skipped (not selected), 0 failed" in out
    local.runtime.drain()
    bills = time_bills(local)
    assert len(bills) == 2 and len({b["native_id"] for b in bills}) == 2
    assert local.requests("netsuite-acme", "upsert_time_bill") == 2  # one PUT per entry, ever
    code, out, _ = cli(capsys, "dlq", "redrive", POSTING_DLQ)
    assert code == 0 and "0 moved" in out
    # Every redrive that moved something is on the audit trail, with who and what
    from pshub.store.audit import AuditLog

    audit = AuditLog(boto3.client("dynamodb"), local.runtime.resource_name("table", "audit"))
    entries = audit.entries(dlq.queue_subject(POSTING_DLQ))
    assert [(e.action, e.after["moved"]) for e in entries] == [("dlq.redrive", 1), ("dlq.redrive", 1)]
    assert entries[0].note == "fixed" and entries[0].after["message_ids"] == [first["message_id"]]


def dead_letter_ids() -> list[str]:
    """What the posting dead-letter queue holds (read, then released: left as it was)."""
    target = dlq.Target()  # in-process: moto, as the runtime
    letters = dlq.read(target, POSTING_DLQ)
    dlq.release(target, POSTING_DLQ, letters)
    return [letter.message_id for letter in letters]


def test_status_counts_the_dead_letters_and_the_workflows_and_says_it_needs_attention(
    local: LocalStack, capsys: Any
) -> None:
    two_dead_postings(local)
    code, out, _ = cli(capsys, "status", "--json")
    assert code == 3
    report = json.loads(out)
    assert report["dead_letters"] == 2 and report["healthy"] is False
    [posting] = [q for q in report["queues"] if q["key"] == "erp_posting_netsuite_acme"]
    assert (posting["dead_letter_queue"], posting["dead_letters"]) == (POSTING_DLQ, 2)
    assert posting["oldest_dead_letter_age_s"] is not None
    day = report["workflows"]["provision_project"]["day"]
    assert (day["started"], day["succeeded"], day["failed"], day["straight_through_rate"]) == (1, 1, 0, 1.0)
    code, out, _ = cli(capsys, "dlq", "list")
    assert code == 3 and POSTING_DLQ in out
    code, out, _ = cli(capsys, "status")
    assert code == 3 and "needs attention" in out and "provision_project" in out


def test_connections_check_proves_each_credential_with_a_harmless_read_and_names_a_broken_one(
    local: LocalStack, capsys: Any
) -> None:
    code, out, err = cli(capsys, "connections", "check", "--json")
    assert out, err
    rows = {row["id"]: row for row in json.loads(out)}
    assert code == 0, rows
    assert all(row["check"] == "ok" for row in rows.values()), rows
    assert rows["toggl-acme"]["detail"].startswith("signing secret present")
    # Nothing was written by the check
    assert (
        local.records("netsuite-acme", "projects") == [] and local.records("kantata-acme", "projects") == []
    )
    # A credential that no longer works is named, with the platform's refusal
    secrets = boto3.client("secretsmanager")
    name = "pshub/connections/kantata-acme/api"
    document = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    secrets.put_secret_value(SecretId=name, SecretString=json.dumps(dict.fromkeys(document, "revoked")))
    code, out, _ = cli(capsys, "connections", "check", "kantata-acme", "--json")
    [row] = json.loads(out)
    assert code == 3 and row["check"] == "failed" and "401" in row["detail"], row


def test_a_configuration_change_is_checked_written_and_audited(
    local: LocalStack, capsys: Any, tmp_path: Any
) -> None:
    from aws_lambda_powertools.utilities import parameters

    from pshub.settings import config_value
    from pshub.store.audit import AuditLog

    # The functions read the billing settings from the stack's parameter, named in their variable
    code, out, _ = cli(capsys, "config", "show", "billing")
    assert code == 0 and json.loads(out)["legal_entities"]["ACME-UK"]["billing_day"] == 1
    code, out, _ = cli(capsys, "config", "list", "--json")
    assert {row["key"] for row in json.loads(out)} == {
        "connections",
        "ownership-policy",
        "provisioning",
        "billing",
    }
    # A file the functions' loader refuses is refused here, and nothing is written
    broken = tmp_path / "billing.json"
    broken.write_text('{"version": 1, "legal_entities": {"ACME-UK": {"billing_day": 45}}}')
    code, _, err = cli(capsys, "config", "set", "billing", str(broken))
    assert code == 2 and "billing" in err
    assert (
        json.loads(cli(capsys, "config", "show", "billing")[1])["legal_entities"]["ACME-UK"]["billing_day"]
        == 1
    )
    # A real change: the dry run shows the changed line and writes nothing ...
    document = json.loads(cli(capsys, "config", "show", "billing")[1])
    document["legal_entities"]["ACME-UK"]["billing_day"] = 5
    changed = tmp_path / "billing-5.json"
    changed.write_text(json.dumps(document, indent=2))
    code, out, _ = cli(capsys, "config", "set", "billing", str(changed), "--dry-run")
    assert code == 0 and "would change" in out and '"billing_day": 5' in out
    assert (
        json.loads(cli(capsys, "config", "show", "billing")[1])["legal_entities"]["ACME-UK"]["billing_day"]
        == 1
    )
    # ... and the change itself is written, then read by a function's next cold start, and audited
    code, out, _ = cli(capsys, "config", "set", "billing", str(changed), "--note", "UK bills on the 5th")
    assert code == 0 and "written and audited" in out
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # a new function instance
    fresh = json.loads(config_value("ssm:/pshub/config/billing"))
    assert fresh["legal_entities"]["ACME-UK"]["billing_day"] == 5
    audit = AuditLog(
        boto3.client("dynamodb", region_name=local.runtime.region),
        local.runtime.resource_name("table", "audit"),
    )
    [entry] = audit.entries("config#billing")
    assert (entry.action, entry.note) == ("config.set", "UK bills on the 5th")
    caller = boto3.client("sts", region_name=local.runtime.region).get_caller_identity()["Arn"]
    assert entry.actor == caller  # who: the caller's IAM identity
    assert entry.before and entry.after and entry.before["sha256"] != entry.after["sha256"]
    assert any('"billing_day": 5' in line for line in entry.after["diff"])
    # The same file again changes nothing and records nothing
    assert "unchanged" in cli(capsys, "config", "set", "billing", str(changed))[1]
    assert len(audit.entries("config#billing")) == 1
