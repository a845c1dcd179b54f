"""Throttling, injected failures, outages and concurrency: the ways real platforms misbehave."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pshub.connectors.errors import Conflict, RateLimited, TransientConnectorError
from pshub.connectors.sandbox.erp import SandboxErp
from pshub.errors import TransientError
from tests.unit.connectors.builders import FakeClock, client, connection, project


def throttled_erp(clock: FakeClock) -> SandboxErp:
    return SandboxErp(connection("netsuite", "erp", rate_limit_per_s="2", rate_limit_burst="3"), clock=clock)


def test_exceeding_the_rate_limit_raises_rate_limited_with_retry_after() -> None:
    # Given an ERP allowing a burst of 3 and 2 calls a second
    clock = FakeClock()
    erp = throttled_erp(clock)
    for _ in range(3):
        erp.get_project("PRJ-HARB-0001")
    # When a fourth call arrives in the same instant
    with pytest.raises(RateLimited) as caught:
        erp.get_project("PRJ-HARB-0001")
    # Then it is throttled, retryable, and says when to come back
    error = caught.value
    assert isinstance(error, TransientError)
    assert error.retry_after_s == pytest.approx(0.5)
    assert error.http_status == 429 and error.platform_code == "CONCURRENCY_LIMIT_EXCEEDED"
    # and after waiting that long the call goes through
    clock.now += error.retry_after_s
    assert erp.get_project("PRJ-HARB-0001") is None
    assert [c.outcome for c in erp.calls()][-2:] == ["RateLimited CONCURRENCY_LIMIT_EXCEEDED", "not found"]


def test_an_injected_failure_is_consumed_after_n_calls() -> None:
    # Given two injected timeouts on create_project
    erp = SandboxErp(connection("netsuite", "erp"))
    erp.upsert_client(client())
    erp.inject_failure("create_project", erp.timeout("create_project"), times=2)
    # When the step is retried three times
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(erp.create_project(project()))
        except TransientConnectorError as error:
            outcomes.append(type(error).__name__)
    # Then the first two fail, the third creates the project, once
    assert outcomes[:2] == ["TransientConnectorError", "TransientConnectorError"]
    assert outcomes[2].isdigit()
    assert len(erp.snapshot()["records"]["projects"]) == 1
    # and other operations were never affected
    assert erp.calls("upsert_client")[0].outcome.startswith("created")


def test_an_outage_fails_every_call_until_it_ends_and_changes_nothing() -> None:
    erp = SandboxErp(connection("netsuite", "erp"))
    erp.set_outage(True)
    with pytest.raises(TransientConnectorError) as caught:
        erp.upsert_client(client())
    assert caught.value.http_status == 503
    assert erp.snapshot()["records"]["customers"] == []
    erp.set_outage(False)
    assert erp.upsert_client(client()).created


def test_errors_say_where_they_happened_and_serialise() -> None:
    erp = SandboxErp(connection("netsuite", "erp", "netsuite-acme"))
    erp.set_outage(True)
    with pytest.raises(TransientConnectorError) as caught:
        erp.get_project("PRJ-HARB-0001")
    record = caught.value.to_dict()
    assert record["platform"] == "netsuite" and record["connection_id"] == "netsuite-acme"
    assert record["operation"] == "get_project" and record["error"] == "TransientConnectorError"
    json.dumps(record)
    assert str(caught.value).startswith("netsuite-acme (netsuite) get_project: ")


def test_threads_creating_the_same_project_concurrently_make_one_record() -> None:
    # Given a Map state's iterations racing to create the same project code
    erp = SandboxErp(connection("netsuite", "erp"))
    erp.upsert_client(client())
    start = threading.Barrier(16)
    ids: list[str] = []

    def create() -> None:
        start.wait()
        ids.append(erp.create_project(project()))

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every caller got the same id and the ERP holds one project
    assert len(set(ids)) == 1 and len(ids) == 16
    assert len(erp.snapshot()["records"]["projects"]) == 1
    assert sum(c.outcome.startswith("created") for c in erp.calls("create_project")) == 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["PRJ-AA-0001", "PRJ-BB-0002"]), st.sampled_from(["A", "B"])), max_size=12
    )
)
def test_any_sequence_of_creates_leaves_one_project_per_code(calls: list[tuple[str, str]]) -> None:
    erp = SandboxErp(connection("netsuite", "erp"))
    erp.upsert_client(client())
    first_name: dict[str, str] = {}
    for code, name in calls:
        try:
            erp.create_project(project(code, name=name))
            first_name.setdefault(code, name)
            assert first_name[code] == name  # only the first content is ever accepted
        except Conflict as error:
            assert error.key == code and first_name[code] != name
    projects = erp.snapshot()["records"]["projects"]
    assert {p["code"]: p["name"] for p in projects} == first_name
