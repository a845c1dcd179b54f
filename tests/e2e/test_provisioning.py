"""Opportunity to project, end to end: a signed closed-won webhook in, every system set up once.

The state machine is the ASL file CDK deploys, executed by moto, with its Lambda tasks
dispatched to our real handlers; the SaaS platforms are their vendors' local fakes, reached
over HTTP by the real connectors (only the base URL and the credentials differ from production).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import boto3
import pytest

from pshub.business_exceptions import Category, OwnerTeam, Status
from pshub.store.exceptions_store import ExceptionStore
from pshub.workflows.provisioning.resolution import resolve_parked
from tests.e2e.stack import LocalStack
from tests.helpers import emitted_metrics

HUBSPOT_DEAL = "27182818284"
SALESFORCE_OPPORTUNITY = "0065e00000KxYzAAAV"
SALESFORCE_ACCOUNT = "0015e00000AcMe1AAF"
SALESFORCE_CONTRACT = "8005e00000CoNtRAAV"
SALESFORCE_QUOTE = "a0A5e00000RaTe1EAF"


def exceptions(local: LocalStack) -> ExceptionStore:
    return ExceptionStore(
        boto3.client("dynamodb", region_name=local.runtime.region),
        local.runtime.resource_name("table", "business_exceptions"),
    )


def psa_refuses(local: LocalStack, operation: str, message: str, *, times: int = 1) -> None:
    """Kantata answers the next ``times`` requests of ``operation`` with its 422 validation error."""
    body = {"errors": [{"type": "validation", "message": message}]}
    local.fake("kantata-acme").inject(operation, 422, body, times=times)


def salesforce_deal_changes(local: LocalStack, **sobjects: dict[str, Any]) -> None:
    """Someone edits the seeded Salesforce deal's records in the org (by sObject: fields)."""
    ids = {"Account": SALESFORCE_ACCOUNT, "Contract": SALESFORCE_CONTRACT, "SBQQ__Quote__c": SALESFORCE_QUOTE}
    for sobject, values in sobjects.items():
        local.fake("salesforce-acme").update_record(sobject, ids[sobject], values)


def executions(local: LocalStack) -> list[dict[str, Any]]:
    return local.runtime.executions()


