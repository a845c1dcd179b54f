"""Every request pshub's HubSpot connector sends, and every answer the HubSpot fake gives,
against the documented shapes in ``tests/contract/specs/hubspot/shapes.json``.

No HubSpot OpenAPI document may be vendored (``specs/hubspot/README.md``: HubSpot's spec
collection is not licensed for external use), so ``openapi_contract`` knows no ``hubspot``;
the shapes are JSON Schemas written from HubSpot's documentation and the official SDK's
generated models, each citing its source, validated here with ``jsonschema``. A full
scenario runs over HTTP on 127.0.0.1 with both kinds of token: the seeded deal read, its
project linked, linked again, refused a second project, unknown deals, a deal with two
quotes, the change feed paged by ``after`` and re-windowed at the search cap, and the
failures the connector must survive (an expired token, a lost answer, a gateway timeout,
the ten-second and daily limits, an outage, a refused refresh token, a missing scope, a
portal without pshub's properties, a line item gone).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from pshub.platforms.hubspot import outbound
from pshub.platforms.hubspot.outbound import HubSpotCrm
from pshub_local.fakes.server import Exchange, FakeRequest, FakeResponse
from pshub_local.platforms import seed
from pshub_local.platforms.hubspot.fake import HubSpotFake, credentials_for_local
from tests.contract import openapi_contract

SHAPES = Path(__file__).resolve().parent / "specs" / "hubspot" / "shapes.json"
CONNECTION_ID = "hubspot-acme"
DEAL = seed.HUBSPOT_DEAL_ID
IDS = {"netsuite-acme": "5211", "kantata-acme": "27410001"}
BASE = Connection(id=CONNECTION_ID, platform="hubspot", role="crm", options={"portal_id": "24681357"})


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
    unknown = {name for name, _ in request.query} - set(operation.get("query", []))
    if unknown:
        found.append(f"undocumented query parameters {sorted(unknown)}")
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
        found += schema_errors(
            operation["form"], dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        )
    elif "body" in operation:
        if content_type != "application/json":
            found.append(f"body sent as {content_type!r}")
        found += schema_errors(operation["body"], json.loads(request.body or b"null"))
    elif request.body:
        found.append("a body on a request that takes none")
    return [f"{exchange.operation} request: {p}" for p in found]


def response_problems(exchange: Exchange, private_token: str | None) -> list[str]:
    response = exchange.response
    if response is None:
        return []  # dropped on purpose: nothing was answered
    operation = shapes()["operations"][exchange.operation]
    declared = operation["responses"].get(str(response.status)) or shapes()["common_responses"].get(
        str(response.status)
    )
    if declared is None:
        return [f"{exchange.operation} response: status {response.status} is not documented"]
    found = schema_errors(declared["schema"], json.loads(response.encoded()))
    if exchange.request.path.startswith("/crm/"):
        headers = shapes()["api_headers"]
        patterns = dict(headers["patterns"])
        private = (
            private_token is not None
            and exchange.request.header("Authorization") == f"Bearer {private_token}"
        )
        if private:
            patterns.update(headers["private_app_patterns"])
        elif any(name in response.headers for name in headers["private_app_patterns"]):
            found.append("daily limit headers on an OAuth call")
        for header, pattern in patterns.items():
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
class Portal:
    fake: HubSpotFake
    clock: Clock
    credentials: dict[str, str]

    def connector(self, credentials: dict[str, str] | None = None) -> HubSpotCrm:
        connection = Connection(
            id=CONNECTION_ID,
            platform="hubspot",
            role="crm",
            options={**BASE.options, **self.fake.local_options()},
            implementation="http",
        )
        context = ConnectorContext(
            credentials=self.credentials if credentials is None else credentials,
            state=MemoryState(),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        return outbound.connect(connection, context)

    def problems(self) -> list[str]:
        token = self.credentials.get("access_token")
        return [
            p
            for exchange in self.fake.exchanges
            for p in (*request_problems(exchange), *response_problems(exchange, token))
        ]


def _portal(credentials: dict[str, str], **kwargs: Any) -> Iterator[Portal]:
    clock = Clock()
    fake = HubSpotFake(BASE, credentials, clock=clock, **kwargs)
    fake.start()
    try:
        yield Portal(fake, clock, credentials)
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


def run_scenario(portal: Portal) -> None:
    fake = portal.fake
    crm = portal.connector()
    crm.get_opportunity(DEAL)
    crm.link_project(DEAL, "PRJ-HARB-1234", {"netsuite-acme": "5211"})
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    with pytest.raises(Conflict):
        crm.link_project(DEAL, "PRJ-HARB-9999", IDS)
    with pytest.raises(NotFound):
        crm.get_opportunity("1")
    with pytest.raises(NotFound):
        crm.link_project("2", "PRJ-HARB-0002", IDS)
    # a second quote on the deal: the quotes are read in one batch to choose
    fake.add_object(
        "quotes", {"hs_title": "Draft", "hs_status": "DRAFT"}, associations=[("deals", DEAL, "quote_to_deal")]
    )
    crm.get_opportunity(DEAL)
    # the change feed, paged and re-windowed at a (lowered) search cap
    for number in range(5):
        portal.clock.now += 60
        fake.add_object("deals", {"dealname": f"Deal {number}", "dealstage": "qualifiedtobuy"})
    fake.search_cap = 4
    crm.search_page, crm.search_result_cap = 2, 4
    token: str | None = None
    for _ in range(10):
        _, token = crm.changed_since("deals", datetime(2026, 11, 21, tzinfo=UTC), token)
        if token is None:
            break
    crm.changed_since("Client", datetime(2026, 1, 1, tzinfo=UTC))
    # a lost answer and a gateway timeout on the update
    other = fake.add_object("deals", {"dealname": "Second", "dealstage": "closedwon"})
    fake.drop_answer("update_deal")
    crm.link_project(other, "PRJ-HARB-0003", IDS)
    third = fake.add_object("deals", {"dealname": "Third", "dealstage": "closedwon"})
    fake.inject(
        "update_deal",
        504,
        {
            "status": "error",
            "message": "Gateway timeout",
            "correlationId": "0f6c1b9e-8a0c-4c43-9a57-2d8b6f1f4a11",
            "category": "GATEWAY_TIMEOUT",
        },
    )
    crm.link_project(third, "PRJ-HARB-0004", IDS)
    # a line item gone since its association
    fake.add_object(
        "line_items",
        {"name": "Ghost", "price": "1"},
        associations=[("quotes", seed.HUBSPOT_QUOTE_ID, "line_item_to_quote")],
    )
    ghost = [i for t, i, _ in fake._links[("quotes", seed.HUBSPOT_QUOTE_ID)] if t == "line_items"][-1]
    fake._objects["line_items"][ghost]["archived"] = True
    with pytest.raises(TransientConnectorError):
        crm.get_opportunity(DEAL)
    fake._objects["line_items"][ghost]["archived"] = False
    # limits and failures
    fake.inject(
        "get_company",
        429,
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
            "policyName": "TEN_SECONDLY_ROLLING",
        },
    )
    crm.get_opportunity(DEAL)
    fake.set_outage(True)
    with pytest.raises(TransientConnectorError):
        crm.get_opportunity(DEAL)
    fake.set_outage(False)


def test_a_private_app_scenario_speaks_only_documented_shapes() -> None:
    for portal in _portal(credentials_for_local(BASE)):
        run_scenario(portal)
        portal.fake.set_daily_usage(portal.fake.daily_limit)
        with pytest.raises(RateLimited):
            portal.connector().get_opportunity(DEAL)
        with pytest.raises(PermanentConnectorError):
            portal.connector(credentials={"access_token": "pat-na1-revoked"}).get_opportunity(DEAL)
        seen = {(e.operation, e.response.status if e.response else None) for e in portal.fake.exchanges}
        assert {
            ("get_deal", 200),
            ("get_deal", 404),
            ("get_deal", 401),
            ("get_deal", 429),
            ("get_deal", 503),
        } <= seen
        assert {
            ("update_deal", 200),
            ("update_deal", None),
            ("update_deal", 504),
            ("get_company", 429),
        } <= seen
        assert {
            ("batch_read_line_items", 200),
            ("batch_read_line_items", 207),
            ("batch_read_quotes", 200),
        } <= seen
        assert {("search_deals", 200), ("search_companies", 200), ("get_quote", 200)} <= seen
        assert len(portal.fake.exchanges) > 40
        assert portal.problems() == []


def test_an_oauth_scenario_speaks_only_documented_shapes() -> None:
    for portal in _portal(credentials_for_local(BASE, oauth=True)):
        crm = portal.connector()
        crm.get_opportunity(DEAL)
        portal.fake.expire_tokens()
        crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
        portal.clock.now += 1800
        crm.get_opportunity(DEAL)
        with pytest.raises(PermanentConnectorError):
            portal.connector(credentials={**portal.credentials, "refresh_token": "revoked"}).get_opportunity(
                DEAL
            )
        seen = {(e.operation, e.response.status if e.response else None) for e in portal.fake.exchanges}
        assert {("token", 200), ("token", 400), ("get_deal", 401)} <= seen
        assert portal.problems() == []


def test_refusals_of_scope_and_missing_properties_speak_documented_shapes() -> None:
    for portal in _portal(
        credentials_for_local(BASE), scopes={"crm.objects.deals.read"}, without={"deals.pshub_project_ids"}
    ):
        crm = portal.connector()
        with pytest.raises(PermanentConnectorError):
            crm.get_opportunity(DEAL)  # no companies scope: 403 MISSING_SCOPES
        with pytest.raises(PermanentConnectorError):
            crm.link_project(DEAL, "PRJ-HARB-1234", IDS)  # no write scope
        portal.fake.scopes = frozenset({*portal.fake.scopes, "crm.objects.deals.write"})
        with pytest.raises(PermanentConnectorError):
            crm.link_project(DEAL, "PRJ-HARB-1234", IDS)  # no such property: 400 VALIDATION_ERROR
        statuses = [e.response.status for e in portal.fake.exchanges if e.response is not None]
        assert 403 in statuses and 400 in statuses
        assert portal.problems() == []


def test_no_hubspot_openapi_document_is_vendored_so_the_shapes_stand_in() -> None:
    assert "hubspot" not in openapi_contract.known_vendors()
    assert (SHAPES.parent / "README.md").exists()


def test_the_shapes_refuse_what_hubspot_would_not_send() -> None:
    assert schema_errors("error", {"status": "error", "message": "x"})  # no correlationId, no category
    assert schema_errors(
        "object", {"id": "1", "properties": {"amount": 12500}, "createdAt": "x", "updatedAt": "y"}
    )
    assert schema_errors(
        "batch_read_body", {"properties": [], "inputs": [{"id": "1"}]}
    )  # propertiesWithHistory
    assert schema_errors("search_body", {"limit": 500})
    assert schema_errors(
        "rate_limited",
        {
            "status": "error",
            "message": "slow down",
            "errorType": "RATE_LIMIT",
            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
            "policyName": "HOURLY",
        },
    )
    request = FakeRequest(
        method="PATCH",
        path=f"/crm/v3/objects/deals/{DEAL}",
        query=(("hapikey", "x"),),
        headers={"content-type": "application/json"},
        body=b'{"pshub_project_code": "PRJ-1"}',
        url="http://127.0.0.1/",
    )
    problems = request_problems(Exchange("update_deal", request, FakeResponse(200)))
    # an undocumented query parameter, no bearer token, no "properties" and a stray property
    assert len(problems) == 4
