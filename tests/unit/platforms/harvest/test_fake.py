"""The Harvest fake, spoken to directly: what it must refuse and how it pages, as Harvest does."""

from __future__ import annotations

import httpx
import pytest

from pshub_local.platforms.harvest.fake import credentials_for_local
from tests.unit.platforms.harvest.support import USER_AGENT, Harness


def client(harness: Harness, **headers: str) -> httpx.Client:
    secret = credentials_for_local(harness.connection)
    sent = {
        "Authorization": f"Bearer {secret['access_token']}",
        "Harvest-Account-Id": secret["account_id"],
        "User-Agent": USER_AGENT,
        **headers,
    }
    return httpx.Client(base_url=harness.base_url, headers={k: v for k, v in sent.items() if v})


def test_the_three_required_headers_are_enforced(harness: Harness) -> None:
    with client(harness) as http:  # an empty User-Agent is none (httpx would send its own otherwise)
        assert http.get("/time_entries", headers={"User-Agent": ""}).status_code == 400
    with client(harness, Authorization="Bearer wrong") as http:
        refused = http.get("/time_entries")
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    with client(harness, **{"Harvest-Account-Id": "1"}) as http:
        assert http.get("/time_entries").status_code == 401
    with client(harness) as http:
        assert http.get("/time_entries").status_code == 200


def test_a_page_carries_harvests_pagination_fields_and_a_cursor_link(harness: Harness) -> None:
    made = [harness.fake.add_time_entry(spent_date=f"2026-11-0{day}") for day in (1, 2, 3)]
    with client(harness) as http:
        first = http.get("/time_entries", params={"per_page": 2}).json()
        assert [e["id"] for e in first["time_entries"]] == [made[2]["id"], made[1]["id"]]
        assert (first["page"], first["total_pages"], first["total_entries"]) == (1, 2, 3)
        assert (first["next_page"], first["previous_page"], first["per_page"]) == (2, None, 2)
        assert "cursor=" in first["links"]["next"] and first["links"]["last"].endswith(
            "page=2&per_page=2&ref=last"
        )
        last = http.get(first["links"]["next"]).json()
        assert [e["id"] for e in last["time_entries"]] == [made[0]["id"]]
        assert last["links"]["next"] is None and last["next_page"] is None and last["page"] == 2


def test_per_page_beyond_2000_and_bad_filters_are_422(harness: Harness) -> None:
    with client(harness) as http:
        assert http.get("/time_entries", params={"per_page": 2001}).status_code == 422
        assert http.get("/time_entries", params={"updated_since": "last week"}).status_code == 422
        assert http.get("/time_entries", params={"from": "2026-13-01"}).status_code == 422


def test_an_update_moves_updated_at_and_a_delete_removes_the_entry(harness: Harness) -> None:
    fake = harness.fake
    made = fake.add_time_entry(hours="1.5")
    assert made["hours"] == 1.5 and made["updated_at"] == "2026-11-30T10:00:00Z"
    fake.advance(90)
    changed = fake.update_time_entry(made["id"], approval_status="approved")
    assert changed["updated_at"] == "2026-11-30T10:01:30Z" and changed["is_closed"] is True
    assert changed["created_at"] == "2026-11-30T10:00:00Z"
    with client(harness) as http:
        assert http.get(f"/time_entries/{made['id']}").json()["approval_status"] == "approved"
        fake.delete_time_entry(made["id"])
        assert http.get(f"/time_entries/{made['id']}").status_code == 404
    assert [c.operation for c in fake.calls()] == ["retrieve_time_entry", "retrieve_time_entry"]


def test_the_rate_window_runs_on_the_fakes_clock(harness: Harness) -> None:
    fake = harness.fake
    fake.set_rate_window(3, 15.0)
    with client(harness) as http:
        assert [http.get("/time_entries").status_code for _ in range(4)] == [200, 200, 200, 429]
        fake.advance(14)
        throttled = http.get("/time_entries")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        fake.advance(1)
        assert http.get("/time_entries").status_code == 200


@pytest.mark.parametrize("operation", ["list_time_entries", "retrieve_time_entry"])
def test_faults_can_be_injected_per_operation(harness: Harness, operation: str) -> None:
    made = harness.fake.add_time_entry()
    harness.fake.inject(operation, 502, {"error": "bad_gateway"})
    path = "/time_entries" if operation == "list_time_entries" else f"/time_entries/{made['id']}"
    with client(harness) as http:
        assert http.get(path).status_code == 502
        assert http.get(path).status_code == 200