def test_closed_won_deal_is_provisioned_in_every_system_with_cross_references(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given HubSpot reports the deal closed-won
    assert local.deliver("hubspot-acme", "hubspot/deal.closed_won.json").status == 200
    # When the pipeline and the workflow have run
    local.runtime.drain()
    # Then ProjectActivated names the project and every system's id ...
    [activated] = local.events_of_type("ProjectActivated")
    payload = activated["detail"]["payload"]
    code = payload["project_code"]
    assert set(payload["system_ids"]) == {"netsuite-acme", "kantata-acme"}
    [won] = local.events_of_type("OpportunityClosedWon")
    assert activated["detail"]["correlation_id"] == won["detail"]["correlation_id"]
    # ... the ERP holds exactly one project shell, with its financial dimensions ...
    [erp_record] = local.records("netsuite-acme", "projects")
    assert (erp_record["code"], erp_record["legal_entity"], erp_record["active"]) == (code, "ACME-US", True)
    erp_project = local.connector("netsuite-acme").get_project(code)  # read back over NetSuite's API
    assert erp_project.native_id == payload["system_ids"]["netsuite-acme"] == erp_record["native_id"]
    assert erp_project.project.dimensions.legal_entity == "ACME-US"
    assert erp_project.project.dimensions.cost_centre == "CC-410"
    assert len(local.records("netsuite-acme", "customers")) == 1
    # ... the PSA holds one project from the consulting template, with the approved rate card ...
    [psa_record] = local.records("kantata-acme", "projects")
    assert psa_record["template"] == "TPL-CONSULT"
    psa_project = local.connector("kantata-acme").get_project(code)
    assert psa_project.template == "TPL-CONSULT"
    assert psa_project.rate_card is not None
    assert sorted(r.role for r in psa_project.rate_card.rates) == sorted(psa_record["rate_card_roles"])
    assert len(psa_record["rate_card_roles"]) >= 2
    # ... the ERP bills it (time and materials), and the CRM deal links back to the project
    assert local.requests("netsuite-acme", "create_billing_schedule") == 1
    assert len(local.records("netsuite-acme", "billing_schedules")) == 1
    deal = local.fake("hubspot-acme").properties("deals", HUBSPOT_DEAL)
    assert deal["pshub_project_code"] == code
    [execution] = executions(local)
    assert execution["status"] == "SUCCEEDED"
    # And the KPIs record it: straight through, live that long after the deal was won
    output = capsys.readouterr().out
    assert [value for value, _ in emitted_metrics(output, "ProvisioningStraightThrough")] == [1.0]
    [(seconds, _)] = emitted_metrics(output, "ProjectActivationSeconds")
    won_at = datetime.fromisoformat(won["detail"]["occurred_at"])
    live_at = datetime.fromisoformat(activated["detail"]["occurred_at"])
    assert seconds == pytest.approx((live_at - won_at).total_seconds(), abs=0.01)
    [(received, dimensions)] = emitted_metrics(output, "DeliveriesReceived")
    assert received == 1 and dimensions["connection"] == "hubspot-acme"


def test_duplicate_delivery_and_second_execution_create_nothing_twice(local: LocalStack) -> None:
    local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml")
    local.runtime.drain()
    # A redelivery of the webhook, and the same won event put on the bus again
    local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml")
    [won] = local.events_of_type("OpportunityClosedWon")
    events = boto3.client("events", region_name=local.runtime.region)
    events.put_events(
        Entries=[
            {
                "Source": won["source"],
                "DetailType": won["detail-type"],
                "Detail": json.dumps(won["detail"]),
                "EventBusName": local.runtime.resource_name("bus", "business_events"),
            }
        ]
    )
    local.runtime.drain()
    assert len(executions(local)) == 1
    assert local.requests("netsuite-acme", "create_job") == 1
    assert len(local.events_of_type("ProjectActivated")) == 1


def test_incomplete_terms_stop_before_anything_is_created_with_an_owned_exception(local: LocalStack) -> None:
    # Given the Salesforce deal's quote is still a draft and its account has no tax jurisdiction
    salesforce_deal_changes(
        local, SBQQ__Quote__c={"SBQQ__Status__c": "Draft"}, Account={"pshub_Tax_Jurisdiction__c": None}
    )
    # When it is won
    local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml")
    local.runtime.drain()
    # Then nothing exists in the ERP, the PSA or billing ...
    assert local.fake("netsuite-acme").calls() == []
    assert local.fake("kantata-acme").calls() == []
    assert local.fake("stripe-acme").calls() == []
    # ... and sales ops owns one exception naming both problems, with the deal's keys
    [parked] = exceptions(local).list()
    assert parked.category is Category.COMMERCIAL_TERMS_INVALID
    assert parked.owner_team is OwnerTeam.SALES_OPS
    assert "contract.status" in parked.detail and "contract.tax_jurisdiction" in parked.detail
    assert parked.business_keys["opportunity"] == SALESFORCE_OPPORTUNITY
    assert parked.context["already_created"] == {}


def test_tax_or_entity_problem_alone_goes_to_finance_ops(local: LocalStack) -> None:
    salesforce_deal_changes(local, Account={"pshub_Legal_Entity__c": "ACME-DE"})
    local.deliver("salesforce-acme", "salesforce/opportunity.closed_won.xml")
    local.runtime.drain()
    [parked] = exceptions(local).list()
    assert parked.category is Category.TAX_OR_ENTITY_INVALID
    assert parked.owner_team is OwnerTeam.FINANCE_OPS
    assert "ACME-DE" in parked.detail


def test_transient_failures_are_absorbed_by_the_workflows_retries(local: LocalStack) -> None:
    # NetSuite is unavailable twice when the project is created, Kantata throttles a rate (429)
    local.fake("netsuite-acme").inject("create_job", 503, times=2)
    local.fake("kantata-acme").inject("create_rate_card_role", 429)
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    [execution] = executions(local)
    assert execution["status"] == "SUCCEEDED"
    assert local.requests("netsuite-acme", "create_job") == 3  # two 503s, then created
    assert len(local.records("netsuite-acme", "projects")) == 1
    assert len(local.events_of_type("ProjectActivated")) == 1
    assert exceptions(local).list() == []


def test_permanent_psa_failure_after_the_erp_project_parks_then_resumes_correctly(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the PSA refuses the project permanently (e.g. a template retired by the PMO)
    psa_refuses(local, "create_workspace", "Workspace template is archived")
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    # Then the execution waits, visible as a PMO exception that says what exists already
    [execution] = executions(local)
    assert execution["status"] == "RUNNING"
    [parked] = exceptions(local).list()
    assert parked.owner_team is OwnerTeam.PMO
    assert "erp_project" in parked.context["already_created"]
    assert "Workspace template is archived" in json.dumps(parked.context)
    assert local.requests("netsuite-acme", "create_job") == 1
    assert local.events_of_type("ProjectActivated") == []
    # And the operations tick reads the PMO's backlog: one open, waiting since it was raised
    assert local.runtime.run_schedules(["operations_tick"]) == {"operations_tick": {"readings": 15}}
    backlog = capsys.readouterr().out
    [(count, _)] = [m for m in emitted_metrics(backlog, "OpenExceptions") if m[1]["owner"] == "pmo"]
    [(age, _)] = [
        m for m in emitted_metrics(backlog, "OldestOpenExceptionAgeSeconds") if m[1]["owner"] == "pmo"
    ]
    assert count == 1 and 0 <= age < 600
    assert sum(value for value, _ in emitted_metrics(backlog, "OpenExceptions")) == 1
    assert [d["owner"] for _, d in emitted_metrics(backlog, "ExceptionsOpened")] == ["pmo"]
    # When the PMO fixes the template and retries
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    resolved = resolve_parked(exceptions(local), sfn, parked.id, "retry", "template restored")
    local.runtime.drain()
    # Then provisioning resumes at the PSA step and finishes, with one ERP project
    assert resolved.status is Status.RESOLVED
    assert executions(local)[0]["status"] == "SUCCEEDED"
    assert local.requests("netsuite-acme", "create_job") == 1
    assert len(local.records("kantata-acme", "projects")) == 1
    assert len(local.events_of_type("ProjectActivated")) == 1
    # And the KPIs count it as a project a person had to touch, activated once
    output = capsys.readouterr().out
    assert [value for value, _ in emitted_metrics(output, "ProvisioningStraightThrough")] == [0.0]
    [(seconds, dimensions)] = emitted_metrics(output, "ProjectActivationSeconds")
    assert dimensions == {"service": "pshub", "stage": "-"} and seconds >= 0


def test_abandoned_provisioning_compensates_what_was_created(local: LocalStack) -> None:
    psa_refuses(local, "create_rate_card_role", "Rate card currency is not enabled")
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    [parked] = exceptions(local).list()
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    resolve_parked(exceptions(local), sfn, parked.id, "abandon", "client withdrew")
    local.runtime.drain()
    assert executions(local)[0]["status"] == "FAILED"
    code = parked.business_keys["project_code"]
    assert local.connector("netsuite-acme").get_project(code).active is False
    assert local.connector("kantata-acme").get_project(code).archived is True
    [erp_record] = local.records("netsuite-acme", "projects")
    [psa_record] = local.records("kantata-acme", "projects")
    assert (erp_record["active"], psa_record["archived"]) == (False, True)
    assert local.events_of_type("ProjectActivated") == []


def test_a_second_execution_under_another_name_creates_nothing_twice(local: LocalStack) -> None:
    # Given a provisioned deal
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    [first] = executions(local)
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    original_input = sfn.describe_execution(executionArn=first["executionArn"])["input"]
    # When someone starts the workflow again by hand, under another name
    sfn.start_execution(
        stateMachineArn=local.runtime.state_machine_arn("provision_project"),
        name="manual-rerun",
        input=original_input,
    )
    local.runtime.drain()
    # Then it succeeds without creating anything a second time, and announces the same project
    assert {e["status"] for e in executions(local)} == {"SUCCEEDED"}
    assert len(local.records("netsuite-acme", "projects")) == 1
    assert len(local.records("netsuite-acme", "customers")) == 1
    assert len(local.records("kantata-acme", "projects")) == 1
    activated = local.events_of_type("ProjectActivated")
    assert len({e["detail"]["event_id"] for e in activated}) == 1  # same event id: consumers deduplicate
    assert len({e["detail"]["payload"]["project_code"] for e in activated}) == 1


def test_a_step_that_fails_again_after_a_retry_parks_again_and_can_be_resumed(local: LocalStack) -> None:
    psa_refuses(local, "create_workspace", "Workspace template is archived", times=2)
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    sfn = boto3.client("stepfunctions", region_name=local.runtime.region)
    [first] = exceptions(local).list()
    resolve_parked(exceptions(local), sfn, first.id, "retry", "tried a fix")
    local.runtime.drain()
    # The step failed again: a new exception holds the execution, the first stays resolved
    [second] = exceptions(local).list()
    assert second.id != first.id
    resolve_parked(exceptions(local), sfn, second.id, "retry", "template restored")
    local.runtime.drain()
    assert executions(local)[0]["status"] == "SUCCEEDED"
    assert local.requests("netsuite-acme", "create_job") == 1
    assert len(local.records("kantata-acme", "projects")) == 1
    assert len(local.events_of_type("ProjectActivated")) == 1


def test_operator_resolves_a_parked_provisioning_from_the_command_line(local: LocalStack, capsys) -> None:
    from pshub_local.cli import main

    psa_refuses(local, "create_workspace", "Workspace template is archived")
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    table = [
        "--table", local.runtime.resource_name("table", "business_exceptions"),
        "--audit-table", local.runtime.resource_name("table", "audit"),
    ]  # fmt: skip
    # The operator lists what waits for a person ...
    assert main(["exceptions", *table, "list"]) == 0
    listing = capsys.readouterr().out
    [parked] = exceptions(local).list()
    assert parked.id in listing and "pmo" in listing and "1 exception(s)" in listing
    # ... and resumes it once fixed
    assert main(["exceptions", *table, "resolve", parked.id, "--retry", "--note", "template restored"]) == 0
    local.runtime.drain()
    assert executions(local)[0]["status"] == "SUCCEEDED"
    assert main(["exceptions", *table, "retry", parked.id, "--note", "again"]) == 2  # the short form
    # Who resumed it, and why, is on the audit trail (the refused second try is not).
    capsys.readouterr()
    assert main(["exceptions", *table, "show", parked.id, "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["audit"]
    assert (entry["action"], entry["note"], entry["before"]["status"], entry["after"]["status"]) == (
        "exception.retry", "template restored", "open", "resolved"
    )  # fmt: skip
    assert entry["actor"].startswith(("arn:aws:", "local:"))


def test_a_long_throttle_is_waited_out_by_the_workflow_however_often_it_comes(
    local: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    from pshub.connectors import registry
    from pshub.connectors.http import ConnectorContext

    # The Wait state returns at once, and the connectors' clock moves on by what it waited
    waited: list[int] = []
    monkeypatch.setattr(
        WaitFunction, "_wait_interval", lambda self, env, wait_seconds: waited.append(wait_seconds)
    )

    def clock() -> float:
        return time.time() + sum(waited)

    monkeypatch.setattr(
        registry,
        "_context_factory",
        lambda connection: ConnectorContext(credentials=registry.api_credentials(connection), clock=clock),
    )
    registry.reset_connectors()
    # Given NetSuite answers creating the project with a 429 asking for two minutes, seven times
    # running: longer than a Lambda should sleep, and more often than the state machine's retries
    throttled = {
        "title": "Too Many Requests",
        "status": 429,
        "o:errorDetails": [{"detail": "Concurrency limit"}],
    }
    local.fake("netsuite-acme").inject("create_job", 429, throttled, {"Retry-After": "120"}, times=7)
    local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
    local.runtime.drain()
    # Then the execution slept exactly the platform's two minutes each time, in a Wait state,
    # and then provisioned the project once, with nothing for a person to do
    assert waited == [120] * 7
    assert executions(local)[0]["status"] == "SUCCEEDED"
    assert local.requests("netsuite-acme", "create_job") == 8
    assert len(local.records("netsuite-acme", "projects")) == 1
    assert exceptions(local).list() == []
    assert len(local.events_of_type("ProjectActivated")) == 1
