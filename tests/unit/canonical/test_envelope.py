"""The envelope's time: an aware instant or nothing, refused at the model boundary when naive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from pshub.canonical.envelope import CanonicalEvent, ClientUpsertedV1, SourceVersion, make_event


def event(occurred_at: datetime) -> CanonicalEvent:
    return make_event(
        "ClientUpserted", ClientUpsertedV1(client_id="31415926535", change="updated", name="Acme"),
        connection="hubspot-acme", source_platform="hubspot", source_native_id="31415926535",
        source_event_id="24681357:3920104:2063561840:1795171656902", occurred_at=occurred_at,
        correlation_id="corr-1", legal_entity=None,
        source_version=SourceVersion(scheme="hubspot.occurredAt", major=1795171656902),
    )  # fmt: skip


def test_a_naive_time_is_refused_by_make_event_saying_why() -> None:
    with pytest.raises(ValueError, match="occurred_at has no UTC offset"):
        event(datetime(2026, 11, 20, 10, 47, 36))


def test_an_aware_time_in_any_zone_is_kept_as_that_instant() -> None:
    ahead = timezone(timedelta(hours=1))
    made = event(datetime(2026, 11, 20, 11, 47, 36, tzinfo=ahead))
    assert made.occurred_at == datetime(2026, 11, 20, 10, 47, 36, tzinfo=UTC)


def _document(occurred_at: str) -> dict[str, Any]:
    document = event(datetime(2026, 11, 20, 10, 47, 36, tzinfo=UTC)).model_dump(mode="json")
    return {**document, "occurred_at": occurred_at}


@pytest.mark.parametrize("stamp", ["2026-11-20T10:47:36", "2026-11-20T10:47:36.123", "2026-11-20"])
def test_a_naive_time_is_refused_at_the_model_boundary_without_echoing_it(stamp: str) -> None:
    # Given an event document (off the bus, from the archive) whose time has no offset
    with pytest.raises(ValidationError) as refused:
        CanonicalEvent.model_validate(_document(stamp))
    # Then it is refused as naive, and the value is not in the message
    assert refused.value.errors()[0]["loc"] == ("occurred_at",)
    assert stamp not in str(refused.value)


@pytest.mark.parametrize(
    "stamp", ["2026-11-20T10:47:36Z", "2026-11-20T10:47:36.000+00:00", "2026-11-20T05:47:36-05:00"]
)
def test_what_the_bus_carries_reads_back_as_the_same_instant(stamp: str) -> None:
    read = CanonicalEvent.model_validate(_document(stamp))
    assert read.occurred_at == datetime(2026, 11, 20, 10, 47, 36, tzinfo=UTC)
    assert CanonicalEvent.model_validate_json(read.model_dump_json()) == read
