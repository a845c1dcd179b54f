"""Every request pshub's Salesforce connector sends, and every answer the Salesforce fake gives,
against the documented REST API shapes in ``tests/contract/specs/salesforce/shapes.json``.

Salesforce publishes no org-independent OpenAPI document (each org's describe metadata is
the contract), so the shapes are JSON Schemas written from the REST API Developer Guide and
Salesforce Help topics each one cites, validated here with ``jsonschema``. A full scenario
runs over HTTP on 127.0.0.1 with both OAuth flows: the seeded deal read (by its 18- and
15-character id), its project linked, linked again, refused a second project, an unknown
opportunity, the change feed paged through ``nextRecordsUrl``, and the failures the
connector must survive (an expired session, a lost answer, a gateway error, the concurrency
and daily limits, an outage, a token endpoint refusal, an org without pshub's fields).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from jsonschema import Draft202012Validator

from pshub.connections import Connection
from pshub.connectors.errors import (
    Conflict,
    NotFound,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms.salesforce import outbound
from pshub.platforms.salesforce.outbound import SalesforceCrm
from pshub_local.fakes.server import Exchange, FakeRequest, FakeResponse
from pshub_local.platforms import seed
from pshub_local.platforms.salesforce.fake import SalesforceFake, credentials_for_local

SHAPES = Path(__file__).resolve().parent / "specs" / "salesforce" / "shapes.json"
CONNECTION_ID = "salesforce-acme"
OPPORTUNITY = seed.SALESFORCE_OPPORTUNITY_ID
IDS = {"netsuite-acme": "5211", "kantata-acme": "27410001"}
BASE = Connection(id=CONNECTION_ID, platform="salesforce", role="crm")


@cache
def shapes() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SHAPES.read_text(encoding="utf-8"))
    return loaded


def schema_errors(name: str, instance: object) -> list[str]:
    validator = Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": shapes()["$defs"]})
    return [
        f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)
    ]


def request_problems(exchange: Exchange) -> list[str]:
    operation = shapes()["operations"].get(exchange.operation)
    if operation is None:
        return [f"{exchange.operation}: no documented shape"]
    request = exchange.request
    found: list[str] = []
    if request.method != operation["method"] or not re.fullmatch(operation["path"], request.path):
        found.append(f"{request.method} {request.path} is not {operation['method']} {operation['path']}")
    names = {name for name, _ in request.query}
    if names - set(operation.get("query", [])):
        found.append(f"undocumented query parameters {sorted(names - set(operation.get('query', [])))}")
    if set(operation.get("required_query", [])) - names:
        found.append(f"missing query parameters {sorted(set(operation['required_query']) - names)}")
    authorization = request.header("Authorization")
    if operation.get("auth") == "none":
        if authorization:
            found.append("the token request carries an Authorization header")
    elif not any(re.match(p, authorization or "") for p in shapes()["auth"]["patterns"]):
        found.append("no Bearer token")
    content_type = (request.header("Content-Type") or "").split(";")[0]
    if "form" in operation:
        if content_type != "application/x-www-form-urlencoded":
            found.append(f"token request sent as {content_type!r}")
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        per_schema = [schema_errors(name, form) for name in operation["form"]]
        if all(per_schema):
            found += [problem for problems in per_schema for problem in problems]
    elif "body" in operation:
        if content_type != "application/json":
            found.append(f"body sent as {content_type!r}")
        found += schema_errors(operation["body"], json.loads(request.body or b"null"))
    elif request.body:
        found.append("a body on a request that takes none")
    return [f"{exchange.operation} request: {p}" for p in found]


def response_problems(exchange: Exchange) -> list[str]:
    response = exchange.response
    if response is None:
        return []  # dropped on purpose: nothing was answered
    operation = shapes()["operations"][exchange.operation]
    declared = operation["responses"].get(str(response.status)) or shapes()["common_responses"].get(
        str(response.status)
    )
    if declared is None:
        return [f"{exchange.operation} response: status {response.status} is not documented"]
    found: list[str] = []
    payload = response.encoded()
    if declared.get("empty"):
        if payload:
            found.append(f"status {response.status} has a body")
    else:
        found += schema_errors(declared["schema"], json.loads(payload))
    if exchange.request.path.startswith("/services/data/"):
        for header, pattern in shapes()["api_headers"]["patterns"].items():
            if not re.match(pattern, response.headers.get(header, "")):
                found.append(f"header {header} missing or not {pattern}")
    return [f"{exchange.operation} response {response.status}: {p}" for p in found]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in {"127.0.0.1", "::1", "localhost"}:
            raise RuntimeError(f"contract tests may only reach the loopback fakes, not {host!r}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@dataclass
class Clock:
    now: float = field(default_factory=lambda: datetime.now(UTC).timestamp())
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Org:
    fake: SalesforceFake
    clock: Clock
    credentials: dict[str, str]

    def connector(self, credentials: dict[str, str] | None = None, **options: str) -> SalesforceCrm:
        connection = Connection(
            id=CONNECTION_ID,
            platform="salesforce",
            role="crm",
            options={**self.fake.local_options(), **options},
            implementation="http",
        )
        context = ConnectorContext(
            credentials=self.credentials if credentials is None else credentials,
            state=MemoryState(),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        return outbound.connect(connection, context)


@pytest.fixture(scope="module")
def jwt_credentials() -> dict[str, str]:
    return credentials_for_local(BASE)


def _org(credentials: dict[str, str], **kwargs: Any) -> Iterator[Org]:
    clock = Clock()
    fake = SalesforceFake(BASE, credentials, clock=clock, **kwargs)
    fake.start()
    try:
        yield Org(fake, clock, credentials)
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


def run_scenario(org: Org) -> None:
    fake = org.fake
    crm = org.connector()
    assert crm.get_opportunity(OPPORTUNITY) == crm.get_opportunity(OPPORTUNITY[:15])
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", {"netsuite-acme": "5211"})
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    with pytest.raises(Conflict):
        crm.link_project(OPPORTUNITY, "PRJ-ACME-0002", IDS)
    with pytest.raises(NotFound):
        crm.get_opportunity("0065e00000ZzZzZAAV")
    with pytest.raises(NotFound):
        crm.link_project("0065e00000ZzZzZAAV", "PRJ-ACME-0003", IDS)
    # a CPQ amendment of the contract (page size 1: its won amendments are read page by page)
    amendment = fake.add_record(
        "Opportunity",
        {"Name": "Amendment for contract #00000101", "StageName": "Closed Won", "IsWon": True, "Amount": 40000.0,
         "CurrencyIsoCode": "USD", "AccountId": seed.SALESFORCE_ACCOUNT_ID,
         "SBQQ__AmendedContract__c": seed.SALESFORCE_CONTRACT_ID},
    )  # fmt: skip
    fake.add_record(
        "SBQQ__Quote__c",
        {"SBQQ__Opportunity2__c": amendment, "SBQQ__Primary__c": True, "SBQQ__Status__c": "Approved",
         "SBQQ__StartDate__c": "2026-12-10", "CurrencyIsoCode": "USD"},
    )  # fmt: skip
    org.clock.now += 60
    later = fake.add_record(
        "Opportunity",
        {"Name": "Amendment 2", "StageName": "Closed Won", "IsWon": True, "Amount": 1000.0, "CurrencyIsoCode": "USD",
         "AccountId": seed.SALESFORCE_ACCOUNT_ID, "SBQQ__AmendedContract__c": seed.SALESFORCE_CONTRACT_ID},
    )  # fmt: skip
    fake.add_record(
        "SBQQ__Quote__c",
        {"SBQQ__Opportunity2__c": later, "SBQQ__Primary__c": True, "SBQQ__Status__c": "Approved",
         "SBQQ__StartDate__c": "2027-01-04", "CurrencyIsoCode": "USD"},
    )  # fmt: skip
    fake.page_size = 1
    first, second = crm.read_change_order(amendment), crm.read_change_order(later)
    fake.page_size = 2000
    assert (first.project_code, first.amendment and first.amendment.number) == ("PRJ-ACME-0001", 1)
    assert second.amendment is not None and second.amendment.number == 2
    assert second.budget is not None and second.budget.amount == Decimal(
        "53500.00"
    )  # 12,500 + 40,000 + 1,000
    # the change feed, one record a page
    for number in range(2):
        org.clock.now += 60
        fake.add_record("Account", {"Name": f"Client {number}"})
    fake.page_size = 1
    since = datetime(2026, 1, 1, tzinfo=UTC)
    token: str | None = None
    pages = 0
    while True:
        _, token = crm.changed_since("Client", since, token)
        pages += 1
        if token is None:
            break
    assert pages == 3
    # an expired session: one new token
    fake.expire_tokens()
    crm.get_opportunity(OPPORTUNITY)
    # a lost answer and a gateway error on the update
    other = fake.add_record(
        "Opportunity", {"Name": "Second", "StageName": "Closed Won", "AccountId": seed.SALESFORCE_ACCOUNT_ID}
    )
    fake.drop_answer("update_record")
    crm.link_project(other, "PRJ-ACME-0004", IDS)
    third = fake.add_record(
        "Opportunity", {"Name": "Third", "StageName": "Closed Won", "AccountId": seed.SALESFORCE_ACCOUNT_ID}
    )
    fake.inject("update_record", 502, [{"message": "Bad gateway", "errorCode": "UNKNOWN_EXCEPTION"}])
    crm.link_project(third, "PRJ-ACME-0005", IDS)
    # the org's validation rule (a second project linked between read and write)
    fourth = fake.add_record(
        "Opportunity",
        {
            "Name": "Fourth",
            "StageName": "Closed Won",
            "AccountId": seed.SALESFORCE_ACCOUNT_ID,
            "pshub_Project_Code__c": "PRJ-X-0001",
        },
    )
    fake.lock_project_code = True
    fake.inject(
        "get_record",
        200,
        {
            "attributes": {
                "type": "Opportunity",
                "url": f"/services/data/v66.0/sobjects/Opportunity/{fourth}",
            },
            "Id": fourth,
            "pshub_Project_Code__c": None,
            "pshub_Project_Ids__c": None,
        },
    )
    with pytest.raises(Conflict):
        crm.link_project(fourth, "PRJ-ACME-0006", IDS)
    # limits and failures
    fake.inject(
        "query",
        403,
        [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    crm.get_opportunity(OPPORTUNITY)
    other = org.connector()  # another invocation, with its own token
    other.get_opportunity(OPPORTUNITY)
    fake.set_api_usage(fake.api_max)
    with pytest.raises(RateLimited):
        crm.get_opportunity(OPPORTUNITY)  # this one now holds back until the allowance is back
    fake.set_api_usage(0)
    fake.set_outage(True)
    with pytest.raises(TransientConnectorError):
        other.get_opportunity(OPPORTUNITY)
    fake.set_outage(False)
    with pytest.raises(PermanentConnectorError):
        org.connector(credentials={**org.credentials, "username": "nobody@else.example"}).get_opportunity(
            OPPORTUNITY
        )


def assert_every_exchange_is_documented(fake: SalesforceFake) -> None:
    problems = [
        p for exchange in fake.exchanges for p in (*request_problems(exchange), *response_problems(exchange))
    ]
    assert problems == []


def test_a_full_scenario_speaks_only_documented_shapes(jwt_credentials: dict[str, str]) -> None:
    for org in _org(jwt_credentials):
        run_scenario(org)
        seen = {(e.operation, e.response.status if e.response else None) for e in org.fake.exchanges}
        assert {
            ("token", 200),
            ("token", 400),
            ("query", 200),
            ("query", 401),
            ("query", 403),
            ("query", 503),
        } <= seen
        assert {("query_all", 200), ("query_more", 200), ("get_record", 200), ("get_record", 404)} <= seen
        assert {
            ("update_record", 204),
            ("update_record", None),
            ("update_record", 502),
            ("update_record", 400),
        } <= seen
        assert len(org.fake.exchanges) > 30
        assert_every_exchange_is_documented(org.fake)


def test_client_credentials_and_an_org_without_pshubs_fields_speak_documented_shapes() -> None:
    app = {"client_id": "localdemo-3MVG9client", "client_secret": "localdemo-secret"}
    for org in _org(app, without={"Opportunity.pshub_Project_Ids__c", "SBQQ__Quote__c"}):
        crm = org.connector()
        with pytest.raises(PermanentConnectorError):
            crm.get_opportunity(OPPORTUNITY)  # no CPQ: INVALID_TYPE
        with pytest.raises(PermanentConnectorError):
            crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)  # no field: INVALID_FIELD
        with pytest.raises(PermanentConnectorError):
            org.connector(credentials={**app, "client_secret": "wrong"}).get_opportunity(OPPORTUNITY)
        assert_every_exchange_is_documented(org.fake)


def test_the_shapes_refuse_what_salesforce_would_not_send() -> None:
    # The schemas are not vacuous: a wrong error body, a query result without records, an
    # update of a standard field and a nextRecordsUrl on another host all fail.
    assert schema_errors("error", {"message": "x", "errorCode": "NOT_FOUND"})
    assert schema_errors("query_result", {"totalSize": 0, "done": True})
    assert schema_errors("update_body", {"Name": "renamed"})
    assert schema_errors(
        "query_result",
        {
            "totalSize": 3,
            "done": False,
            "records": [],
            "nextRecordsUrl": "https://evil.example/services/data/v66.0/query/01g5e0000000001AAA-1",
        },
    )
    assert not schema_errors(
        "session_invalid", [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    )
    # ... and neither are the exchange checks: an update without its token, of a standard
    # field, answered with a status the operation does not document, is three problems.
    request = FakeRequest(
        method="PATCH",
        path=f"/services/data/v66.0/sobjects/Opportunity/{OPPORTUNITY}",
        query=(),
        headers={"content-type": "application/json"},
        body=b'{"StageName": "Closed Lost"}',
        url="http://127.0.0.1/",
    )
    problems = [
        *request_problems(Exchange("update_record", request, FakeResponse(204))),
        *response_problems(Exchange("update_record", request, FakeResponse(200, {}))),
    ]
    assert len(problems) == 3 and any("Bearer" in p for p in problems)
