"""The Kantata fake answers as Kantata OX documents it, and keeps pshub's PSA rules.

Sources: the Kantata OX specification (https://developer.kantata.com/kantata/specification:
side-loaded answers, ``only`` never 404ing, archived projects hidden by default,
``per_page`` up to 200, the errors envelope) and api-evangelist/mavenlink
errors/mavenlink-problem-types.yml (the live 401 body, the validation example)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pshub_local.platforms.kantata.fake import KantataFake, credentials_for_local
from tests.unit.platforms.kantata.support import Harness, kantata_connection


def call(
    harness: Harness, method: str, path: str, body: Any = None, *, token: str | None = None, **params: str
) -> httpx.Response:
    token = token or credentials_for_local(harness.connection)["access_token"]
    return httpx.request(
        method,
        f"{harness.base_url}{path}",
        json=body,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )


def workspace(harness: Harness, title: str = "Acme Inc - Website Redesign", **fields: Any) -> str:
    answer = call(harness, "POST", "/workspaces.json", {"workspace": {"title": title, "price": 0, **fields}})
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["key"] == "workspaces"
    return str(result["id"])


def test_local_credentials_are_made_up() -> None:
    credentials = credentials_for_local(kantata_connection())
    assert set(credentials) == {"access_token"} and credentials["access_token"].startswith("localdemo-")


def test_a_bad_token_gets_kantatas_oauth_refusal(harness: Harness) -> None:
    answer = call(harness, "GET", "/workspaces.json", token="expired")
    assert answer.status_code == 401
    assert answer.json() == {"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]}


def test_answers_are_side_loaded_with_and_without_the_json_suffix(harness: Harness) -> None:
    workspace_id = workspace(harness)
    for path in ("/workspaces.json", "/workspaces"):
        document = call(harness, "GET", path).json()
        assert document["results"] == [{"key": "workspaces", "id": workspace_id}]
        assert document["workspaces"][workspace_id]["title"] == "Acme Inc - Website Redesign"
        assert document["meta"] == {"count": 1, "page_count": 1, "page_number": 1, "page_size": 20}


def test_validation_errors_name_the_field(harness: Harness) -> None:
    answer = call(harness, "POST", "/workspaces.json", {"workspace": {"title": " ", "price": 0}})
    assert answer.status_code == 422
    assert answer.json() == {
        "errors": [{"type": "validation", "message": "Please give your project a title", "field": "title"}]
    }
    role = call(harness, "POST", "/workspaces.json", {"workspace": {"title": "x", "creator_role": "owner"}})
    assert role.json()["errors"][0]["field"] == "creator_role"


def test_workspaces_have_no_unique_key(harness: Harness) -> None:
    # why the connector reads before it writes: the same POST twice is two projects
    assert workspace(harness) != workspace(harness)
    assert call(harness, "GET", "/workspaces.json").json()["count"] == 2


def test_archived_workspaces_are_hidden_unless_asked_for(harness: Harness) -> None:
    workspace_id = workspace(harness)
    call(harness, "PUT", f"/workspaces/{workspace_id}.json", {"workspace": {"archived": True}})
    assert call(harness, "GET", "/workspaces.json").json()["results"] == []
    assert call(harness, "GET", "/workspaces.json", include_archived="true").json()["count"] == 1
    assert call(harness, "GET", "/workspaces.json", archived="only").json()["count"] == 1
    shown = call(harness, "GET", f"/workspaces/{workspace_id}.json")
    assert shown.status_code == 404 and shown.json()["errors"][0]["type"] == "system"
    assert (
        call(harness, "GET", f"/workspaces/{workspace_id}.json", include_archived="true").status_code == 200
    )


def test_only_never_404s_and_per_page_stops_at_200(harness: Harness) -> None:
    assert call(harness, "GET", "/workspaces.json", only="1,2").json()["results"] == []
    assert call(harness, "GET", "/workspaces.json", per_page="500").json()["meta"]["page_size"] == 200


def test_matching_is_a_starts_with_filter_on_each_word_of_the_title(harness: Harness) -> None:
    workspace_id = workspace(harness, "PRJ-HARB-0001 - Data Platform Assessment")
    workspace(harness, "PRJ-HARB-00011 - Other")
    found = call(harness, "GET", "/workspaces.json", matching="data platf").json()
    assert [r["id"] for r in found["results"]] == [workspace_id]
    assert call(harness, "GET", "/workspaces.json", matching="PRJ-HARB-0001").json()["count"] == 2


def test_one_external_reference_per_subject_and_service_name(harness: Harness) -> None:
    workspace_id = workspace(harness)
    reference = {
        "subject_type": "Workspace",
        "subject_id": int(workspace_id),
        "service_name": "pshub",
        "service_model": "project",
        "service_model_ref": "PRJ-HARB-0001",
    }
    for status in ("active", "archived: closed"):
        answer = call(
            harness,
            "POST",
            "/external_references/create_or_update.json",
            {"external_reference": {**reference, "external_status": status}},
        )
        assert answer.status_code == 200
    assert len(answer.json()["external_references"]) == 1
    listed = call(
        harness,
        "GET",
        "/workspaces.json",
        external_reference_service_name="pshub",
        external_reference_service_model_refs="PRJ-HARB-0001,PRJ-OTHR-0002",
        include="external_references",
    ).json()
    [ref] = listed["external_references"].values()
    assert ref["external_status"] == "archived: closed" and listed["count"] == 1
    bad = call(harness, "POST", "/external_references/create_or_update.json", {"external_reference": {}})
    assert bad.status_code == 422


def test_the_accounts_templates_and_code_format_are_enforced(harness: Harness) -> None:
    templates = call(harness, "GET", "/project_templates.json").json()
    assert sorted(t["title"] for t in templates["project_templates"].values()) == ["TPL-CONSULT", "TPL-MSP"]
    unknown = call(
        harness,
        "POST",
        "/workspaces.json",
        {"workspace": {"title": "x", "price": 0, "project_tracker_template_id": 1}},
    )
    assert (
        unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "project_tracker_template_id"
    )
    bad_code = call(
        harness,
        "POST",
        "/workspaces.json",
        {
            "workspace": {
                "title": "x",
                "price": 0,
                "external_reference": {
                    "service_name": "pshub",
                    "service_model": "project",
                    "service_model_ref": "x-1",
                },
            }
        },
    )
    assert bad_code.status_code == 422
    assert bad_code.json()["errors"][0]["field"] == "external_reference.service_model_ref"


def test_rate_card_roles_once_per_version_in_subunits(harness: Harness) -> None:
    workspace_id = workspace(harness, currency="USD", price=100)
    shown = call(harness, "GET", "/workspaces.json", only=workspace_id).json()["workspaces"][workspace_id]
    card = call(
        harness,
        "GET",
        "/rate_cards.json",
        only=str(shown["rate_card_id"]),
        include="effective_rate_card_version",
    ).json()
    [rate_card] = card["rate_cards"].values()
    assert rate_card["currency"] == "USD"
    version = int(rate_card["effective_rate_card_version_id"])
    [role_id] = [
        r["id"]
        for r in call(harness, "GET", "/roles.json").json()["roles"].values()
        if r["name"] == "Partner"
    ]
    body = {"rate_card_role": {"rate_card_version_id": version, "role_id": int(role_id), "rate": 42500}}
    assert call(harness, "POST", "/rate_card_roles.json", body).status_code == 200
    again = call(harness, "POST", "/rate_card_roles.json", body)
    assert (
        again.status_code == 422 and again.json()["errors"][0]["message"] == "role_id has already been taken"
    )
    fractional = {"rate_card_role": {**body["rate_card_role"], "rate": 425.5}}
    assert call(harness, "POST", "/rate_card_roles.json", fractional).status_code == 422
    listed = call(harness, "GET", "/rate_card_roles.json", rate_card_version_id=str(version)).json()
    assert "role_id" not in next(iter(listed["rate_card_roles"].values()))  # only with include=role
    # an archived project's rate card takes no change (pshub's rule)
    call(harness, "PUT", f"/workspaces/{workspace_id}.json", {"workspace": {"archived": True}})
    [role_rate_id] = listed["rate_card_roles"]
    assert call(harness, "DELETE", f"/rate_card_roles/{role_rate_id}.json").status_code == 422


def test_a_plain_429_without_retry_after() -> None:
    connection = kantata_connection()
    fake = KantataFake(connection, rate_per_s=0.001, burst=1)
    with fake:
        harness = Harness(fake, connection, sleeps=None)  # type: ignore[arg-type]
        assert call(harness, "GET", "/roles.json").status_code == 200
        throttled = call(harness, "GET", "/roles.json")
    assert throttled.status_code == 429 and "retry-after" not in throttled.headers


def test_the_printout_holds_no_money(harness: Harness) -> None:
    workspace(harness, currency="USD", price=987654)
    printout = json.dumps(harness.fake.snapshot())
    assert "987654" not in printout and "Acme Inc - Website Redesign" in printout


@pytest.mark.parametrize("path", ["/workspaces.json", "/rate_card_roles.json"])
def test_a_malformed_body_is_a_400_in_kantatas_envelope(harness: Harness, path: str) -> None:
    answer = httpx.post(
        f"{harness.base_url}{path}",
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {credentials_for_local(harness.connection)['access_token']}",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 400 and answer.json()["errors"][0]["type"] == "system"
