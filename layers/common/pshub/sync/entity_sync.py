"""Keeping an entity trustworthy across systems: identity, echo, ownership, ordering.

For each canonical event about an entity (``ENTITY_EVENT_TYPES``: clients, opportunities
and every object of the canonical model), in order:
1. identity: the native record's canonical id, minted once whatever the concurrency. A
   client seen for the first time is matched against the known ones on its validated,
   country-scoped tax and registration ids, legal names, domains and near-miss keys
   (``pshub.sync.identity``): a confident match links, an uncertain one is a new client
   plus a "possible duplicate client" exception for a person, with the evidence for and
   against; matching and registering the client's keys is one transaction;
2. echo: attribute values equal to what pshub itself last wrote to that system are its
   own write coming back, not a change;
3. ownership: attributes the sending system does not own (at the record's lifecycle point:
   a contract's terms change owner at activation) are not propagated; each that differs
   from the owner's value becomes an ``OwnershipConflict`` exception;
4. ordering: an attribute changes only if the event is newer, in the platform's own
   version order (``SourceVersion``), than the version it was last applied at. A delete is
   a tombstone at its version: an older update does not resurrect the record, a newer
   (re-)create does. Any permutation or duplication of a record's deliveries ends in the
   state the platform's order defines.
Only a real change is published: a snapshot repeating the current value moves the
version (so an older value arriving later stays stale) but publishes nothing.

Exactly once: the state that applies an event also holds a publication lease for it,
saved in the same write; the lease is removed once the event is on the bus. A duplicate
delivery finds the event's version applied with the lease held (another invocation is
publishing: retry later), expired (that invocation failed: take over and publish what it
would have), or gone (published: a duplicate). No separate claim record is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import ENTITY_EVENT_TYPES, CanonicalEvent
from pshub.observability import logger
from pshub.platforms import platform
from pshub.platforms.fields import country_code
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import (
    ConcurrentUpdate,
    EntityState,
    IdentityStore,
    IndexChanged,
    Resolution,
    new_canonical_id,
)
from pshub.sync.ownership import OwnershipPolicy

EXISTS = "@exists"  # the record's lifecycle, ordered like an attribute
# Payload field -> canonical attribute, for the v1 payloads that carry canonical fields.
_PAYLOAD_ATTRIBUTES = {
    "ClientUpserted": {
        "name": "name",
        "web_domain": "web_domain",
        "country": "billing_address",
        "city": "billing_address",
    },
    "OpportunityClosedWon": {
        "name": "name",
        "stage": "stage",
        "amount": "amount",
        "close_date": "close_date",
        "client_id": "client_id",
    },
}
# Native properties of a client record that carry identity facts (adapters name them so).
_TAX_ID_PROPERTIES = ("tax_id", "vat_number", "tax_number", "ein", "abn", "gst_number")
_REGISTRATION_PROPERTIES = ("registration_number", "company_number", "registration_id")
_MAX_ATTEMPTS = 5
# An index entry with this many clients says nothing about any one of them (a blocking key
# shared by a whole industry): it is neither read as evidence nor grown further.
MAX_CLIENTS_PER_KEY = 200
DEFAULT_LEASE_MS = 60_000


@dataclass
class SyncDecision:
    publish: CanonicalEvent | None
    canonical_id: str | None = None
    first_sighting: bool = False
    applied: set[str] = field(default_factory=set)  # attributes whose value changed
    stale: set[str] = field(default_factory=set)
    echoes: set[str] = field(default_factory=set)
    conflicts: set[str] = field(default_factory=set)
    # This very event was applied before, and its publication settled: not news.
    duplicate: bool = False
    # Another invocation holds this event's publication right now (a concurrent duplicate).
    applied_elsewhere: bool = False
    # The lease saved for this publication: ``complete`` or ``abandon`` settles it.
    lease: dict[str, Any] | None = None
    object_type: str | None = None


@dataclass(frozen=True)
class Version:
    """A change's place in its platform's order, as stored beside each attribute."""

    scheme: str
    key: tuple[int, int, str]
    at_ms: int  # event time: orders versions of different schemes (two platforms own one attribute)

    @classmethod
    def of(cls, event: CanonicalEvent) -> Version:
        at_ms = int(event.occurred_at.timestamp() * 1000)
        if event.source_version is not None:
            return cls(event.source_version.scheme, event.source_version.key(), at_ms)
        return cls("event_time", (at_ms, 0, event.source_event_id), at_ms)

    def to_doc(self) -> dict[str, Any]:
        return {"s": self.scheme, "k": list(self.key), "t": self.at_ms}

    @classmethod
    def from_doc(cls, doc: Any) -> Version:
        if isinstance(doc, list):  # before SourceVersion: [event ms, event id]
            return cls("event_time", (int(doc[0]), 0, str(doc[1])), int(doc[0]))
        major, minor, tiebreak = doc["k"]
        return cls(doc["s"], (int(major), int(minor), str(tiebreak)), int(doc["t"]))

    def compare(self, other: Version | None) -> int:
        """1 if newer than ``other`` (or there is none), 0 if the same version, -1 if older."""
        if other is None:
            return 1
        if self.scheme == other.scheme:
            mine: tuple[Any, ...] = self.key
            theirs: tuple[Any, ...] = other.key
        else:
            mine, theirs = (self.at_ms, self.scheme, self.key), (other.at_ms, other.scheme, other.key)
        return (mine > theirs) - (mine < theirs)


def entity_of(event: CanonicalEvent) -> tuple[str, Literal["upsert", "delete"]] | None:
    return ENTITY_EVENT_TYPES.get(event.event_type)


def _attribute_of(event: CanonicalEvent, key: str) -> str | None:
    if event.event_type == "OpportunityUpdated":
        # Native properties: the platform's manifest says which canonical attribute each carries.
        return platform(event.source_platform).native_attributes.get("Opportunity", {}).get(key)
    return _PAYLOAD_ATTRIBUTES.get(event.event_type, {}).get(key)


def _generic(event: CanonicalEvent) -> bool:
    return "attributes" in event.payload and "native_id" in event.payload


def attribute_changes(event: CanonicalEvent) -> dict[str, Any]:
    """The canonical attribute values an event asserts."""
    payload = event.payload
    if _generic(event):
        return {k: v for k, v in payload["attributes"].items() if v is not None}
    if event.event_type == "OpportunityUpdated":
        items = payload.get("properties", {}).items()
    else:
        items = ((k, v) for k, v in payload.items() if k != "properties")
    changes: dict[str, Any] = {}
    for key, value in items:
        attribute = _attribute_of(event, key)
        if attribute is None or value is None:
            continue
        if attribute == "billing_address":
            changes.setdefault(attribute, {})[key] = value
        else:
            changes[attribute] = value
    return changes


def attribute_problem(event: CanonicalEvent, policy: OwnershipPolicy) -> str | None:
    """Why the event's attributes cannot be synced (an attribute its object lacks), or None."""
    spec = entity_of(event)
    if spec is None or not _generic(event):
        return None
    unknown = sorted(a for a in event.payload["attributes"] if not policy.knows(spec[0], a))
    if unknown:
        return f"{event.event_type} names attributes {spec[0]} does not have: {', '.join(unknown)}"
    return None


