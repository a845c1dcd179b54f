"""Ordering property: any permutation and duplication of a record's deliveries ends in the
state its platform's own order defines, for every version scheme pshub reads, with deletes.

The expected state is computed here by an independent oracle: the history's events sorted
by the platform's version, folded in order (an update sets its attributes and revives, a
delete removes). Entity sync sees the same events shuffled and repeated, on moto DynamoDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pshub.canonical.envelope import (
    CanonicalEvent,
    EntityChangedV1,
    EntityDeletedV1,
    SourceVersion,
    make_event,
)
from pshub.sync.entity_sync import EXISTS, EntitySync
from tests.integration.aws import Stores, aws_stores

BASE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scheme:
    """How one platform versions its records' changes (what the adapter puts in SourceVersion)."""

    name: str
    ties: bool  # whether two changes can share the platform's major version
    minor: bool  # whether the scheme has a second component
    none: bool = False  # no version of its own: event time, then the event id


SCHEMES = [
    Scheme("salesforce.SystemModstamp", ties=False, minor=False),
    Scheme("salesforce.cdc.commitTimestamp+sequence", ties=True, minor=True),
    Scheme("hubspot.occurredAt", ties=True, minor=False),
    Scheme("stripe.created+state", ties=True, minor=True),
    Scheme("dataverse.versionnumber", ties=False, minor=False),
    Scheme("event_time", ties=True, minor=False, none=True),
]


@dataclass(frozen=True)
class Change:
    op: str  # "upsert" | "delete"
    attributes: dict[str, Any]
    major: int
    minor: int
    event_id: str


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with aws_stores() as value:
        yield value


# Contract terms, owned by the CRM before activation (no "status" here: activation is tested apart).
_VALUES = {
    "payment_terms_days": st.sampled_from([14, 30, 45, 60]),
    "end_date": st.sampled_from(["2027-03-31", "2027-06-30", "2027-12-31"]),
    "legal_entity": st.sampled_from(["acme-uk", "acme-us", "acme-de"]),
}


@st.composite
def histories(draw: st.DrawFn) -> tuple[Scheme, list[Change], list[int]]:
    scheme = draw(st.sampled_from(SCHEMES))
    steps = draw(st.integers(min_value=1, max_value=7))
    major, minor = 1_795_000_000_000, 0
    changes: list[Change] = []
    for step in range(steps):
        jump = draw(st.sampled_from([0, 1, 1000] if scheme.ties else [1, 1000]))
        if jump == 0 and not scheme.minor and scheme.none:
            jump = 0  # same event time: the event id breaks the tie
        major += jump
        minor = minor + 1 if jump == 0 and scheme.minor else 0
        op = draw(st.sampled_from(["upsert", "upsert", "upsert", "delete"]))
        names = draw(st.sets(st.sampled_from(sorted(_VALUES)), max_size=3)) if op == "upsert" else set()
        attributes = {name: draw(_VALUES[name]) for name in sorted(names)}
        changes.append(Change(op, attributes, major, minor, f"evt_{step:02d}_{draw(st.integers(0, 99)):02d}"))
    # Deliveries: every change at least once, some twice or three times, in any order.
    deliveries = [
        i for i, _ in enumerate(changes) for _ in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    order = draw(st.permutations(deliveries))
    return scheme, changes, list(order)


def _event(scheme: Scheme, native_id: str, change: Change) -> CanonicalEvent:
    occurred = BASE + timedelta(milliseconds=change.major - 1_795_000_000_000)
    version = None
    if not scheme.none:
        version = SourceVersion(
            scheme=scheme.name, major=change.major, minor=change.minor, tiebreak=change.event_id
        )
    if change.op == "delete":
        event_type, payload = "ContractDeleted", EntityDeletedV1(native_id=native_id)
    else:
        event_type = "ContractChanged"
        payload = EntityChangedV1(native_id=native_id, change="updated", attributes=change.attributes)  # type: ignore[assignment]
    return make_event(
        event_type, payload, connection="salesforce-acme", source_platform="salesforce",
        source_native_id=native_id, source_event_id=change.event_id, occurred_at=occurred,
        correlation_id="corr", legal_entity=None, source_version=version,
    )  # fmt: skip


def _oracle(changes: list[Change]) -> tuple[bool, dict[str, Any]]:
    """The platform's own order: by (major, minor, event id); fold it."""
    exists = False
    values: dict[str, Any] = {}
    for change in sorted(changes, key=lambda c: (c.major, c.minor, c.event_id)):
        if change.op == "delete":
            exists = False
        else:
            exists = True
            values.update(change.attributes)
    return exists, values


def _unique(changes: list[Change]) -> bool:
    keys = [(c.major, c.minor, c.event_id) for c in changes]
    return len(set(keys)) == len(keys)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_any_permutation_and_duplication_ends_in_the_platforms_order(
    stores: Stores, history: tuple[Scheme, list[Change], list[int]]
) -> None:
    scheme, changes, order = history
    if not _unique(changes):
        return  # two distinct changes with one version: the platform never sends that
    native_id = f"800{uuid.uuid4().hex[:12]}"
    sync: EntitySync = stores.entity_sync()
    published: list[CanonicalEvent] = []
    canonical_id = None
    for index in order:
        event = _event(scheme, native_id, changes[index])
        decision = sync.apply(event, "crm")
        canonical_id = decision.canonical_id
        assert not decision.applied_elsewhere  # every lease was settled: nothing is in flight
        if decision.publish is not None:
            published.append(decision.publish)
            sync.complete(event, decision)
    assert canonical_id is not None
    state = stores.identity.load_state("Contract", canonical_id)
    exists, values = _oracle(changes)
    assert (state.values.get(EXISTS) is True) == exists
    for attribute, value in values.items():
        assert state.values.get(attribute) == value, attribute
    # Each change is published at most once, however often it was delivered.
    ids = [event.event_id for event in published]
    assert len(ids) == len(set(ids))
    # What consumers saw last for each attribute, by version, is the final value; except after
    # a re-create announced an attribute at the re-create's version and a change to it older
    # than that arrived later (a known gap: test_late_update_after_a_recreate_announced_it).
    if exists:
        for attribute, value in values.items():
            carrying = [e for e in published if attribute in e.payload.get("attributes", {})]
            if carrying and not _announced_then_late(carrying):
                last = max(carrying, key=_key)
                assert last.payload["attributes"][attribute] == value


def _announced_then_late(carrying: list[CanonicalEvent]) -> bool:
    """Whether, in publication order, an event carrying the attribute came after one of a higher
    version that carried it (a re-create's announcement of the record as it stood)."""
    return any(
        _key(later) < _key(earlier) for i, earlier in enumerate(carrying) for later in carrying[i + 1 :]
    )


def _key(event: CanonicalEvent) -> tuple[int, int, str]:
    if event.source_version is not None:
        return event.source_version.key()
    return (int(event.occurred_at.timestamp() * 1000), 0, event.source_event_id)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known gap: a re-create announces the record as it stands at the re-create's version, so a "
        "change to an attribute that is older than the re-create but newer than the attribute's value "
        "is applied and published at its own, lower version; a consumer ordering by version keeps the "
        "announcement's older value. Needs per-attribute versions on published entity events."
    ),
)
def test_late_update_after_a_recreate_announced_it(stores: Stores) -> None:
    # Found by the property above: v1 end 03-31, v2 end 06-30, v3 delete, v4 re-create (no fields),
    # arriving v1, v3, v4, v2.
    scheme = SCHEMES[0]
    native_id = f"800{uuid.uuid4().hex[:12]}"
    v1 = Change("upsert", {"end_date": "2027-03-31"}, 1_795_000_000_001, 0, "evt_00_00")
    v2 = Change("upsert", {"end_date": "2027-06-30"}, 1_795_000_000_002, 0, "evt_01_00")
    v3 = Change("delete", {}, 1_795_000_000_003, 0, "evt_02_00")
    v4 = Change("upsert", {}, 1_795_000_000_004, 0, "evt_03_00")
    sync = stores.entity_sync()
    published = []
    for change in (v1, v3, v4, v2):
        event = _event(scheme, native_id, change)
        decision = sync.apply(event, "crm")
        if decision.publish is not None:
            published.append(decision.publish)
            sync.complete(event, decision)
    carrying = [e for e in published if "end_date" in e.payload.get("attributes", {})]
    assert max(carrying, key=_key).payload["attributes"]["end_date"] == "2027-06-30"


