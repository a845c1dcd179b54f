"""Identity, duplicate detection, ownership, ordering and echo suppression on moto DynamoDB."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pshub.business_exceptions import Category
from pshub.canonical.envelope import CanonicalEvent, ClientUpsertedV1, make_event
from pshub.sync.entity_sync import record_write
from tests.integration.aws import Stores, aws_stores

BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with aws_stores() as value:
        yield value


def client_event(
    native_id: str,
    *,
    connection: str = "salesforce-acme",
    platform: str = "salesforce",
    event_id: str = "e-1",
    at_ms: int = 0,
    **fields: str | None,
) -> CanonicalEvent:
    return make_event(
        "ClientUpserted",
        ClientUpsertedV1(client_id=native_id, change="updated", **fields),  # type: ignore[arg-type]
        connection=connection,
        source_platform=platform,
        source_native_id=native_id,
        source_event_id=event_id,
        occurred_at=BASE + timedelta(milliseconds=at_ms),
        correlation_id=f"corr-{event_id}",
        legal_entity="ACME-UK",
    )


def requests_one_at_a_time(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically (a conditional put's check and write are one
    step); moto does not across threads, so its requests are made one at a time."""
    client = stores.identity._db
    lock = threading.Lock()
    make_api_call = client._make_api_call

    def atomic_request(*args: object, **kwargs: object) -> object:
        with lock:
            return make_api_call(*args, **kwargs)

    monkeypatch.setattr(client, "_make_api_call", atomic_request)


