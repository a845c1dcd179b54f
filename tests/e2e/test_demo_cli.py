"""The ``pshub`` command as a user runs it."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import stripe

from pshub_local import cli, vendors
from pshub_local.client import send
from pshub_local.vendors import SignedRequest
from tests.e2e.stack import LocalStack
from tests.helpers import connections

REPO = Path(__file__).resolve().parents[2]


def pshub_env() -> dict[str, str]:
    """The environment for ``python -m pshub_local``, installed (pip -e) or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "infra"), str(REPO / "layers" / "common"), env.get("PYTHONPATH", "")]
    )
    return env


def run_pshub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pshub_local", *args],
        capture_output=True,
        text=True,
        env=pshub_env(),
        cwd=REPO,
        timeout=300,
        check=False,
    )


def test_demo_json_reports_every_outcome_as_expected() -> None:
    # When a user runs the demo
    result = run_pshub("demo", "--json")

    # Then it exits 0 with a machine-readable summary on stdout (logs went to stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert all(check["ok"] for check in summary["checks"])
    statuses = {(r["kind"], r["status"]) for r in summary["requests"]}
    assert {("sample", 200), ("redelivery", 200), ("tampered", 401), ("too_old", 401)} <= statuses
    assert {("unknown_connection", 404), ("unparseable", 400), ("oversize", 413)} <= statuses
    assert all(r["as_expected"] for r in summary["requests"])
    # every sample folder's platform produced canonical events, each with a correlation id
    assert {e["connection"] for e in summary["canonical_events"]} == {
        "stripe-acme",
        "hubspot-acme",
        "salesforce-acme",
        "toggl-acme",
        "concur-acme",
        "netsuite-acme",  # the relays (Standard Webhooks)
        "oracle-fusion-acme",
        "workday-acme",
        "pshub-billing",  # the billing runs' InvoiceReady and BillingHeld
    }
    types = {e["event_type"] for e in summary["canonical_events"]}
    assert {"OpportunityClosedWon", "TimeEntryApproved", "ExpenseApproved", "WorkerChanged"} <= types
    # the approved Toggl hours and Concur expense reached the ERP once each
    erp = summary["systems"]["netsuite-acme"]["records"]
    assert [(t["project_code"], t["hours"]) for t in erp["time_entries"]] == [("PRJ-HARBLOGI-0001", "1.5")]
    assert [e["work_date"] for e in erp["expense_reports"]] == ["2026-11-17"]
    assert all(e["correlation_id"] for e in summary["canonical_events"])
    assert summary["duplicates_suppressed"] and all(
        d["events_not_republished"] > 0 for d in summary["duplicates_suppressed"]
    )
    # December's time is invoiced once (1.5 h x 260.00 + NY tax 8.875 % = 424.61); November's
    # expense is in a currency with no exchange rate configured: held with that reason.
    december = {
        r["attempt"]: r["results"]
        for r in summary["billing_runs"]
        if r["name"].startswith("demo-bill-ACME-US-2026-12")
    }
    assert [(p["status"], p.get("total")) for p in december["first"]] == [("drafted", "424.61")]
    assert [p["status"] for p in december["again"]] == ["already_invoiced"]
    assert len(erp["invoices"]) == 1
    november = [r for r in summary["billing_runs"] if r["name"] == "demo-bill-ACME-US-2026-11-first"]
    assert [p["holds"] for p in november[0]["results"]] == [["no_fx_rate"]]
    assert summary["dead_letters"] == []
    (parked,) = summary["unmappable"]
    assert parked["attributes"]["error_code"] == "unparseable_body"
    # no secret leaks into the output
    assert "whsec_localdemo_" not in result.stdout + result.stderr
    assert "localdemo-" not in result.stdout + result.stderr


