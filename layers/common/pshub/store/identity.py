"""Cross-system identity and per-entity sync state, in one DynamoDB table.

Items (``pk``, ``sk``):
- ``XREF#<type>#<connection>#<native id>``, ``XREF``: the canonical id of a native record.
  Written with ``attribute_not_exists`` so two concurrent first sightings of one
  native record cannot mint two canonical ids: the loser reads the winner's id.
- ``OBJ#<type>#<canonical id>``, ``STATE``: the entity's current canonical attribute
  values, the source version each attribute was last applied at, its ids in every
  system (``xrefs``), and what pshub itself last wrote to each system (``written``,
  for echo suppression). Updated with an optimistic ``rev`` check.
  ``inflight`` (a map beside the document) holds the leases of events being published:
  saved with the state that applied them, removed when they are on the bus.
- ``MATCH#Client#<index key>``, ``MATCH``: canonical ids of the clients registered under
  that key (a country-scoped tax id, a normalised legal name, a domain, a near-miss
  blocking key), with a ``rev`` so that registering a new client is conditional on the
  index being as it was when the match was decided.
- ``PROFILE#Client#<canonical id>``, ``PROFILE``: the client's normalised identity facts,
  read back as a candidate's side of the evidence.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ConcurrentUpdate(Exception):
    """Another invocation changed the entity between our read and our write."""


class IndexChanged(Exception):
    """A client was registered under one of the match keys since the match was decided."""


@dataclass(frozen=True)
class IndexEntry:
    ids: frozenset[str]
    rev: int  # 0: no client is registered under the key


@dataclass
class EntityState:
    object_type: str
    canonical_id: str
    rev: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    # attribute -> [version, tie-breaker]: a total order, so any arrival order converges.
    versions: dict[str, Any] = field(default_factory=dict)
    xrefs: dict[str, str] = field(default_factory=dict)
    # connection -> attribute -> value pshub wrote there
    written: dict[str, dict[str, Any]] = field(default_factory=dict)
    # canonical event id -> its publication lease: {"until": epoch ms, "publish": [...]}
    inflight: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolution:
    canonical_id: str
    first_sighting: bool


def _xref_key(object_type: str, connection: str, native_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"XREF#{object_type}#{connection}#{native_id}"}, "sk": {"S": "XREF"}}


def _state_key(object_type: str, canonical_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"OBJ#{object_type}#{canonical_id}"}, "sk": {"S": "STATE"}}


_MATCH_PREFIX = "MATCH#Client#"
_PROFILE_PREFIX = "PROFILE#Client#"


def _match_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"{_MATCH_PREFIX}{key}"}, "sk": {"S": "MATCH"}}


def _profile_key(canonical_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{_PROFILE_PREFIX}{canonical_id}"}, "sk": {"S": "PROFILE"}}


def new_canonical_id(object_type: str) -> str:
    return f"{object_type.lower()}_{uuid.uuid4().hex}"


class IdentityStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self.reads = 0
        self.writes = 0

    # -- cross-references -------------------------------------------------------------
    @property
    def client(self) -> DynamoDBClient:
        return self._db

    @property
    def table(self) -> str:
        return self._table

    def lookup(self, object_type: str, connection: str, native_id: str) -> str | None:
        self.reads += 1
        item = self._db.get_item(
            TableName=self._table, Key=_xref_key(object_type, connection, native_id), ConsistentRead=True
        ).get("Item")
        return item["canonical_id"]["S"] if item else None

    def link(self, object_type: str, connection: str, native_id: str, canonical_id: str) -> Resolution:
        """Bind a native record to ``canonical_id`` unless it is bound already (then return that)."""
        self.writes += 1
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **_xref_key(object_type, connection, native_id),
                    "canonical_id": {"S": canonical_id},
                    "linked_at": {"N": str(int(time.time()))},
                },
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = error.response.get("Item", {}).get("canonical_id", {}).get("S")  # type: ignore[attr-defined]
            return Resolution(
                existing or self.lookup(object_type, connection, native_id) or canonical_id, False
            )
        return Resolution(canonical_id, True)

    def resolve(self, object_type: str, connection: str, native_id: str) -> Resolution:
        existing = self.lookup(object_type, connection, native_id)
        if existing:
            return Resolution(existing, False)
        return self.link(object_type, connection, native_id, new_canonical_id(object_type))

    # -- entity state -------------------------------------------------------------------
    def load_state(self, object_type: str, canonical_id: str) -> EntityState:
        self.reads += 1
        item = self._db.get_item(
            TableName=self._table, Key=_state_key(object_type, canonical_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return EntityState(object_type, canonical_id)
        doc = json.loads(item["doc"]["S"])
        inflight = {
            key: json.loads(value["S"]) for key, value in item.get("inflight", {}).get("M", {}).items()
        }
        return EntityState(object_type, canonical_id, rev=int(item["rev"]["N"]), inflight=inflight, **doc)

    def save_state(self, state: EntityState) -> None:
        """Write ``state`` if nobody else wrote since it was loaded; raises ``ConcurrentUpdate``."""
        self.writes += 1
        doc = {
            "values": state.values,
            "versions": state.versions,
            "xrefs": state.xrefs,
            "written": state.written,
        }
        item = {
            **_state_key(state.object_type, state.canonical_id),
            "rev": {"N": str(state.rev + 1)},
            "doc": {"S": json.dumps(doc, sort_keys=True, default=str)},
            "inflight": {"M": {key: {"S": json.dumps(lease)} for key, lease in state.inflight.items()}},
        }
        try:
            if state.rev == 0:
                self._db.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            else:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="rev = :rev",
                    ExpressionAttributeValues={":rev": {"N": str(state.rev)}},
                )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(
                    f"{state.object_type} {state.canonical_id} changed concurrently"
                ) from None
            raise
        state.rev += 1

    def end_lease(
        self,
        object_type: str,
        canonical_id: str,
        event_id: str,
        *,
        published: bool,
        lease: Mapping[str, Any] | None = None,
    ) -> None:
        """The event's publication is settled: on the bus (lease removed) or failed (lease expired).

        Bumps ``rev``, so a writer that loaded the state before cannot put the lease back.
        An expired lease lets the next delivery of the event take over its publication at once.
        """
        self.writes += 1
        names = {"#lease": event_id}
        key = _state_key(object_type, canonical_id)
        values: dict[str, Any] = {":one": {"N": "1"}}
        if published:
            update, condition = "REMOVE inflight.#lease ADD rev :one", "attribute_exists(pk)"
        else:
            update, condition = (
                "SET inflight.#lease = :expired ADD rev :one",
                "attribute_exists(inflight.#lease)",
            )
            values[":expired"] = {"S": json.dumps({**(lease or {}), "until": 0})}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- duplicate-detection index ------------------------------------------------------
    def index_entries(self, keys: Iterable[str]) -> dict[str, IndexEntry]:
        """index key -> the clients registered under it (and the entry's revision)."""
        wanted = sorted(set(keys))
        found = {key: IndexEntry(frozenset(), 0) for key in wanted}
        for item in self._batch_get([_match_key(key) for key in wanted]):
            key = item["pk"]["S"].removeprefix(_MATCH_PREFIX)
            found[key] = IndexEntry(frozenset(item.get("ids", {}).get("SS", [])), int(item["rev"]["N"]))
        return found

    def profiles(self, canonical_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """canonical id -> the client's stored identity profile (as ``ClientProfile.to_dict``)."""
        keys = [_profile_key(cid) for cid in sorted(set(canonical_ids))]
        return {
            item["pk"]["S"].removeprefix(_PROFILE_PREFIX): json.loads(item["profile"]["S"])
            for item in self._batch_get(keys)
        }

    def register_client(
        self,
        connection: str,
        native_id: str,
        canonical_id: str,
        *,
        profile: Mapping[str, Any],
        seen: Mapping[str, IndexEntry],
        decision: Mapping[str, Any],
        new_client: bool,
    ) -> Resolution:
        """Bind the native record to ``canonical_id`` and register its keys, in one transaction.

        Conditional on every index entry in ``seen`` being unchanged since the match was
        decided: two first sightings of one company at once cannot both register as new
        clients without seeing each other (the loser gets ``IndexChanged`` and decides again).
        If the native record was bound meanwhile, returns that binding.
        """
        self.writes += 1
        now = str(int(time.time()))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_xref_key("Client", connection, native_id),
                        "canonical_id": {"S": canonical_id},
                        "linked_at": {"N": now},
                        "match": {"S": json.dumps(decision, sort_keys=True, default=str)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        for key, entry in sorted(seen.items()):
            condition = "attribute_not_exists(pk)" if entry.rev == 0 else "#rev = :seen"
            values: dict[str, Any] = {":id": {"SS": [canonical_id]}, ":one": {"N": "1"}}
            if entry.rev:
                values[":seen"] = {"N": str(entry.rev)}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _match_key(key),
                        "UpdateExpression": "ADD ids :id, #rev :one",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#rev": "rev"},
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        if new_client:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_profile_key(canonical_id),
                            "profile": {"S": json.dumps(profile, sort_keys=True)},
                        },
                    }
                }
            )
        try:
            self._db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                existing = self.lookup("Client", connection, native_id)
                if existing:
                    return Resolution(existing, False)
            if "ConditionalCheckFailed" in reasons or not reasons:
                raise IndexChanged(
                    f"the client index changed while matching {connection} {native_id}"
                ) from None
            raise
        return Resolution(canonical_id, True)

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            while pending:
                self.reads += 1
                response = self._db.batch_get_item(RequestItems=pending)
                items += response["Responses"].get(self._table, [])
                pending = response.get("UnprocessedKeys") or {}
        return items