def test_concurrent_first_sightings_mint_one_canonical_id(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The threads still interleave between requests: lookup, then conditional link.
    requests_one_at_a_time(stores, monkeypatch)
    # And every thread's first lookup finds nothing before any of them links: the race, every time
    all_looked = threading.Barrier(16)
    first_lookup_done = threading.local()
    lookup = stores.identity.lookup

    def lookup_then_wait_for_the_others(*args: str) -> str | None:
        found = lookup(*args)
        if not getattr(first_lookup_done, "value", False):
            first_lookup_done.value = True
            all_looked.wait(timeout=10)
        return found

    monkeypatch.setattr(stores.identity, "lookup", lookup_then_wait_for_the_others)
    # Given 16 threads seeing the same new native record at once
    results: list[str] = []

    def sight() -> None:
        results.append(stores.identity.resolve("Client", "hubspot-acme", "company-777").canonical_id)

    threads = [threading.Thread(target=sight) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one of them got the same canonical id, and it is the stored one
    assert len(results) == 16
    assert len(set(results)) == 1
    assert lookup("Client", "hubspot-acme", "company-777") == results[0]


def test_one_company_first_seen_on_two_platforms_at_once_is_one_client(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both sightings read the client index before either registers: the race, every time
    requests_one_at_a_time(stores, monkeypatch)
    both_read = threading.Barrier(2)
    index_entries = stores.identity.index_entries
    waited = threading.local()

    def read_then_wait(keys: object) -> object:
        found = index_entries(keys)  # type: ignore[arg-type]
        if not getattr(waited, "value", False):
            waited.value = True
            both_read.wait(timeout=10)
        return found

    monkeypatch.setattr(stores.identity, "index_entries", read_then_wait)
    sync = stores.entity_sync()
    # Given the same company (same VAT number) arriving from the CRM and from billing at once
    sightings = [
        client_event("001Q", name="Quellwerk GmbH", country="DE", event_id="q1",
                     properties={"vat_number": "DE 136 695 976"}),  # type: ignore[arg-type]
        client_event("cus_Q", connection="stripe-acme", platform="stripe", name="QUELLWERK GMBH", country="DE",
                     event_id="q2", properties={"tax_id": "DE136695976"}),  # type: ignore[arg-type]
    ]  # fmt: skip
    results: list[str | None] = []

    def sight(event: object) -> None:
        results.append(sync.apply(event, "crm").canonical_id)  # type: ignore[arg-type]

    threads = [threading.Thread(target=sight, args=(event,)) for event in sightings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the loser of the race saw the winner's registration and linked to it: one client
    assert len(results) == 2 and None not in results
    assert results[0] == results[1]
    assert stores.identity.lookup("Client", "salesforce-acme", "001Q") == stores.identity.lookup(
        "Client", "stripe-acme", "cus_Q"
    )
    assert not [e for e in stores.exceptions.list() if e.category is Category.POSSIBLE_DUPLICATE_CLIENT]


def test_owner_change_is_published_with_canonical_id_and_xrefs(stores: Stores) -> None:
    sync = stores.entity_sync()
    decision = sync.apply(
        client_event("001A", name="Northwind Advisory", web_domain="northwind.example"), "crm"
    )
    assert decision.publish is not None
    assert decision.applied == {"name", "web_domain"}
    assert decision.publish.canonical_id == decision.canonical_id
    assert decision.publish.xrefs == {"salesforce-acme": "001A"}


def test_mixed_change_propagates_owned_attributes_only_and_records_the_conflict(stores: Stores) -> None:
    sync = stores.entity_sync()
    # Given a client whose billing address the ERP owns
    event = client_event("001B", name="Fabrikam Partners", country="GB", city="Leeds", event_id="mix-1")
    # When the CRM sends a name (its own) and an address (the ERP's)
    decision = sync.apply(event, "crm")
    # Then only the name is propagated ...
    assert decision.applied == {"name"}
    assert decision.conflicts == {"billing_address"}
    assert decision.publish is not None
    assert (
        "country" not in decision.publish.payload and decision.publish.payload["name"] == "Fabrikam Partners"
    )
    # ... and the address became an ownership conflict naming what came in and from where
    [conflict] = [
        e
        for e in stores.exceptions.list()
        if e.category is Category.OWNERSHIP_CONFLICT and e.business_keys["native_id"] == "001B"
    ]
    assert conflict.context["incoming_value"] == {"country": "GB", "city": "Leeds"}
    assert conflict.context["source_role"] == "crm"
    assert conflict.context["owner_roles"] == ["erp"]


def test_non_owner_change_is_not_propagated_and_keeps_the_owners_value(stores: Stores) -> None:
    sync = stores.entity_sync()
    crm = sync.apply(client_event("001C", name="Contoso Legal", event_id="c-1", at_ms=1), "crm")
    assert crm.canonical_id
    # Given the billing platform's customer is the same client (linked when pshub created it)
    stores.identity.link("Client", "stripe-acme", "cus_C", crm.canonical_id)
    # When the billing platform renames it
    renamed = client_event(
        "cus_C",
        connection="stripe-acme",
        platform="stripe",
        event_id="s-1",
        at_ms=5,
        name="Contoso Ltd (billing)",
    )
    decision = sync.apply(renamed, "billing")
    # Then nothing is published and the conflict shows the owner's current value
    assert decision.publish is None
    assert decision.conflicts == {"name"}
    [conflict] = [e for e in stores.exceptions.list() if e.business_keys.get("native_id") == "cus_C"]
    assert conflict.context["incoming_value"] == "Contoso Ltd (billing)"
    assert conflict.context["owner_current_value"] == "Contoso Legal"


def test_older_update_after_newer_one_changes_nothing_and_counts_as_stale(stores: Stores) -> None:
    sync = stores.entity_sync()
    newer = sync.apply(client_event("001D", name="New Name", event_id="n", at_ms=2000), "crm")
    older = sync.apply(client_event("001D", name="Old Name", event_id="o", at_ms=1000), "crm")
    assert newer.applied == {"name"}
    assert older.publish is None and older.stale == {"name"}
    state = stores.identity.load_state("Client", newer.canonical_id or "")
    assert state.values["name"] == "New Name"


def test_echo_of_pshubs_own_write_is_recognised_and_not_propagated(stores: Stores) -> None:
    sync = stores.entity_sync()
    # Given the CRM's client, written by pshub to the billing platform as a customer
    crm = sync.apply(client_event("001E", name="Tailspin Studios", event_id="t-1"), "crm")
    cid = crm.canonical_id or ""
    stores.identity.link("Client", "stripe-acme", "cus_E", cid)
    record_write(stores.identity, "Client", cid, "stripe-acme", {"name": "Tailspin Studios"})
    # When the billing platform's webhook echoes that write back
    echo = client_event(
        "cus_E", connection="stripe-acme", platform="stripe", event_id="s-e", at_ms=9, name="Tailspin Studios"
    )
    decision = sync.apply(echo, "billing")
    # Then it is recognised as an echo: not published, not a conflict, nothing to send back to the CRM
    assert decision.echoes == {"name"}
    assert decision.publish is None
    assert decision.conflicts == set()
    assert not [e for e in stores.exceptions.list() if e.business_keys.get("native_id") == "cus_E"]


def test_confident_duplicate_links_and_ambiguous_one_raises_an_exception(stores: Stores) -> None:
    sync = stores.entity_sync()
    first = sync.apply(
        client_event(
            "001F",
            name="Woodgrove Consulting Ltd",
            web_domain="woodgrove.example",
            country="GB",
            event_id="w1",
        ),
        "crm",
    )
    # A second system's record with the same normalised name, domain and country: the same client
    same = sync.apply(
        client_event(
            "77001",
            connection="hubspot-acme",
            platform="hubspot",
            event_id="w2",
            name="WOODGROVE CONSULTING LIMITED",
            web_domain="https://www.woodgrove.example/about",
            country="GB",
        ),
        "crm",
    )
    assert same.canonical_id == first.canonical_id
    # The same name and domain in another country: a subsidiary perhaps, never the same customer
    sister = sync.apply(
        client_event(
            "77003",
            connection="hubspot-acme",
            platform="hubspot",
            event_id="w4",
            name="Woodgrove Consulting Limited",
            web_domain="woodgrove.example",
            country="IE",
        ),
        "crm",
    )
    assert sister.canonical_id not in (first.canonical_id, None)
    # Same name, another domain: maybe the same client, maybe not - a person decides
    maybe = sync.apply(
        client_event(
            "77002",
            connection="hubspot-acme",
            platform="hubspot",
            event_id="w3",
            name="Woodgrove Consulting",
            web_domain="woodgrove-group.example",
        ),
        "crm",
    )
    assert maybe.canonical_id != first.canonical_id
    [duplicate] = [
        e
        for e in stores.exceptions.list()
        if e.category is Category.POSSIBLE_DUPLICATE_CLIENT and e.business_keys["native_id"] == "77002"
    ]
    assert first.canonical_id in duplicate.context["candidates"]
    [subsidiary] = [
        e
        for e in stores.exceptions.list()
        if e.category is Category.POSSIBLE_DUPLICATE_CLIENT and e.business_keys["native_id"] == "77003"
    ]
    against = subsidiary.context["evidence"][first.canonical_id]["against"]
    assert against == ["registered in IE, the known client in GB"]


# -- ordering: any permutation and duplication converges ----------------------------------
updates = st.lists(
    st.tuples(
        st.sampled_from(["name", "web_domain"]),
        st.sampled_from(["alpha", "beta", "gamma", "delta"]),
        st.integers(min_value=0, max_value=20),  # event time (ms): ties are likely
    ),
    min_size=1,
    max_size=8,
)
_examples = iter(range(1_000_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(updates=updates, seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_permutation_and_duplication_ends_in_the_in_order_state(stores: Stores, updates, seed) -> None:
    sync = stores.entity_sync()
    example = next(_examples)
    events = [
        (attribute, value, at_ms, f"ev-{index:02d}")
        for index, (attribute, value, at_ms) in enumerate(updates)
    ]

    def replay(native_id: str, order: list[tuple[str, str, int, str]]) -> dict[str, object]:
        for attribute, value, at_ms, event_id in order:
            sync.apply(client_event(native_id, event_id=event_id, at_ms=at_ms, **{attribute: value}), "crm")
        canonical = stores.identity.lookup("Client", "salesforce-acme", native_id) or ""
        return stores.identity.load_state("Client", canonical).values

    in_order = sorted(events, key=lambda e: (e[2], e[3]))
    shuffled = events + random.Random(seed).choices(events, k=len(events))  # with duplicates
    random.Random(seed).shuffle(shuffled)
    assert replay(f"ord-{example}-a", in_order) == replay(f"ord-{example}-b", shuffled)