def test_late_update_to_a_deleted_record_does_not_resurrect_it(stores: Stores) -> None:
    scheme = SCHEMES[0]
    native_id = f"800{uuid.uuid4().hex[:12]}"
    create = Change("upsert", {"payment_terms_days": 30}, 1_795_000_000_000, 0, "e1")
    update = Change("upsert", {"payment_terms_days": 45}, 1_795_000_001_000, 0, "e2")
    delete = Change("delete", {}, 1_795_000_002_000, 0, "e3")
    sync = stores.entity_sync()
    published = []
    for change in (create, delete, update):  # the update arrives after the delete it preceded
        event = _event(scheme, native_id, change)
        decision = sync.apply(event, "crm")
        if decision.publish is not None:
            published.append(decision.publish.event_type)
            sync.complete(event, decision)
    assert published == ["ContractChanged", "ContractDeleted"]
    # and a re-create after the delete is a new version: the record lives again
    recreate = Change("upsert", {"payment_terms_days": 60}, 1_795_000_003_000, 0, "e4")
    decision = sync.apply(_event(scheme, native_id, recreate), "crm")
    assert decision.publish is not None
    assert decision.publish.payload["attributes"] == {"payment_terms_days": 60}


def test_delete_that_arrives_before_its_create_still_wins(stores: Stores) -> None:
    scheme = SCHEMES[4]
    native_id = f"800{uuid.uuid4().hex[:12]}"
    create = Change("upsert", {"payment_terms_days": 30}, 7, 0, "e1")
    delete = Change("delete", {}, 9, 0, "e2")
    sync = stores.entity_sync()
    first = sync.apply(_event(scheme, native_id, delete), "crm")
    assert first.publish is not None and first.publish.event_type == "ContractDeleted"
    sync.complete(_event(scheme, native_id, delete), first)
    late = sync.apply(_event(scheme, native_id, create), "crm")
    assert late.publish is None
    assert late.stale == {"payment_terms_days"}


def test_snapshot_repeating_the_current_value_publishes_nothing_but_keeps_order(stores: Stores) -> None:
    scheme = SCHEMES[2]
    native_id = f"800{uuid.uuid4().hex[:12]}"
    sync = stores.entity_sync()
    v1 = _event(scheme, native_id, Change("upsert", {"payment_terms_days": 30}, 10, 0, "e1"))
    v3 = _event(scheme, native_id, Change("upsert", {"payment_terms_days": 30}, 30, 0, "e3"))
    v2 = _event(scheme, native_id, Change("upsert", {"payment_terms_days": 60}, 20, 0, "e2"))
    d1 = sync.apply(v1, "crm")
    sync.complete(v1, d1)
    d3 = sync.apply(v3, "crm")  # the same value again, at a later version: not news
    assert d3.publish is None and not d3.conflicts and not d3.applied
    d2 = sync.apply(v2, "crm")  # older than the snapshot: stale, though it differs
    assert d2.publish is None and d2.stale == {"payment_terms_days"}
