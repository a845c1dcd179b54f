"""The HubSpot fake on its own, over raw HTTP: refusals the connector never provokes (it
checks first), as CRM v3 words them, and the behaviours the connector relies on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from pshub.connections import Connection
from pshub_local.platforms import seed
from pshub_local.platforms.hubspot.fake import HubSpotFake, credentials_for_local

BASE = Connection(id="hubspot-acme", platform="hubspot", role="crm", options={"portal_id": "24681357"})
DEAL = seed.HUBSPOT_DEAL_ID


@pytest.fixture
def portal() -> Iterator[tuple[HubSpotFake, httpx.Client]]:
    credentials = credentials_for_local(BASE)
    fake = HubSpotFake(BASE, credentials)
    fake.start()
    client = httpx.Client(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {credentials['access_token']}"}
    )
    try:
        yield fake, client
    finally:
        client.close()
        threading.Thread(target=fake.stop, daemon=True).start()


def test_credentials_for_local_are_marked_local_only() -> None:
    assert credentials_for_local(BASE)["access_token"].startswith("localdemo-")
    assert all(v.startswith("localdemo-") for v in credentials_for_local(BASE, oauth=True).values())


def test_a_deal_answers_its_properties_and_associations(portal: tuple[HubSpotFake, httpx.Client]) -> None:
    _, client = portal
    answer = client.get(
        f"/crm/v3/objects/deals/{DEAL}",
        params={"properties": "dealname,nope", "associations": "companies,quotes"},
    )
    deal = answer.json()
    assert answer.status_code == 200 and deal["id"] == DEAL and "nope" not in deal["properties"]
    assert set(deal["properties"]) == {"dealname", "createdate", "hs_lastmodifieddate", "hs_object_id"}
    assert {r["type"] for r in deal["associations"]["companies"]["results"]} == {
        "deal_to_company",
        "deal_to_company_unlabeled",
    }
    assert deal["associations"]["quotes"]["results"] == [
        {"id": seed.HUBSPOT_QUOTE_ID, "type": "deal_to_quote"}
    ]
    quote = client.get(
        f"/crm/v3/objects/quotes/{seed.HUBSPOT_QUOTE_ID}", params={"associations": "line_items"}
    ).json()
    assert len(quote["associations"]["line items"]["results"]) == 4
    assert answer.headers["X-HubSpot-RateLimit-Daily"] == "250000"


def test_unknown_and_non_numeric_ids_are_object_not_found(portal: tuple[HubSpotFake, httpx.Client]) -> None:
    _, client = portal
    for deal_id in ("1", "abc"):
        answer = client.get(f"/crm/v3/objects/deals/{deal_id}")
        assert answer.status_code == 404 and answer.json()["category"] == "OBJECT_NOT_FOUND"
        assert answer.json()["context"] == {"id": [deal_id]}


def test_update_refusals_are_validation_errors_naming_the_property(
    portal: tuple[HubSpotFake, httpx.Client],
) -> None:
    _, client = portal
    path = f"/crm/v3/objects/deals/{DEAL}"
    for properties, code in (
        ({"nope": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_lastmodifieddate": "0"}, "READ_ONLY_VALUE"),
        ({"pshub_project_ids": "x" * 65_537}, "INVALID_LENGTH"),
    ):
        answer = client.patch(path, json={"properties": properties})
        assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"
        assert code in answer.json()["message"]
    assert client.patch(path, json={"pshub_project_code": "x"}).status_code == 400  # no "properties"
    done = client.patch(path, json={"properties": {"pshub_project_code": "PRJ-1"}})
    assert done.status_code == 200 and done.json()["properties"]["pshub_project_code"] == "PRJ-1"


def test_batch_and_search_limits(portal: tuple[HubSpotFake, httpx.Client]) -> None:
    _, client = portal
    too_many = {"properties": [], "propertiesWithHistory": [], "inputs": [{"id": str(n)} for n in range(101)]}
    assert client.post("/crm/v3/objects/line_items/batch/read", json=too_many).status_code == 400
    assert client.post("/crm/v3/objects/deals/search", json={"limit": 201}).status_code == 400
    assert (
        client.post("/crm/v3/objects/deals/search", json={"limit": 100, "after": "9950"}).status_code == 400
    )
    page = client.post(
        "/crm/v3/objects/deals/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]}
            ]
        },
    ).json()
    assert page["total"] == 1 and page["results"][0]["id"] == DEAL and "paging" not in page


def test_a_missing_scope_and_a_spent_daily_allowance(portal: tuple[HubSpotFake, httpx.Client]) -> None:
    fake, client = portal
    fake.scopes = frozenset({"crm.objects.companies.read"})
    denied = client.get(f"/crm/v3/objects/deals/{DEAL}")
    assert denied.status_code == 403 and denied.json()["category"] == "MISSING_SCOPES"
    assert denied.json()["errors"][0]["context"] == {"requiredGranularScopes": ["crm.objects.deals.read"]}
    fake.set_daily_usage(fake.daily_limit)
    spent = client.get(f"/crm/v3/objects/companies/{seed.HUBSPOT_COMPANY_ID}")
    assert spent.status_code == 429 and spent.json()["policyName"] == "DAILY"
    assert spent.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_oauth_tokens_expire_after_expires_in() -> None:
    now = [1_800_000_000.0]
    credentials = credentials_for_local(BASE, oauth=True)
    fake = HubSpotFake(BASE, credentials, clock=lambda: now[0])
    fake.start()
    try:
        issued = httpx.post(
            f"{fake.base_url}/oauth/v1/token", data={"grant_type": "refresh_token", **credentials}
        )
        assert (
            issued.json()["expires_in"] == 1800
            and issued.json()["refresh_token"] == credentials["refresh_token"]
        )
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        assert httpx.get(f"{fake.base_url}/crm/v3/objects/deals/{DEAL}", headers=bearer).status_code == 200
        now[0] += 1800
        expired = httpx.get(f"{fake.base_url}/crm/v3/objects/deals/{DEAL}", headers=bearer)
        assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"
        bad = httpx.post(
            f"{fake.base_url}/oauth/v1/token",
            data={**credentials, "grant_type": "refresh_token", "refresh_token": "x"},
        )
        assert bad.status_code == 400 and bad.json()["status"] == "BAD_REFRESH_TOKEN"
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()
