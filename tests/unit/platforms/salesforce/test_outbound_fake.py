"""The Salesforce fake on its own, over raw HTTP: refusals the connector never provokes (it
checks first), as the REST API words them, and the SOQL behaviours the connector relies on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from pshub.connections import Connection
from pshub_local.platforms import seed
from pshub_local.platforms.salesforce.fake import SalesforceFake

APP = {"client_id": "localdemo-3MVG9client", "client_secret": "localdemo-secret"}
OPPORTUNITY = seed.SALESFORCE_OPPORTUNITY_ID
API = "/services/data/v66.0"


@pytest.fixture
def org() -> Iterator[tuple[SalesforceFake, httpx.Client]]:
    fake = SalesforceFake(Connection(id="salesforce-acme", platform="salesforce", role="crm"), APP)
    fake.start()
    token = httpx.post(
        f"{fake.base_url}/services/oauth2/token", data={"grant_type": "client_credentials", **APP}
    ).json()["access_token"]
    client = httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {token}"})
    try:
        yield fake, client
    finally:
        client.close()
        threading.Thread(target=fake.stop, daemon=True).start()


def soql(client: httpx.Client, query: str) -> httpx.Response:
    return client.get(f"{API}/query", params={"q": query})


def test_the_token_answer_names_the_org_and_the_user_but_no_lifetime(
    org: tuple[SalesforceFake, httpx.Client],
) -> None:
    fake, _ = org
    answer = httpx.post(
        f"{fake.base_url}/services/oauth2/token", data={"grant_type": "client_credentials", **APP}
    ).json()
    assert answer["instance_url"] == fake.base_url and answer["token_type"] == "Bearer"
    assert answer["id"].startswith("https://login.salesforce.com/id/00D5e000000ABCDEA4/005")
    assert "expires_in" not in answer and "refresh_token" not in answer
    refused = httpx.post(f"{fake.base_url}/services/oauth2/token", data={"grant_type": "password"})
    assert refused.status_code == 400 and refused.json()["error"] == "unsupported_grant_type"


def test_no_token_is_a_401_invalid_session_id(org: tuple[SalesforceFake, httpx.Client]) -> None:
    fake, _ = org
    answer = httpx.get(f"{fake.base_url}{API}/sobjects/Opportunity/{OPPORTUNITY}")
    assert answer.status_code == 401
    assert answer.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_a_15_character_id_in_soql_finds_the_record_and_answers_carry_limit_info(
    org: tuple[SalesforceFake, httpx.Client],
) -> None:
    _, client = org
    answer = soql(
        client, f"SELECT Id, Account.Name, Contract.Status FROM Opportunity WHERE Id = '{OPPORTUNITY[:15]}'"
    )
    assert answer.status_code == 200 and answer.headers["Sforce-Limit-Info"].startswith("api-usage=")
    [record] = answer.json()["records"]
    assert record["Id"] == OPPORTUNITY and record["Account"]["Name"] == "Acme Consulting Ltd"
    assert record["Account"]["attributes"]["type"] == "Account" and record["Contract"]["Status"] == "Draft"


def test_a_child_subquery_is_a_query_result_or_null(org: tuple[SalesforceFake, httpx.Client]) -> None:
    fake, client = org
    query = "SELECT Id, (SELECT SBQQ__ProductName__c FROM SBQQ__LineItems__r ORDER BY SBQQ__Number__c DESC) FROM SBQQ__Quote__c"
    [quote] = soql(client, query).json()["records"]
    lines = quote["SBQQ__LineItems__r"]
    assert lines["totalSize"] == 4 and lines["records"][0]["SBQQ__ProductName__c"] == "Consultant"
    fake.add_record("SBQQ__Quote__c", {"Name": "Q-00043"})
    empty = [r for r in soql(client, query).json()["records"] if r["Id"] != seed.SALESFORCE_RATE_CARD_ID]
    assert empty[0]["SBQQ__LineItems__r"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT Nope__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Nothing__c", "INVALID_TYPE"),
        ("DELETE FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT FROM Opportunity", "MALFORMED_QUERY"),
    ],
)
def test_soql_refusals(org: tuple[SalesforceFake, httpx.Client], query: str, code: str) -> None:
    _, client = org
    answer = soql(client, query)
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == code


def test_update_refusals_name_the_fields(org: tuple[SalesforceFake, httpx.Client]) -> None:
    _, client = org
    path = f"{API}/sobjects/Opportunity/{OPPORTUNITY}"
    too_long = client.patch(path, json={"pshub_Project_Code__c": "P" * 81})
    assert too_long.status_code == 400
    [error] = too_long.json()
    assert error["errorCode"] == "STRING_TOO_LONG" and error["fields"] == ["pshub_Project_Code__c"]
    assert "(max length=80)" in error["message"]
    read_only = client.patch(path, json={"SystemModstamp": "2027-01-01T00:00:00.000+0000"})
    assert read_only.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert (
        client.patch(path, content=b"[1", headers={"Content-Type": "application/json"}).json()[0]["errorCode"]
        == "JSON_PARSER_ERROR"
    )
    assert client.patch(path, json={"pshub_Project_Code__c": "PRJ-1"}).status_code == 204
    locked = client.patch(path, json={"pshub_Project_Code__c": "PRJ-2"})
    assert locked.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    missing = client.patch(f"{API}/sobjects/Opportunity/0065e00000ZzZzZAAV", json={"Name": "x"})
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_an_unknown_api_version_is_not_found(org: tuple[SalesforceFake, httpx.Client]) -> None:
    _, client = org
    answer = client.get(f"/services/data/v99.0/sobjects/Opportunity/{OPPORTUNITY}")
    assert answer.status_code == 404 and answer.json()[0]["errorCode"] == "NOT_FOUND"
