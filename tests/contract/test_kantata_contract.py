"""Every request the Kantata connector sends, and every answer the Kantata fake gives, against
Kantata OX's OpenAPI document (``tests/contract/specs/kantata/openapi.json``).

A full scenario runs over HTTP on 127.0.0.1: a project created from its template, created
again (same content, other content), its rate card pushed and replaced, read back,
archived, brought back, polled, a change order's milestones added and re-dated, a workspace adopted by its title, and the failures the
connector must survive (a refusal, a revoked token, a lost answer, an outage, a throttle).
Each exchange's request is validated; each response whose status the operation declares
is validated too. Kantata documents 429 only in prose ("retry after a small delay",
https://developer.kantata.com), not in the document: it is the one undeclared status
allowed, and it must be plain (no body, no ``Retry-After``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from pshub.canonical.model import Milestone, Money
from pshub.connectors.errors import Conflict, PermanentConnectorError
from pshub_local.fakes.server import Exchange
from pshub_local.platforms.kantata.fake import KantataFake, credentials_for_local
from tests.contract.openapi_contract import (
    operation_for,
    spec_document,
    validate_request,
    validate_response,
)
from tests.unit.connectors.builders import project, rate_card
from tests.unit.platforms.kantata.support import Harness, Sleeps, kantata_connection

CODE = "PRJ-HARB-0001"


def milestone(identifier: str, name: str, amount: str, due: date | None) -> Milestone:
    return Milestone(
        id=identifier, name=name, amount=Money(amount=Decimal(amount), currency="USD"), due_date=due
    )


UNAVAILABLE = {"errors": [{"type": "system", "message": "Service is unavailable"}]}


@pytest.fixture
def harness() -> Iterator[Harness]:
    connection = kantata_connection()
    fake = KantataFake(connection)
    fake.start()
    try:
        yield Harness(fake, connection, Sleeps())
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


def run_scenario(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    assert psa.create_project_from_template(project(), "TPL-CONSULT") == native_id
    with pytest.raises(Conflict):
        psa.create_project_from_template(project(name="Another scope"), "TPL-CONSULT")
    psa.push_rate_card(native_id, rate_card(Consultant="185.00", Analyst="125.00"))
    psa.push_rate_card(native_id, rate_card(Consultant="190.00", Partner="425.00"))
    record = psa.get_project(CODE)
    assert record is not None and record.rate_card is not None
    psa.archive_project(native_id, "provisioning abandoned")
    psa.archive_project(native_id, "provisioning abandoned")
    assert psa.create_project_from_template(project(), "TPL-CONSULT") == native_id
    psa.changed_since("project", datetime.now(UTC) - timedelta(minutes=5))
    # a change order's milestones: added, pushed again (nothing new), re-dated; a lost answer
    phase = [milestone("ms-phase-2", "Phase 2 sign-off", "12000.00", date(2027, 3, 31))]
    psa.push_milestones(native_id, CODE, phase)
    psa.push_milestones(native_id, CODE, phase)
    psa.push_milestones(
        native_id, CODE, [milestone("ms-phase-2", "Phase 2 sign-off", "12000.00", date(2027, 4, 30))]
    )
    harness.fake.drop_answer("create_story")
    psa.push_milestones(native_id, CODE, [milestone("ms-phase-3", "Phase 3 go-live", "8000.00", None)])

    # a workspace made by hand with the code in its title, adopted
    token = credentials_for_local(harness.connection)["access_token"]
    httpx.post(
        f"{harness.base_url}/workspaces.json",
        json={"workspace": {"title": "PRJ-HARB-0002 - Data Platform Assessment", "price": 12500}},
        headers={"Authorization": f"Bearer {token}"},
    )
    psa.create_project_from_template(project("PRJ-HARB-0002"), "TPL-CONSULT")

    # failures: a refusal (422), a lost answer, an outage (503), a throttle (429), a revoked token (401)
    with pytest.raises(PermanentConnectorError):
        psa.create_project_from_template(project("PRJ-HARB-0003"), "999")
    harness.fake.drop_answer("create_workspace")
    psa.create_project_from_template(project("PRJ-HARB-0004"), "TPL-MSP")
    harness.fake.inject("create_rate_card_role", 503, UNAVAILABLE)
    harness.fake.inject("list_workspaces", 429)
    psa.push_rate_card(native_id, rate_card(Analyst="130.00"))
    with pytest.raises(PermanentConnectorError):
        harness.connector(credentials={"access_token": "localdemo-revoked"}).get_project(CODE)


def declared_statuses(method: str, url: str) -> set[int]:
    """The statuses the spec declares for the operation ``method url`` calls."""
    operation_id = operation_for("kantata", method, url)
    for item in spec_document("kantata")["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return {int(status) for status in operation["responses"]}
    raise AssertionError(f"no operation {operation_id}")


def check(exchange: Exchange) -> int | None:
    """Validate one exchange; the response's status if the spec does not declare it."""
    request = exchange.request
    headers = dict(request.headers)
    validate_request("kantata", request.method, request.url, headers, request.body)
    response = exchange.response
    if response is None:  # answer dropped on purpose: nothing was sent back
        return None
    if response.status not in declared_statuses(request.method, request.url):
        return response.status
    body = response.encoded()
    response_headers = {"Content-Type": "application/json", **response.headers} if body else response.headers
    validate_response(
        "kantata",
        request.method,
        request.url,
        response.status,
        response_headers,
        body,
        request_headers=headers,
        request_body=request.body,
    )
    return None


def test_every_exchange_of_a_full_scenario_follows_kantatas_document(harness: Harness) -> None:
    run_scenario(harness)
    exchanges = harness.fake.exchanges
    undeclared = [(e.operation, status) for e in exchanges if (status := check(e)) is not None]
    assert undeclared == [("list_workspaces", 429)]
    [throttle] = [e.response for e in exchanges if e.response is not None and e.response.status == 429]
    assert throttle.body is None and "Retry-After" not in throttle.headers
    # the scenario reached every operation the connector uses, and every declared kind of answer
    operations = {e.operation for e in exchanges}
    assert operations == {
        "list_project_templates",
        "list_workspaces",
        "create_workspace",
        "update_workspace",
        "create_or_update_external_reference",
        "list_rate_cards",
        "list_roles",
        "list_rate_card_roles",
        "create_rate_card_role",
        "update_rate_card_role",
        "delete_rate_card_role",
        "list_stories",
        "create_story",
        "update_story",
    }
    statuses = {e.response.status for e in exchanges if e.response is not None}
    assert {200, 204, 401, 422, 503} <= statuses
    assert any(e.response is None for e in exchanges)  # the lost answer


def test_the_scenarios_bodies_are_checked_for_real(harness: Harness) -> None:
    # the validation above is not vacuous: a body the spec forbids fails it
    run_scenario(harness)
    create = next(e for e in harness.fake.exchanges if e.operation == "create_workspace")
    broken = create.request.body.replace(b'"budgeted":true', b'"budgeted":"yes"')
    assert broken != create.request.body
    with pytest.raises(AssertionError, match="budgeted"):
        validate_request("kantata", "POST", create.request.url, dict(create.request.headers), broken)
