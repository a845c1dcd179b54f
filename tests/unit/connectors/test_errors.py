"""A connector error reworded in pshub's words keeps its class, the platform's words and its facts."""

from __future__ import annotations

from pshub.connectors.errors import Conflict, NotFound, RateLimited

WHERE = {"platform": "salesforce", "connection_id": "salesforce-acme", "operation": "link_project"}


def test_a_reworded_throttle_still_says_how_long_to_wait() -> None:
    error = RateLimited(
        "HTTP 403", retry_after_s=3600, platform_code="REQUEST_LIMIT_EXCEEDED", http_status=403, **WHERE
    )
    reworded = error.reworded("opportunity 006A: daily API allowance spent")
    assert type(reworded) is RateLimited and isinstance(reworded, RateLimited)
    assert reworded.retry_after_s == 3600
    assert (reworded.message, reworded.platform_code, reworded.http_status) == (
        "opportunity 006A: daily API allowance spent",
        "REQUEST_LIMIT_EXCEEDED",
        403,
    )


def test_a_reworded_conflict_keeps_its_key_and_fields_and_a_not_found_stays_one() -> None:
    conflict = Conflict("HTTP 409", key="PRJ-1", fields=("project_code",), **WHERE).reworded(
        "linked elsewhere"
    )
    assert isinstance(conflict, Conflict) and (conflict.key, conflict.fields) == ("PRJ-1", ("project_code",))
    missing = NotFound("HTTP 404", platform_message="entity is deleted", **WHERE).reworded(
        "no opportunity 006B"
    )
    assert type(missing) is NotFound
    assert missing.to_dict()["platform_message"] == "entity is deleted"
    assert str(missing).startswith("salesforce-acme (salesforce) link_project: no opportunity 006B")
