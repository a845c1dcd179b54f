"""Exactly-once claims on platform events, on Powertools idempotency records.

``idempotent_function`` would wrap one call per platform event; the normaliser
needs the same records split in phases so that one PutEvents call can carry the
events of many platform events: claim each (INPROGRESS), publish together, then
mark each COMPLETED or release it. The records, keys and expiry rules are
Powertools' own, in the idempotency table.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

# Longer than any platform keeps retrying (Stripe: 3 days; HubSpot, Salesforce: 1 day).
REMEMBER_SECONDS = 7 * 24 * 3600
KEY_PREFIX = "pshub.platform-event"


class Claim(Enum):
    NEW = "new"  # ours to process
    DONE = "done"  # already published: a redelivery
    IN_FLIGHT = "in_flight"  # another invocation holds it right now


class PlatformEventClaims:
    def __init__(self, persistence: DynamoDBPersistenceLayer) -> None:
        persistence.configure(
            IdempotencyConfig(
                event_key_jmespath="[connection, event_id]", expires_after_seconds=REMEMBER_SECONDS
            ),
            key_prefix=KEY_PREFIX,
        )
        self._store = persistence

    @staticmethod
    def _data(connection: str, event_id: str) -> dict[str, str]:
        return {"connection": connection, "event_id": event_id}

    def claim(self, connection: str, event_id: str, remaining_ms: Callable[[], int]) -> Claim:
        try:
            self._store.save_inprogress(self._data(connection, event_id), remaining_ms())
        except IdempotencyItemAlreadyExistsError as exists:
            record = exists.old_data_record
            if record is not None and record.status == STATUS_CONSTANTS["COMPLETED"]:
                return Claim.DONE
            return Claim.IN_FLIGHT
        return Claim.NEW

    def completed(self, connection: str, event_id: str) -> bool:
        """Whether this platform event was already published (one consistent read)."""
        try:
            record = self._store.get_record(self._data(connection, event_id))
        except IdempotencyItemNotFoundError:
            return False
        return record is not None and record.status == STATUS_CONSTANTS["COMPLETED"] and not record.is_expired

    def complete(self, connection: str, event_id: str, canonical_event_ids: list[str]) -> None:
        self._store.save_success(
            self._data(connection, event_id), {"canonical_event_ids": canonical_event_ids}
        )

    def release(self, connection: str, event_id: str, reason: Exception) -> None:
        self._store.delete_record(self._data(connection, event_id), reason)