def _filtered_payload(event: CanonicalEvent, keep: set[str]) -> dict[str, Any]:
    if _generic(event):
        return {
            **event.payload,
            "attributes": {k: v for k, v in event.payload["attributes"].items() if k in keep},
        }

    def kept(key: str) -> bool:
        attribute = _attribute_of(event, key)
        return attribute is None or attribute in keep

    payload = {k: v for k, v in event.payload.items() if k == "properties" or kept(k)}
    if event.event_type == "OpportunityUpdated" and "properties" in payload:
        payload["properties"] = {k: v for k, v in payload["properties"].items() if kept(k)}
    return payload


def _now_ms() -> int:
    return int(time.time() * 1000)


class EntitySync:
    def __init__(
        self,
        identity: IdentityStore,
        exceptions: ExceptionStore,
        policy: OwnershipPolicy,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._identity = identity
        self._exceptions = exceptions
        self._policy = policy
        self._clock_ms = clock_ms

    @property
    def policy(self) -> OwnershipPolicy:
        return self._policy

    def apply(
        self, event: CanonicalEvent, source_role: str, lease_ms: int = DEFAULT_LEASE_MS
    ) -> SyncDecision:
        spec = entity_of(event)
        if spec is None:
            return SyncDecision(publish=event)  # a fact (an invoice paid), not an entity's state
        object_type, lifecycle = spec
        resolution = self._resolve(object_type, event)
        changes = attribute_changes(event)
        version = Version.of(event)
        for _attempt in range(_MAX_ATTEMPTS):
            state = self._identity.load_state(object_type, resolution.canonical_id)
            now = self._clock_ms()
            lease = state.inflight.get(event.event_id)
            if lease is not None and lease.get("until", 0) > now:
                # Another invocation applied this very event and is publishing it.
                return SyncDecision(
                    publish=None,
                    canonical_id=resolution.canonical_id,
                    applied_elsewhere=True,
                    object_type=object_type,
                )
            if lease is not None:
                decision = self._take_over(event, object_type, resolution, lease, state)
                changed = True
            else:
                decision, changed = self._decide(
                    event, object_type, lifecycle, source_role, resolution, changes, version, state
                )
            if decision.publish is not None:
                decision.lease = {"until": now + lease_ms, "publish": sorted(decision.applied)}
                state.inflight[event.event_id] = decision.lease
                changed = True
            if not changed:
                break
            try:
                self._identity.save_state(state)
                break
            except ConcurrentUpdate:
                continue
        else:
            raise ConcurrentUpdate(f"{object_type} {resolution.canonical_id}: too many concurrent updates")
        if lease is None:
            self._record_conflicts(event, object_type, source_role, decision, changes, state)
        return decision

    def complete(self, event: CanonicalEvent, decision: SyncDecision) -> None:
        """The decision's event is on the bus: its lease goes, so a redelivery is a duplicate."""
        if decision.lease is not None and decision.canonical_id and decision.object_type:
            self._identity.end_lease(
                decision.object_type, decision.canonical_id, event.event_id, published=True
            )

    def abandon(self, event: CanonicalEvent, decision: SyncDecision) -> None:
        """Publishing failed: expire the lease, so the retry takes the publication over at once."""
        if decision.lease is not None and decision.canonical_id and decision.object_type:
            self._identity.end_lease(
                decision.object_type,
                decision.canonical_id,
                event.event_id,
                published=False,
                lease=decision.lease,
            )

    # -- identity ---------------------------------------------------------------------
    def _resolve(self, object_type: str, event: CanonicalEvent) -> Resolution:
        existing = self._identity.lookup(object_type, event.connection, event.source_native_id)
        if existing:
            return Resolution(existing, False)
        if object_type == "Client":
            return self._match_client(event)
        return self._identity.link(
            object_type, event.connection, event.source_native_id, new_canonical_id(object_type)
        )

    def _match_client(self, event: CanonicalEvent) -> Resolution:
        from pshub.sync.identity import ClientProfile, decide, profile  # pure; imported when needed

        incoming = profile(client_facts(event))
        keys = sorted(incoming.index_keys())
        for _attempt in range(_MAX_ATTEMPTS):
            seen = self._identity.index_entries(keys)
            usable = {k: e for k, e in seen.items() if len(e.ids) < MAX_CLIENTS_PER_KEY}
            candidate_ids = set().union(*(e.ids for e in usable.values())) if usable else set()
            stored = self._identity.profiles(candidate_ids) if candidate_ids else {}
            candidates = {cid: ClientProfile.from_dict(doc) for cid, doc in stored.items()}
            decision = decide(incoming, candidates)
            target = decision.link_to if decision.outcome == "link" and decision.link_to else None
            canonical_id = target or new_canonical_id("Client")
            try:
                resolution = self._identity.register_client(
                    event.connection,
                    event.source_native_id,
                    canonical_id,
                    profile=incoming.to_dict(),
                    seen=usable,
                    decision=decision.to_dict(),
                    new_client=target is None,
                )
            except IndexChanged:
                continue  # a client was registered under one of our keys meanwhile: decide again
            if resolution.first_sighting and target:
                logger.info("client matched an existing client", extra={"canonical_id": target})
            if resolution.first_sighting and decision.outcome == "possible_duplicate":
                self._possible_duplicate(event, resolution.canonical_id, decision)
            return resolution
        raise ConcurrentUpdate(f"client index for {event.connection} {event.source_native_id}: too busy")

    def _possible_duplicate(self, event: CanonicalEvent, new_id: str, decision: Any) -> None:
        name = event.payload.get("name") or event.source_native_id
        evidence = decision.to_dict().get("evidence", {})
        self._exceptions.raise_exception(
            BusinessException(
                id=exception_id(Category.POSSIBLE_DUPLICATE_CLIENT, event.connection, event.source_native_id),
                category=Category.POSSIBLE_DUPLICATE_CLIENT,
                owner_team=OwnerTeam.DATA_STEWARD,
                title=f"Possible duplicate client: {name}",
                detail=(
                    f"{event.source_platform} record {event.source_native_id} on {event.connection} resembles "
                    f"{len(decision.candidates)} known client(s) but not certainly enough to link; it was kept "
                    "as a new client, so nothing is posted to another customer. Merge it or confirm it is "
                    "distinct; the evidence for and against each candidate is attached."
                ),
                business_keys={
                    "connection": event.connection,
                    "native_id": event.source_native_id,
                    "new_client_id": new_id,
                },
                context={"candidates": list(decision.candidates), "evidence": evidence},
                correlation_id=event.correlation_id,
            )
        )

    # -- ordering, echo, ownership ----------------------------------------------------------
    def _active(self, object_type: str, state: EntityState) -> bool:
        """Whether the record is past activation (the policy's ``owner_once_active`` then applies)."""
        if state.values.get("status") == "active":
            return True
        contract_id = state.values.get("contract_id")
        if object_type == "RateCard" and isinstance(contract_id, str):
            contract = self._identity.load_state("Contract", contract_id)
            return contract.values.get("status") == "active"
        return False

    def _decide(
        self,
        event: CanonicalEvent,
        object_type: str,
        lifecycle: str,
        source_role: str,
        resolution: Resolution,
        changes: dict[str, Any],
        version: Version,
        state: EntityState,
    ) -> tuple[SyncDecision, bool]:
        changed = False
        if state.xrefs.get(event.connection) != event.source_native_id:
            state.xrefs[event.connection] = event.source_native_id
            changed = True
        written = state.written.get(event.connection, {})
        echoes = {a for a, v in changes.items() if a in written and written[a] == v}
        owned, conflicts = self._policy.split(
            object_type, source_role, set(changes) - echoes, active=self._active(object_type, state)
        )
        applied: set[str] = set()
        stale: set[str] = set()
        repeated = 0
        for attribute in owned:
            order = version.compare(_stored_version(state, attribute))
            if order > 0:
                if state.values.get(attribute) != changes[attribute]:
                    applied.add(attribute)
                state.values[attribute] = changes[attribute]
                state.versions[attribute] = version.to_doc()
                changed = True
            elif order == 0:
                repeated += 1
            else:
                stale.add(attribute)
        lifecycle_change = False
        order = version.compare(_stored_version(state, EXISTS))
        if order > 0:
            exists = lifecycle == "upsert"
            lifecycle_change = state.values.get(EXISTS) is not exists
            state.values[EXISTS] = exists
            state.versions[EXISTS] = version.to_doc()
            changed = True
        exists_now = state.values.get(EXISTS) is True
        decision = SyncDecision(
            publish=None,
            canonical_id=resolution.canonical_id,
            first_sighting=resolution.first_sighting,
            applied=applied if exists_now else set(),
            stale=stale if exists_now or lifecycle == "delete" else stale | applied,
            echoes=echoes,
            conflicts=set(conflicts),
            duplicate=order == 0 and not applied and not stale and repeated == len(owned),
            object_type=object_type,
        )
        if (exists_now and applied) or lifecycle_change:
            # A re-create announces the record as it stands: changes that arrived while it was
            # deleted (a late update older than the delete, too) were applied but never published.
            restored = lifecycle_change and exists_now and _generic(event)
            decision.publish = self._published(event, decision.applied, state, restored)
        return decision, changed

    def _take_over(
        self,
        event: CanonicalEvent,
        object_type: str,
        resolution: Resolution,
        lease: dict[str, Any],
        state: EntityState,
    ) -> SyncDecision:
        """Publish what an invocation that applied this event and then failed would have."""
        logger.info("taking over an abandoned publication", extra={"event_id": event.event_id})
        applied = set(lease.get("publish") or ())
        decision = SyncDecision(
            publish=None, canonical_id=resolution.canonical_id, applied=applied, object_type=object_type
        )
        decision.publish = self._published(event, applied, state)
        return decision

    @staticmethod
    def _published(
        event: CanonicalEvent, applied: set[str], state: EntityState, restored: bool = False
    ) -> CanonicalEvent:
        payload = _filtered_payload(event, applied)
        if restored:
            current = {k: v for k, v in state.values.items() if k != EXISTS}
            payload["attributes"] = {**current, **payload["attributes"]}
        return event.model_copy(
            update={"canonical_id": state.canonical_id, "xrefs": dict(state.xrefs), "payload": payload}
        )

    def _record_conflicts(
        self,
        event: CanonicalEvent,
        object_type: str,
        source_role: str,
        decision: SyncDecision,
        changes: dict[str, Any],
        state: EntityState,
    ) -> None:
        for attribute in sorted(decision.conflicts):
            if state.values.get(attribute) == changes[attribute]:
                continue  # not propagated, but nothing to disagree about
            owners = sorted(
                self._policy.owners(object_type, attribute, active=self._active(object_type, state))
            )
            self._exceptions.raise_exception(
                BusinessException(
                    id=exception_id(Category.OWNERSHIP_CONFLICT, event.event_id, attribute),
                    category=Category.OWNERSHIP_CONFLICT,
                    owner_team=OwnerTeam.DATA_STEWARD,
                    title=f"{object_type}.{attribute} changed in {event.source_platform}, which does not own it",
                    detail=(
                        f"{event.connection} ({source_role}) sent {attribute}={changes[attribute]!r} for "
                        f"{object_type} {decision.canonical_id}; the policy gives {attribute} to "
                        f"{', '.join(owners) or 'no role'}, so it was not propagated. Change it in the owning "
                        "system, or correct it back in the sender."
                    ),
                    business_keys={
                        "object_type": object_type,
                        "canonical_id": decision.canonical_id or "",
                        "connection": event.connection,
                        "native_id": event.source_native_id,
                    },
                    context={
                        "attribute": attribute,
                        "incoming_value": changes[attribute],
                        "source_role": source_role,
                        "owner_roles": owners,
                        "owner_current_value": state.values.get(attribute),
                        "event_id": event.event_id,
                        "policy_version": self._policy.version,
                    },
                    correlation_id=event.correlation_id,
                )
            )


def _stored_version(state: EntityState, attribute: str) -> Version | None:
    doc = state.versions.get(attribute)
    return Version.from_doc(doc) if doc is not None else None


def client_facts(event: CanonicalEvent) -> Any:
    """The identity facts a client event carries (``pshub.sync.identity.ClientFacts``)."""
    from pshub.sync.identity import ClientFacts

    payload = event.payload
    # Custom properties pshub asks a platform to hold are named pshub_<fact> there.
    properties = {
        k.lower().removeprefix("pshub_"): v
        for k, v in (payload.get("properties") or {}).items()
        if isinstance(v, str)
    }
    return ClientFacts(
        name=payload.get("name"),
        legal_name=properties.get("legal_name"),
        # a code, or a country's common name; in the address, else among the record's facts
        country=country_code(payload.get("country")) or country_code(properties.get("country")),
        web_domain=payload.get("web_domain"),
        emails=tuple(e for e in (payload.get("email"),) if isinstance(e, str)),
        tax_ids=tuple(properties[k] for k in _TAX_ID_PROPERTIES if properties.get(k)),
        registration_ids=tuple(properties[k] for k in _REGISTRATION_PROPERTIES if properties.get(k)),
    )


def record_write(
    identity: IdentityStore, object_type: str, canonical_id: str, connection: str, values: dict[str, Any]
) -> None:
    """Remember what pshub wrote to ``connection`` so that its webhook echo is recognised."""
    for _attempt in range(_MAX_ATTEMPTS):
        state = identity.load_state(object_type, canonical_id)
        state.written.setdefault(connection, {}).update(values)
        try:
            identity.save_state(state)
            return
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"{object_type} {canonical_id}: too many concurrent updates")
