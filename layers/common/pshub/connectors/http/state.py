"""State the HTTP kit shares across every Lambda invocation: tokens, rate cells, quotas.

One DynamoDB table (``CONNECTOR_STATE_TABLE``, the topology's ``connector_state``)
holds an item per key; every change is a conditional write, so concurrent
invocations never both win. Without a table (unit tests, a one-off script) the
same operations run on a process-local dictionary: correct within the process only.

Times are integer microseconds since the epoch; DynamoDB's TTL attribute is ``purge_at``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol

STATE_TABLE_ENV_VAR = "CONNECTOR_STATE_TABLE"


class SharedState(Protocol):
    def get(self, key: str) -> dict[str, Any] | None:
        """The item under ``key`` (with its ``version``), or None."""
        ...

    def put(self, key: str, item: dict[str, Any], *, expected_version: int | None, ttl_s: int) -> bool:
        """Write ``item`` as version ``expected_version + 1`` (1 when ``expected_version`` is
        None: the key must not exist); False when someone else wrote first."""
        ...

    def take(self, key: str, *, now_us: int, cost_us: int, cap_us: int, ttl_s: int) -> tuple[int, int] | None:
        """Rate cell: reserve ``cost_us`` microseconds of send time; the reserved slot's start (``max(tat, now)``)
        and the cell's hold (nothing is sent before it; 0 when none), or None when the cell's theoretical
        arrival time is beyond ``cap_us`` (nothing reserved)."""
        ...

    def hold_until(self, key: str, *, until_us: int, refund_us: int = 0, ttl_s: int) -> None:
        """Rate cell: nothing is sent before ``until_us`` (a vendor's ``Retry-After``), and no slot starts
        before it: the budget is the declared burst again once the hold ends, never the time held.
        ``refund_us``: send time given back (a refused request's slot), never to before ``until_us``."""
        ...

    def add(self, key: str, amount: int, *, ceiling: int, ttl_s: int) -> int | None:
        """Counter: add ``amount`` unless the total would pass ``ceiling``; the new total, or None."""
        ...


class MemoryState:
    """Process-local state (one lock): what a single process needs, and the unit tests."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            return dict(item) if item is not None else None

    def put(self, key: str, item: dict[str, Any], *, expected_version: int | None, ttl_s: int) -> bool:
        with self._lock:
            current = self._items.get(key)
            if (current["version"] if current else None) != expected_version:
                return False
            self._items[key] = {**item, "version": (expected_version or 0) + 1}
            return True

    def take(self, key: str, *, now_us: int, cost_us: int, cap_us: int, ttl_s: int) -> tuple[int, int] | None:
        with self._lock:
            cell = self._items.get(key, {})
            slot = max(int(cell.get("tat", 0)), now_us)
            if slot > cap_us:
                return None
            held = int(cell.get("held", 0))
            self._items[key] = {"tat": slot + cost_us, "held": held}
            return slot, held

    def hold_until(self, key: str, *, until_us: int, refund_us: int = 0, ttl_s: int) -> None:
        with self._lock:
            cell = self._items.get(key, {})
            tat = int(cell.get("tat", 0))
            self._items[key] = {
                "tat": tat - refund_us if tat - refund_us >= until_us else max(tat, until_us),
                "held": max(int(cell.get("held", 0)), until_us),
            }

    def add(self, key: str, amount: int, *, ceiling: int, ttl_s: int) -> int | None:
        with self._lock:
            total = int(self._items.get(key, {}).get("n", 0)) + amount
            if total > ceiling:
                return None
            self._items[key] = {"n": total}
            return total


class DynamoDbState:
    """The shared table: conditional writes only, one request per operation in the common case."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def _failed(self, error: Exception) -> bool:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        return bool(code == "ConditionalCheckFailedException")

    def get(self, key: str) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.table_name, Key={"pk": {"S": key}}, ConsistentRead=True)
        item = answer.get("Item")
        if item is None:
            return None
        from boto3.dynamodb.types import TypeDeserializer

        plain = {name: TypeDeserializer().deserialize(value) for name, value in item.items()}
        plain.pop("pk", None)
        plain.pop("purge_at", None)
        return {name: _plain(value) for name, value in plain.items()}

    def put(self, key: str, item: dict[str, Any], *, expected_version: int | None, ttl_s: int) -> bool:
        from boto3.dynamodb.types import TypeSerializer

        record = {**item, "version": (expected_version or 0) + 1, "purge_at": _epoch_s() + ttl_s}
        serialised = {name: TypeSerializer().serialize(_decimal(value)) for name, value in record.items()}
        serialised["pk"] = {"S": key}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version is None
            else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        )
        try:
            self.client.put_item(TableName=self.table_name, Item=serialised, **condition)
        except Exception as error:
            if self._failed(error):
                return False
            raise
        return True

    def take(self, key: str, *, now_us: int, cost_us: int, cap_us: int, ttl_s: int) -> tuple[int, int] | None:
        expires = {"N": str(_epoch_s() + ttl_s)}
        for _ in range(8):  # each loop is a race lost to another invocation in the same millisecond
            try:  # the cell is idle: the slot starts now
                answer = self.client.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET tat = :next, purge_at = :e",
                    ConditionExpression="attribute_not_exists(tat) OR tat < :now",
                    ExpressionAttributeValues={
                        ":next": {"N": str(now_us + cost_us)},
                        ":now": {"N": str(now_us)},
                        ":e": expires,
                    },
                    ReturnValues="ALL_NEW",
                )
                return now_us, _held(answer)
            except Exception as error:
                if not self._failed(error):
                    raise
            try:  # busy: queue behind the last reservation, unless that is beyond the cap
                answer = self.client.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET tat = tat + :cost, purge_at = :e",
                    ConditionExpression="tat >= :now AND tat <= :cap",
                    ExpressionAttributeValues={
                        ":cost": {"N": str(cost_us)},
                        ":now": {"N": str(now_us)},
                        ":cap": {"N": str(cap_us)},
                        ":e": expires,
                    },
                    ReturnValues="ALL_NEW",
                )
                return int(answer["Attributes"]["tat"]["N"]) - cost_us, _held(answer)
            except Exception as error:
                if not self._failed(error):
                    raise
            current = self.get(key)
            if current is not None and int(current.get("tat", 0)) > cap_us:
                return None
        return None

    def hold_until(self, key: str, *, until_us: int, refund_us: int = 0, ttl_s: int) -> None:
        values = {":until": {"N": str(until_us)}, ":e": {"N": str(_epoch_s() + ttl_s)}}
        if refund_us:  # booked past the hold's end by at least the refund: give it back
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET tat = tat - :refund, purge_at = :e",
                    ConditionExpression="tat >= :floor",
                    ExpressionAttributeValues={
                        ":refund": {"N": str(refund_us)},
                        ":floor": {"N": str(until_us + refund_us)},
                        ":e": values[":e"],
                    },
                )
            except Exception as error:
                if not self._failed(error):  # booked less far ahead: the hold below covers it
                    raise
        for attribute in ("held", "tat"):  # each only ever moves later (a hold is rare: two writes)
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": key}},
                    UpdateExpression=f"SET {attribute} = :until, purge_at = :e",
                    ConditionExpression=f"attribute_not_exists({attribute}) OR {attribute} < :until",
                    ExpressionAttributeValues=values,
                )
            except Exception as error:
                if not self._failed(error):  # already at least that late: nothing to do
                    raise

    def add(self, key: str, amount: int, *, ceiling: int, ttl_s: int) -> int | None:
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                UpdateExpression="ADD n :amount SET purge_at = :e",
                ConditionExpression="attribute_not_exists(n) OR n <= :room",
                ExpressionAttributeValues={
                    ":amount": {"N": str(amount)},
                    ":room": {"N": str(ceiling - amount)},
                    ":e": {"N": str(_epoch_s() + ttl_s)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except Exception as error:
            if self._failed(error):
                return None
            raise
        return int(answer["Attributes"]["n"]["N"])


def _held(answer: dict[str, Any]) -> int:
    return int(answer["Attributes"].get("held", {}).get("N", 0))


def _epoch_s() -> int:
    import time

    return int(time.time())


def _decimal(value: Any) -> Any:
    """DynamoDB numbers are decimals: floats (epoch seconds) are written through their text."""
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimal(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_process_state: SharedState | None = None
_process_lock = threading.Lock()


def shared_state() -> SharedState:
    """The table named by ``CONNECTOR_STATE_TABLE``, else this process's memory (built once)."""
    global _process_state  # noqa: PLW0603 - one per execution environment, like a client
    table = os.environ.get(STATE_TABLE_ENV_VAR) or None
    with _process_lock:
        current = _process_state
        current_table = current.table_name if isinstance(current, DynamoDbState) else None
        if current is None or current_table != table:
            current = _process_state = DynamoDbState(table) if table else MemoryState()
        return current


def reset_shared_state() -> None:
    """Forget the process's state object (tests that switch tables)."""
    global _process_state  # noqa: PLW0603
    with _process_lock:
        _process_state = None
