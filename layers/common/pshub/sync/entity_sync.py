"""Keeping an entity trustworthy across systems: identity, echo, ownership, ordering.

For each canonical event about an entity (a client or an opportunity), in order:
1. identity: the native record's canonical id (minted once, whatever the concurrency;
   a new client is matched against known ones first);
2. echo: attribute values equal to what pshub itself last wrote to that system are
   its own write coming back, not a change;
3. ownership: attributes the sending system does not own are not propagated; each
   becomes an ``OwnershipConflict`` exception with what came in and the owner's value;
4. ordering: an attribute changes only if the event is newer than the version it was
   last applied at (event time, then event id: a total order, so any delivery order
   and any duplication end in the same state); older ones are counted as stale.
What survives is published, carrying the entity's canonical id and its ids in every
system known so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import CanonicalEvent
from pshub.observability import logger
from pshub.platforms import platform
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import ConcurrentUpdate, EntityState, IdentityStore, Resolution, new_canonical_id
from pshub.sync.client_matching import decide, match_keys
from pshub.sync.ownership import OwnershipPolicy

# Canonical event type -> the object type it is about.
ENTITY_EVENTS = {
    "ClientUpserted": "Client",
    "ClientDeleted": "Client",
    "OpportunityUpdated": "Opportunity",
    "OpportunityClosedWon": "Opportunity",
    "OpportunityDeleted": "Opportunity",
}
# Payload field -> canonical attribute, for payloads that carry canonical fields.
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
_MAX_ATTEMPTS = 5


@dataclass
class SyncDecision:
    publish: CanonicalEvent | None
    canonical_id: str | None = None
    first_sighting: bool = False
    applied: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)
    echoes: set[str] = field(default_factory=set)
    conflicts: set[str] = field(default_factory=set)
    # Another invocation applied this very event while we were deciding (a concurrent
    # duplicate delivery): we must not publish it too.
    applied_elsewhere: bool = False


def _attribute_of(event: CanonicalEvent, key: str) -> str | None:
    if event.event_type == "OpportunityUpdated":
        # Native properties: the platform's manifest says which canonical attribute each carries.
        return platform(event.source_platform).native_attributes.get("Opportunity", {}).get(key)
    return _PAYLOAD_ATTRIBUTES.get(event.event_type, {}).get(key)


def attribute_changes(event: CanonicalEvent) -> dict[str, Any]:
    """The canonical attribute values an event asserts."""
    payload = event.payload
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


def _filtered_payload(event: CanonicalEvent, keep: set[str]) -> dict[str, Any]:
    def kept(key: str) -> bool:
        attribute = _attribute_of(event, key)
        return attribute is None or attribute in keep

    payload = {k: v for k, v in event.payload.items() if k == "properties" or kept(k)}
    if event.event_type == "OpportunityUpdated" and "properties" in payload:
        payload["properties"] = {k: v for k, v in payload["properties"].items() if kept(k)}
    return payload


class EntitySync:
    def __init__(self, identity: IdentityStore, exceptions: ExceptionStore, policy: OwnershipPolicy) -> None:
        self._identity = identity
        self._exceptions = exceptions
        self._policy = policy

    def apply(self, event: CanonicalEvent, source_role: str) -> SyncDecision:
        object_type = ENTITY_EVENTS.get(event.event_type)
        if object_type is None:
            return SyncDecision(publish=event)  # a fact (an invoice paid), not an entity's state
        resolution = self._resolve(object_type, event)
        changes = attribute_changes(event)
        version = [int(event.occurred_at.timestamp() * 1000), event.source_event_id]
        for attempt in range(_MAX_ATTEMPTS):
            state = self._identity.load_state(object_type, resolution.canonical_id)
            if attempt and _recorded(state, changes, version):
                # Our write lost to one that applied this very event: a concurrent duplicate.
                return SyncDecision(
                    publish=None, canonical_id=resolution.canonical_id, applied_elsewhere=True
                )
            decision, changed = self._decide(
                event, object_type, source_role, resolution, changes, version, state
            )
            if not changed:
                break
            try:
                self._identity.save_state(state)
                break
            except ConcurrentUpdate:
                continue
        else:
            raise ConcurrentUpdate(f"{object_type} {resolution.canonical_id}: too many concurrent updates")
        self._record_conflicts(event, object_type, source_role, decision, changes, state)
        return decision

    def _resolve(self, object_type: str, event: CanonicalEvent) -> Resolution:
        existing = self._identity.lookup(object_type, event.connection, event.source_native_id)
        if existing:
            return Resolution(existing, False)
        canonical_id = new_canonical_id(object_type)
        if object_type == "Client":
            canonical_id = self._match_client(event, canonical_id)
        resolution = self._identity.link(object_type, event.connection, event.source_native_id, canonical_id)
        if resolution.first_sighting and object_type == "Client":
            keys = match_keys(event.payload.get("name"), event.payload.get("web_domain"), None)
            self._identity.register_match_keys(resolution.canonical_id, keys)
        return resolution

    def _match_client(self, event: CanonicalEvent, new_id: str) -> str:
        keys = match_keys(event.payload.get("name"), event.payload.get("web_domain"), None)
        found = self._identity.match_candidates(keys)
        decision = decide(found)
        if decision.link_to:
            logger.info("client matched an existing client", extra={"canonical_id": decision.link_to})
            return decision.link_to
        if decision.ambiguous:
            self._exceptions.raise_exception(
                BusinessException(
                    id=exception_id(
                        Category.POSSIBLE_DUPLICATE_CLIENT, event.connection, event.source_native_id
                    ),
                    category=Category.POSSIBLE_DUPLICATE_CLIENT,
                    owner_team=OwnerTeam.DATA_STEWARD,
                    title=f"Possible duplicate client: {event.payload.get('name') or event.source_native_id}",
                    detail=(
                        f"{event.source_platform} record {event.source_native_id} on {event.connection} resembles "
                        f"{len(decision.candidates)} known client(s) but not confidently; it was kept as a new "
                        "client. Merge it or confirm it is distinct."
                    ),
                    business_keys={
                        "connection": event.connection,
                        "native_id": event.source_native_id,
                        "new_client_id": new_id,
                    },
                    context={
                        "candidates": sorted(decision.candidates),
                        "match_keys": keys,
                        "matched_on": {k: sorted(v) for k, v in found.items()},
                    },
                    correlation_id=event.correlation_id,
                )
            )
        return new_id

    def _decide(
        self,
        event: CanonicalEvent,
        object_type: str,
        source_role: str,
        resolution: Resolution,
        changes: dict[str, Any],
        version: list[Any],
        state: EntityState,
    ) -> tuple[SyncDecision, bool]:
        changed = False
        if state.xrefs.get(event.connection) != event.source_native_id:
            state.xrefs[event.connection] = event.source_native_id
            changed = True
        written = state.written.get(event.connection, {})
        echoes = {a for a, v in changes.items() if a in written and written[a] == v}
        owned, conflicts = self._policy.split(object_type, source_role, set(changes) - echoes)
        # ">=": the same event again (a retry after a failed publish) re-applies, idempotently.
        applied = {a for a in owned if version >= state.versions.get(a, [0, ""])}
        for attribute in applied:
            state.values[attribute] = changes[attribute]
            state.versions[attribute] = version
            changed = True
        decision = SyncDecision(
            publish=None,
            canonical_id=resolution.canonical_id,
            first_sighting=resolution.first_sighting,
            applied=applied,
            stale=owned - applied,
            echoes=echoes,
            conflicts=set(conflicts),
        )
        deleted = event.event_type.endswith("Deleted")
        if applied or deleted or (resolution.first_sighting and not changes):
            decision.publish = event.model_copy(
                update={
                    "canonical_id": resolution.canonical_id,
                    "xrefs": dict(state.xrefs),
                    "payload": _filtered_payload(event, applied),
                }
            )
        return decision, changed

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
            owners = sorted(self._policy.owners(object_type, attribute))
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


def _recorded(state: EntityState, changes: dict[str, Any], version: list[Any]) -> bool:
    """Whether some attribute of this change already stands at exactly this event's version."""
    return any(state.versions.get(attribute) == version for attribute in changes)


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
