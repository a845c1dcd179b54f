"""A consumer inbox: each canonical event acted on once per consumer, however often it comes.

Canonical events reach a consumer more than once: SQS delivers at least once, the bus
archive replays for its retention, and the raw archive can be sent through the
normaliser again for years, which mints the same canonical event ids (the normaliser's
own claims last 7 days). A consumer that changes another system or moves money keeps
an inbox keyed on (consumer, canonical event id) and acts only on a NEW claim.

The records are Powertools idempotency records in the idempotency table (the field's
library, as ``event_claims`` uses them), split in phases as there: claim (INPROGRESS,
with the invocation's deadline), act, then complete, or release if the action failed.
They are kept for ``REPLAYABLE_SECONDS``: as long as the raw archive can replay an
event, from the one constant ``pshub.store.archive.RAW_ARCHIVE_RETENTION_DAYS``.

What each interleaving does:
- a duplicate while the first is still in progress: ``InFlight`` (a ``TransientError``),
  so the duplicate's message is retried later rather than dropped on the assumption
  that the holder will finish; by then it is DONE (skipped) or the holder died.
- a crash between claim and action: the INPROGRESS record expires at the crashed
  invocation's deadline, so the redelivery claims it again and acts.
- a failed completion write after the action: the record stays INPROGRESS until that
  deadline and the redelivery acts again. An inbox cannot make an action and a write to
  another system atomic, so the action must also be idempotent on a business key of its
  own for those seconds (the provisioning starter's execution name); the inbox is what
  holds for years after.

Each consumer needs its own persistence layer (Powertools configures one per layer), and
its role may be limited to its own items: every key starts with ``inbox_key_prefix``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

from pshub.errors import TransientError
from pshub.store.archive import REPLAYABLE_SECONDS

_T = TypeVar("_T")
# The DynamoDB actions the Powertools records take (claim, complete, release, read): all
# a consumer's role needs on its inbox.
INBOX_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")


def inbox_key_prefix(consumer: str) -> str:
    """What every inbox record of ``consumer`` starts with (``<prefix>#<hash>``), for IAM too."""
    return f"pshub.inbox.{consumer}"


class Seen(Enum):
    NEW = "new"  # ours to act on
    DONE = "done"  # handled before: act on nothing
    IN_FLIGHT = "in_flight"  # another invocation holds it right now


class InFlight(TransientError):
    """Another invocation is handling this canonical event now: retry the message later."""


class ConsumerInbox:
    def __init__(self, persistence: DynamoDBPersistenceLayer, consumer: str) -> None:
        persistence.configure(
            IdempotencyConfig(
                event_key_jmespath="[consumer, event_id]", expires_after_seconds=REPLAYABLE_SECONDS
            ),
            key_prefix=inbox_key_prefix(consumer),
        )
        self._store = persistence
        self.consumer = consumer

    def _data(self, event_id: str) -> dict[str, str]:
        return {"consumer": self.consumer, "event_id": event_id}

    def claim(self, event_id: str, remaining_ms: Callable[[], int]) -> Seen:
        """Hold ``event_id`` until the invocation's deadline (``remaining_ms``), unless it is held or done."""
        try:
            self._store.save_inprogress(self._data(event_id), remaining_ms())
        except IdempotencyItemAlreadyExistsError as exists:
            record = exists.old_data_record
            if record is not None and record.status == STATUS_CONSTANTS["COMPLETED"]:
                return Seen.DONE
            return Seen.IN_FLIGHT
        return Seen.NEW

    def complete(self, event_id: str, outcome: dict[str, Any]) -> None:
        """Remember ``event_id`` as handled, with what was done (for a person reading the record)."""
        self._store.save_success(self._data(event_id), outcome)

    def release(self, event_id: str, reason: Exception) -> None:
        """Forget the claim: the action failed and the message will be retried."""
        self._store.delete_record(self._data(event_id), reason)

    def handled(self, event_id: str) -> bool:
        """Whether ``event_id`` was handled and is still remembered (one consistent read)."""
        try:
            record = self._store.get_record(self._data(event_id))
        except IdempotencyItemNotFoundError:
            return False
        return record is not None and record.status == STATUS_CONSTANTS["COMPLETED"] and not record.is_expired

    def once(
        self,
        event_id: str,
        remaining_ms: Callable[[], int],
        action: Callable[[], _T],
        outcome: Callable[[_T], dict[str, Any]],
    ) -> tuple[Seen, _T | None]:
        """Run ``action`` unless ``event_id`` was handled: ``(NEW, result)`` or ``(DONE, None)``.

        Raises ``InFlight`` while another invocation holds it, and whatever ``action`` or
        the completion write raised (after releasing the claim if the action failed).
        """
        seen = self.claim(event_id, remaining_ms)
        if seen is Seen.DONE:
            return seen, None
        if seen is Seen.IN_FLIGHT:
            raise InFlight(
                f"{self.consumer}: canonical event {event_id} is being handled by another invocation"
            )
        try:
            result = action()
        except Exception as error:
            self.release(event_id, error)
            raise
        self.complete(event_id, outcome(result))
        return seen, result
