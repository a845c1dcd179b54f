"""The Concur connector's HTTP behaviour against the fake: company token by refresh grant at the
geolocation, a 401 refreshed once, transient answers retried, Concur's v4 errors read."""

from __future__ import annotations

import pytest

from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import NotFound, PermanentConnectorError
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms.concur import outbound
from pshub_local.platforms.concur.fake import DEMO_APPROVED_REPORT, DEMO_OWNER, credentials_for_local
from tests.unit.platforms.concur.support import Harness


def test_the_report_is_read_with_its_expenses_allocations_and_project_item(harness: Harness) -> None:
    harness.fake.add_demo_reports()
    report = harness.connector().read_report(DEMO_OWNER, DEMO_APPROVED_REPORT)
    assert report["approvalStatusId"] == "A_APPR"
    [expense] = report["expenses"]
    assert str(expense["approvedAmount"]["value"]) == "412.80000000"  # Decimal, every digit kept
    assert expense["allocations"][0]["customData"][0]["listItem"]["shortCode"] == "PRJ-HARBLOGI-0001"
    assert expense["formFields"][0]["fieldName"] == "Project"


def test_one_token_is_fetched_and_shared_and_a_401_refreshes_it_once(harness: Harness) -> None:
    harness.fake.add_demo_reports()
    connector = harness.connector()
    connector.read_report(DEMO_OWNER, DEMO_APPROVED_REPORT)
    harness.fake.expire_tokens()
    connector.read_report(DEMO_OWNER, DEMO_APPROVED_REPORT)
    assert len(harness.fake.calls("token")) == 2
    [token_call] = [e for e in harness.fake.exchanges if e.operation == "token"][:1]
    assert token_call.request.form()["grant_type"] == "refresh_token"


def test_a_token_for_another_geolocation_is_refused_before_anything_is_sent(harness: Harness) -> None:
    harness.fake.add_demo_reports()
    harness.fake.geolocation = "https://emea.api.concursolutions.com"
    with pytest.raises(
        ConnectionConfigError, match=r"geolocation is https://emea\.api\.concursolutions\.com"
    ):
        harness.connector().read_report(DEMO_OWNER, DEMO_APPROVED_REPORT)
    assert harness.operations() == ["token"]


def test_a_transient_answer_is_retried(harness: Harness) -> None:
    harness.fake.add_demo_reports()
    harness.fake.inject("get_report", 503)
    report = harness.connector().read_report(DEMO_OWNER, DEMO_APPROVED_REPORT)
    assert report["reportId"] == DEMO_APPROVED_REPORT
    assert harness.operations()[:3] == ["token", "get_report", "get_report"]


def test_an_unknown_report_is_not_found_with_concurs_message(harness: Harness) -> None:
    with pytest.raises(NotFound) as raised:
        harness.connector().read_report(DEMO_OWNER, "NOSUCHREPORT00000000")
    assert raised.value.platform_message == "The report was not found"


def test_refused_credentials_are_a_permanent_error(harness: Harness) -> None:
    wrong = {**credentials_for_local(harness.connection), "refresh_token": "localdemo-revoked"}
    with pytest.raises(PermanentConnectorError, match="token endpoint refused") as raised:
        harness.connector(credentials=wrong).read_report(DEMO_OWNER, DEMO_APPROVED_REPORT)
    assert raised.value.platform_code == "invalid_grant"


def test_missing_credentials_and_base_url_are_configuration_errors(harness: Harness) -> None:
    with pytest.raises(ConnectionConfigError, match="'refresh_token'"):
        harness.connector(credentials={"client_id": "a", "client_secret": "b"})
    bare = Connection(id="concur-x", platform="concur", role="expense", options={}, implementation="http")
    with pytest.raises(ConnectionConfigError, match="base_url"):
        outbound.connect(bare, ConnectorContext(credentials={}, state=MemoryState()))
