"""Cross-system identity and per-entity sync state, in one DynamoDB table.

Items (``pk``, ``sk``):
- ``XREF#<type>#<connection>#<native id>``, ``XREF``: the canonical id of a native record.
  Written with ``attribute_not_exists`` so two concurrent first sightings of one
  native record cannot mint two canonical ids: the loser reads the winner's id.
- ``OBJ#<type>#<canonical id>``, ``STATE``: the entity's current canonical attribute
  values, the source version each attribute was last applied at, its ids in every
  system (``xrefs``), and what pshub itself last wrote to each system (``written``,
  for echo suppression). Updated with an optimistic ``rev`` check.
- ``MATCH#Client#<kind>#<normalised value>``, ``MATCH``: canonical ids of clients with
  that legal name / web domain / tax id, for duplicate detection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ConcurrentUpdate(Exception):
    """Another invocation changed the entity between our read and our write."""


@dataclass
class EntityState:
    object_type: str
    canonical_id: str
    rev: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    # attribute -> [version, tie-breaker]: a total order, so any arrival order converges.
    versions: dict[str, list[Any]] = field(default_factory=dict)
    xrefs: dict[str, str] = field(default_factory=dict)
    # connection -> attribute -> value pshub wrote there
    written: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolution:
    canonical_id: str
    first_sighting: bool


def _xref_key(object_type: str, connection: str, native_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"XREF#{object_type}#{connection}#{native_id}"}, "sk": {"S": "XREF"}}


def _state_key(object_type: str, canonical_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"OBJ#{object_type}#{canonical_id}"}, "sk": {"S": "STATE"}}


def new_canonical_id(object_type: str) -> str:
    return f"{object_type.lower()}_{uuid.uuid4().hex}"


class IdentityStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self.reads = 0
        self.writes = 0

    # -- cross-references -------------------------------------------------------------
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
        return EntityState(object_type, canonical_id, rev=int(item["rev"]["N"]), **doc)

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

    # -- duplicate-detection index ------------------------------------------------------
    def match_candidates(self, keys: Mapping[str, str]) -> dict[str, set[str]]:
        """kind -> canonical ids registered under that normalised value."""
        if not keys:
            return {}
        self.reads += 1
        wanted = {f"MATCH#Client#{kind}#{value}": kind for kind, value in keys.items()}
        response = self._db.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [{"pk": {"S": pk}, "sk": {"S": "MATCH"}} for pk in wanted],
                    "ConsistentRead": True,
                }
            }
        )
        found: dict[str, set[str]] = {}
        for item in response["Responses"].get(self._table, []):
            found[wanted[item["pk"]["S"]]] = set(item["ids"]["SS"])
        return found

    def register_match_keys(self, canonical_id: str, keys: Mapping[str, str]) -> None:
        for kind, value in keys.items():
            self.writes += 1
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"MATCH#Client#{kind}#{value}"}, "sk": {"S": "MATCH"}},
                UpdateExpression="ADD ids :id",
                ExpressionAttributeValues={":id": {"SS": [canonical_id]}},
            )