def test_demo_without_samples_fails(tmp_path: Path) -> None:
    (tmp_path / "stripe").mkdir()
    result = run_pshub("demo", "--events-dir", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL samples found" in result.stdout


def test_demo_with_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    assert run_pshub("demo", "--events-dir", str(tmp_path / "absent")).returncode == 2


def test_sign_prints_a_curl_command_the_server_accepts(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the sign command for a Stripe sample, pointed at the running server
    path = REPO / "events" / "stripe" / "invoice.paid.json"
    assert cli.main(["sign", "stripe-acme", str(path), "--url", local.server.url]) == 0
    command = shlex.split(capsys.readouterr().out)

    # Then it is a curl command whose signature Stripe's SDK accepts for the file's bytes
    assert command[:2] == ["curl", "-sS"]
    headers = dict(command[i + 1].split(": ", 1) for i, part in enumerate(command) if part == "-H")
    secret = local.runtime.signing_secret("stripe-acme")
    assert stripe.WebhookSignature.verify_header(path.read_text(), headers["Stripe-Signature"], secret, 300)
    assert command[-1] == f"@{path}"

    # And replaying exactly that request is accepted by the server
    url = next(part for part in command if part.startswith("http://"))
    response = send(SignedRequest("stripe-acme", "stripe", "POST", url, headers, path.read_bytes()))
    assert response.status == 200


def test_sign_refuses_an_unknown_connection(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sign", "nobody", str(REPO / "events" / "stripe" / "invoice.paid.json")]) == 2
    assert capsys.readouterr().out == ""


def test_sign_refuses_a_connection_that_sends_no_webhooks(capsys: pytest.CaptureFixture[str]) -> None:
    outbound = [c.id for c in connections().values() if not c.receives_webhooks]
    if not outbound:
        pytest.skip("every configured connection receives webhooks")
    assert cli.main(["sign", outbound[0], str(REPO / "events" / "stripe" / "invoice.paid.json")]) == 2
    assert capsys.readouterr().out == ""


def test_serve_prints_the_endpoint_accepts_signed_webhooks_and_stops_on_sigterm() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "pshub_local", "serve", "--port", "0", "--aws-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=pshub_env(),
        cwd=REPO,
    )
    try:
        # Given the banner (base URL, connections, the curl example)
        assert server.stdout is not None
        banner = []
        for line in server.stdout:
            banner.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(banner)
        base_url = re.search(r"http://127\.0\.0\.1:\d+", text).group(0)  # type: ignore[union-attr]
        assert "signing secret (LOCAL ONLY)" in text
        assert re.search(rf"pshub sign [a-z0-9-]+ \S+ --url {re.escape(base_url)}", text)

        # When a platform posts a signed webhook, it is acknowledged
        body = (REPO / "events" / "hubspot" / "deal.closed_won.json").read_bytes()
        connection = connections()["hubspot-acme"]
        secret = vendors.local_secret(connection.id, connection.platform)
        assert send(vendors.sign(connection, body, base_url, secret)).status == 200

        # And the operator commands, run from another process with --local, read the same runtime
        aws = re.search(r"AWS \(moto\) at (http://127\.0\.0\.1:\d+)", text).group(1)  # type: ignore[union-attr]
        local = ("--local", "--local-endpoint", aws)
        listed = run_pshub(*local, "connections", "list", "--json")
        assert listed.returncode == 0, listed.stderr[-2000:]
        rows = {row["id"]: row for row in json.loads(listed.stdout)}
        assert (rows["hubspot-acme"]["platform"], rows["hubspot-acme"]["inbound"]) == ("hubspot", "webhook")
        assert (rows["netsuite-acme"]["role"], rows["netsuite-acme"]["outbound"]) == ("erp", True)
        deadline = time.monotonic() + 60
        while True:  # the deal's provisioning runs in the server's threads
            status = run_pshub(*local, "status", "--json")
            assert status.returncode in (0, 3), status.stderr[-2000:]
            report = json.loads(status.stdout)
            if (
                report["workflows"]["provision_project"]["day"]["succeeded"] == 1
                or time.monotonic() > deadline
            ):
                break
            time.sleep(1)
        assert report["workflows"]["provision_project"]["day"]["started"] == 1
        assert report["workflows"]["provision_project"]["day"]["succeeded"] == 1
        assert report["dead_letters"] == 0 and report["stack"] == "pshub"
        # Where no `pshub serve` listens: a clear error, exit 2
        missing = run_pshub("--local", "--local-endpoint", "http://127.0.0.1:9", "status")
        assert missing.returncode == 2 and "pshub serve" in missing.stderr
    finally:
        # Then SIGTERM stops it cleanly
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
