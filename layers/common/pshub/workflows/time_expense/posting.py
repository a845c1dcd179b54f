"""Posting approved time and expenses to one ERP connection: exactly once, at the ERP's pace.

The posting function of an ERP connection receives the approvals step's instructions
(``TimeApprovalV1``) from the connection's own queue, in batches as large as the ERP takes in
one call, and makes the ERP hold, per entry, exactly the line of the highest version:

- nothing posted yet, a line wanted: post it (in one batch call with the others);
- a line posted, another wanted (an adjustment): the ERP's native adjustment of the
  posted document (NetSuite: the time bill updated in place), never a second posting;
- a line posted, none wanted (a rejection after approval): the document reversed.

The ledger (``pshub.store.postings``) decides. A version at or below the one applied is a
duplicate (a redelivery, a replay, a retry, a second webhook for the same change): nothing
is sent. Before a call the entries are marked ``sending``; a definite answer settles them; a
call that never answered (``OutcomeUnknown``) leaves them ``sending``, and the retry reads
the ERP back (by the entry's id, which every ERP document carries) before anything is sent
again. Never blind.

Failures, by what they mean:
- throttling (429 with or without ``Retry-After``, 503, the vendors' own signals): the work
  goes back on the queue with a delay (``Retry-After`` or the connection's hold, else backoff), and it does not count
  as an attempt: a month-end burst slows down, it never dead-letters;
- other transient faults (timeouts, 5xx, lost connections): back on the queue with backoff,
  counted; after ``max_attempts`` the message goes to the DLQ with the reason;
- a refusal of the whole call (bad credentials, a malformed request): the DLQ, with the
  reason, at once;
- a business refusal of one entry (closed period, unknown or inactive project, unknown
  worker, no rate): a business exception with its owner, the hours and the amount at risk;
  the ledger marks the version refused, and retrying the exception posts it once fixed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import CanonicalEvent, PostingLineV1, TimeApprovalV1
from pshub.canonical.model import ApprovalStatus, Expense, TimeEntry
from pshub.connectors.erp import ErpConnector
from pshub.connectors.errors import (
    ConnectorError,
    OutcomeUnknown,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.results import PostingStatus
from pshub.observability import logger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.postings import PostingLedger, PostingRecord

MAX_DELAY_S = 900  # SQS's longest message delay
BASE_BACKOFF_S = 2.0
DEFAULT_MAX_ATTEMPTS = 8
# Time an invocation keeps in hand: one call's longest limiter wait (max_wait_s, 20 s) and its answer.
TIME_MARGIN_S = 25.0
ATTEMPT_ATTRIBUTE = "pshub-attempt"  # transient failures so far (throttles are not counted)
THROTTLE_ATTRIBUTE = "pshub-throttled"  # throttles so far (for the record; never a reason to stop)


@dataclass
class Work:
    """One message of the batch."""

    message_id: str
    body: str
    event: CanonicalEvent
    approval: TimeApprovalV1
    attempts: int = 0
    throttles: int = 0


@dataclass
class BatchOutcome:
    posted: int = 0
    adjusted: int = 0
    reversed: int = 0
    duplicates: int = 0
    refused: int = 0
    requeued: int = 0
    dead_lettered: int = 0
    read_back: int = 0
    delays: list[float] = field(default_factory=list)


Requeue = Callable[[str, float, int, int], None]  # (body, delay s, attempts, throttles)
DeadLetter = Callable[[str, str, str], None]  # (body, error class, reason)


def parse_work(message_id: str, body: str, attributes: dict[str, str]) -> Work:
    event = CanonicalEvent.model_validate_json(body)
    return Work(
        message_id=message_id,
        body=body,
        event=event,
        approval=TimeApprovalV1.model_validate(event.payload),
        attempts=int(attributes.get(ATTEMPT_ATTRIBUTE) or 0),
        throttles=int(attributes.get(THROTTLE_ATTRIBUTE) or 0),
    )


def eventbridge_body(body: str) -> str:
    """The canonical event inside a message EventBridge delivered (its ``detail``), or ``body``
    itself when it is already one (a requeued or redriven message)."""
    document = json.loads(body)
    if isinstance(document, dict) and "detail" in document and "detail-type" in document:
        return json.dumps(document["detail"], separators=(",", ":"))
    return body


class ErpPoster:
    def __init__(
        self,
        *,
        connection_id: str,
        connector: Callable[[], ErpConnector],
        ledger: PostingLedger,
        exceptions: ExceptionStore,
        requeue: Requeue,
        dead_letter: DeadLetter,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.connection_id = connection_id
        self._connector = connector
        self._ledger = ledger
        self._exceptions = exceptions
        self._requeue = requeue
        self._dead_letter = dead_letter
        self._max_attempts = max_attempts
        self._jitter = jitter

    # -- the batch ----------------------------------------------------------------------------
    def post(self, batch: Sequence[Work], remaining_s: Callable[[], float] | None = None) -> BatchOutcome:
        """Handle every message of ``batch``: applied, duplicate, requeued or dead-lettered.
        Raises only when the ledger cannot be read or written (SQS retries the batch).

        ``remaining_s``: the invocation's time left (Lambda's). Under ``TIME_MARGIN_S`` nothing
        more is sent: the rest goes back on the queue at once, uncounted, rather than being cut
        off by the timeout mid-call (a call without an answer costs a read-back, and a timed-out
        invocation counts towards the DLQ's receive count)."""
        outcome = BatchOutcome()
        latest = self._newest_per_entry(batch, outcome)
        if not latest:
            return outcome
        records = self._ledger.postings(list(latest))
        creates: dict[str, list[tuple[Work, PostingRecord]]] = {"time": [], "expense": []}
        singles: list[tuple[Work, PostingRecord, str]] = []
        for entry_id, work in latest.items():
            record = records[entry_id]
            if _applied(record, work.approval.version):
                outcome.duplicates += 1
                continue
            if record.state == "sending" and not self._read_back_or_retry(work, record, outcome):
                continue
            action = _action(record, work.approval)
            if action == "settle":
                self._settle(work, record, record.document_id, work.approval.line, "unchanged")
                outcome.duplicates += 1
            elif action == "create":
                creates[work.approval.kind].append((work, record))
            else:
                singles.append((work, record, action))
        connector = self._connector()
        calls: list[tuple[list[Work], Callable[[], None]]] = []
        for kind, items in creates.items():
            size = max(1, connector.max_batch)
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                calls.append(([w for w, _ in chunk], partial(self._create, connector, kind, chunk, outcome)))
        for work, record, action in singles:
            calls.append(([work], partial(self._single, connector, work, record, action, outcome)))
        self._run(calls, remaining_s, outcome)
        return outcome

    def _run(
        self,
        calls: list[tuple[list[Work], Callable[[], None]]],
        remaining_s: Callable[[], float] | None,
        outcome: BatchOutcome,
    ) -> None:
        """Make the calls in order while the invocation has time; requeue the rest, uncounted."""
        for done, (_works, call) in enumerate(calls):
            if remaining_s is not None and remaining_s() < TIME_MARGIN_S:
                for rest, _ in calls[done:]:
                    for work in rest:
                        self._requeue(work.body, 0.0, work.attempts, work.throttles)
                        outcome.requeued += 1
                logger.info("out of time: rest of the batch requeued", extra={"requeued": outcome.requeued})
                break
            call()

    def _newest_per_entry(self, batch: Sequence[Work], outcome: BatchOutcome) -> dict[str, Work]:
        """Per entry, the newest version in the batch (the older ones it supersedes are done)."""
        latest: dict[str, Work] = {}
        for work in batch:
            if work.approval.erp_connection != self.connection_id:
                self._dead_letter(
                    work.body,
                    "WrongConnection",
                    f"instruction for {work.approval.erp_connection} reached {self.connection_id}'s queue",
                )
                outcome.dead_lettered += 1
                continue
            held = latest.get(work.approval.entry_id)
            if held is None or work.approval.version > held.approval.version:
                latest[work.approval.entry_id] = work
            outcome.duplicates += held is not None
        return latest

    def _read_back_or_retry(self, work: Work, record: PostingRecord, outcome: BatchOutcome) -> bool:
        """An earlier call for the entry never answered: read the ERP back; False if that failed."""
        try:
            self._read_back(work, record)
        except ConnectorError as error:
            self._failed([work], error, outcome)
            return False
        outcome.read_back += 1
        return True

    # -- creating ------------------------------------------------------------------------------
    def _create(
        self,
        connector: ErpConnector,
        kind: str,
        items: list[tuple[Work, PostingRecord]],
        outcome: BatchOutcome,
    ) -> None:
        sending = self._mark_all_sending(items, outcome)
        if not sending:
            return
        try:
            if kind == "time":
                entries = [_time_entry(w.approval) for w, _ in sending]
                rates = {
                    w.approval.entry_id: w.approval.line.rate
                    for w, _ in sending
                    if w.approval.line and w.approval.line.rate
                }
                results = connector.post_time_entries(entries, rates)
            else:
                results = connector.post_expenses([_expense(w.approval) for w, _ in sending])
        except ConnectorError as error:
            self._unsend(sending, error)
            self._failed([w for w, _ in sending], error, outcome)
            return
        settled: list[PostingRecord] = []
        notes: list[dict[str, Any] | None] = []
        for (work, record), result in zip(sending, results, strict=True):
            if result.status is PostingStatus.REJECTED:
                self._refused(work, record, result.reason or "refused", result.platform_code, outcome)
            else:
                notes.append(
                    self._settled(work, record, result.native_id, work.approval.line, result.status.value)
                )
                settled.append(record)
                outcome.posted += 1
        self._ledger.save_postings(settled, notes)  # a stale one was moved on by its newer version

    # -- adjusting and reversing --------------------------------------------------------------
    def _single(
        self, connector: ErpConnector, work: Work, record: PostingRecord, action: str, outcome: BatchOutcome
    ) -> None:
        if not self._mark_all_sending([(work, record)], outcome):
            return
        approval = work.approval
        document = record.document_id
        assert document is not None
        try:
            if action == "adjust" and approval.kind == "time":
                line = approval.line
                connector.adjust_time_entry(document, _time_entry(approval), line.rate if line else None)
            elif action == "adjust":
                connector.adjust_expense(document, _expense(approval))
            elif approval.kind == "time":
                connector.reverse_time_entry(document, approval.entry_id)
            else:
                connector.reverse_expense(document, approval.entry_id)
        except PermanentConnectorError as error:
            if error.http_status in (401, 403) and not _is_business(error):
                self._unsend([(work, record)], error)
                self._failed([work], error, outcome)
                return
            self._refused(work, record, _refusal(error), error.platform_code, outcome)
            return
        except ConnectorError as error:
            self._unsend([(work, record)], error)
            self._failed([work], error, outcome)
            return
        if action == "adjust":
            self._settle(work, record, document, approval.line, "adjusted")
            outcome.adjusted += 1
        else:
            self._settle(work, record, None, None, "reversed")
            outcome.reversed += 1

    # -- ledger transitions --------------------------------------------------------------------
    def _unsend(self, items: Sequence[tuple[Work, PostingRecord]], error: ConnectorError) -> None:
        """A definite failure: nothing reached the ERP, so the entries are not ``sending``."""
        if isinstance(error, OutcomeUnknown) or error.http_status is None:
            return  # no answer (a timeout, a lost connection): it may have; the retry reads back first
        for _work, record in items:
            record.state = "posted" if record.line is not None else "new"
            record.target_version = None
        self._ledger.save_postings([r for _, r in items])  # a stale one: someone moved it on

    def _mark_all_sending(
        self, items: list[tuple[Work, PostingRecord]], outcome: BatchOutcome
    ) -> list[tuple[Work, PostingRecord]]:
        for work, record in items:
            record.state = "sending"
            record.target_version = work.approval.version
            record.kind = work.approval.kind
            record.project_code = work.approval.project_code
            record.erp_connection = self.connection_id
        written = self._ledger.save_postings([r for _, r in items])
        sending = []
        for (work, record), ok in zip(items, written, strict=True):
            if ok:
                sending.append((work, record))
            else:  # another invocation is on the same entry: look again shortly, not counted
                self._requeue(work.body, 1.0 + self._jitter(), work.attempts, work.throttles)
                outcome.requeued += 1
        return sending

    def _settle(
        self,
        work: Work,
        record: PostingRecord,
        document_id: str | None,
        line: PostingLineV1 | None,
        note: str,
    ) -> None:
        self._ledger.save_posting(record, self._settled(work, record, document_id, line, note))

    @staticmethod
    def _settled(
        work: Work, record: PostingRecord, document_id: str | None, line: PostingLineV1 | None, note: str
    ) -> dict[str, Any]:
        """The record moved to what the ERP now holds; the history note to keep with it."""
        record.version = work.approval.version
        record.state = "posted" if line is not None else ("reversed" if record.document_id else "withdrawn")
        record.target_version = None
        record.document_id = document_id
        record.line = line.model_dump(mode="json") if line is not None else None
        record.refusal = None
        return {"version": work.approval.version, "did": note, "document": document_id}

    def _refused(
        self, work: Work, record: PostingRecord, reason: str, code: str | None, outcome: BatchOutcome
    ) -> None:
        approval = work.approval
        record.version = approval.version
        record.state = "rejected"
        record.target_version = None
        record.refusal = reason
        self._ledger.save_posting(record, {"version": approval.version, "did": "refused", "reason": reason})
        outcome.refused += 1
        line = approval.line or approval.previous
        what = "time entry" if approval.kind == "time" else "expense"
        exception = BusinessException(
            id=exception_id(Category.POSTING_REJECTED, approval.entry_id, str(approval.version)),
            category=Category.POSTING_REJECTED,
            owner_team=_owner(reason),
            title=f"ERP refused the {what} for project {approval.project_code}: {reason}",
            detail=(
                f"{self.connection_id} refused version {approval.version} of {what} "
                f"{approval.source_connection}/{approval.source_native_id} by {approval.worker or 'an unknown worker'}"
                f" ({reason}). Fix it in the ERP or the source, then retry the exception to post it."
            ),
            business_keys={
                "entry_id": approval.entry_id,
                "project": approval.project_code,
                "erp_connection": self.connection_id,
                "source": f"{approval.source_connection}/{approval.source_native_id}",
                **({"worker": approval.worker} if approval.worker else {}),
            },
            context={
                "retry": {
                    "stage": "posting",
                    "erp_connection": self.connection_id,
                    "event": work.event.model_dump(mode="json"),
                },
                "platform_code": code,
                "version": approval.version,
            },
            correlation_id=work.event.correlation_id,
            hours_at_risk=str(line.hours) if line and line.hours is not None else None,
            amount_at_risk=f"{line.amount.amount} {line.amount.currency}" if line and line.amount else None,
        )
        self._exceptions.raise_or_reopen(exception)
        logger.info(
            "ERP refused an entry",
            extra={"entry_id": approval.entry_id, "version": approval.version, "exception_id": exception.id},
        )

    def _read_back(self, work: Work, record: PostingRecord) -> None:
        """A call for this entry never answered: what does the ERP hold now?"""
        connector = self._connector()
        found = (
            connector.find_time_entry(work.approval.entry_id)
            if work.approval.kind == "time"
            else connector.find_expense(work.approval.entry_id)
        )
        if found is None:
            record.document_id = None
            record.line = None
        else:
            record.document_id = found.document_id
            held = dict(record.line or {})
            if found.hours is not None:
                held["hours"] = str(found.hours)
            if found.work_date is not None:
                held["work_date"] = found.work_date.isoformat()
            if found.amount is not None:
                held["amount"] = found.amount.model_dump(mode="json")
            record.line = held or None
        record.state = "posted" if record.line is not None else "new"
        record.target_version = None

    # -- failures ------------------------------------------------------------------------------
    def _failed(self, works: Sequence[Work], error: ConnectorError, outcome: BatchOutcome) -> None:
        throttled = isinstance(error, RateLimited) or (
            isinstance(error, TransientConnectorError) and error.http_status == 503
        )
        for work in works:
            if throttled:
                wait = error.retry_after_s if isinstance(error, TransientConnectorError) else None
                delay = wait if wait else _backoff(work.throttles, self._jitter())
                self._requeue(work.body, delay, work.attempts, work.throttles + 1)
                outcome.requeued += 1
                outcome.delays.append(delay)
            elif isinstance(error, TransientConnectorError) and work.attempts + 1 < self._max_attempts:
                delay = _backoff(work.attempts, self._jitter())
                self._requeue(work.body, delay, work.attempts + 1, work.throttles)
                outcome.requeued += 1
                outcome.delays.append(delay)
            else:
                why = (
                    f"gave up after {work.attempts + 1} attempts: {error}"
                    if isinstance(error, TransientConnectorError)
                    else str(error)
                )
                self._dead_letter(work.body, type(error).__name__, why[:1000])
                outcome.dead_lettered += 1


def _applied(record: PostingRecord, version: int) -> bool:
    """Whether ``version`` (or a newer one) was applied: a duplicate. A refused version may be
    applied again (the retry after the fix)."""
    if record.version > version:
        return True
    return record.version == version and record.state not in ("rejected", "sending")


def _action(record: PostingRecord, approval: TimeApprovalV1) -> str:
    wanted = approval.line
    if record.line is None or record.document_id is None:
        return "create" if wanted is not None else "settle"
    if wanted is None:
        return "reverse"
    held = record.line
    same = (
        _decimal(held.get("hours")) == wanted.hours
        and held.get("work_date") == wanted.work_date.isoformat()
        and (held.get("amount") or None) == (wanted.amount.model_dump(mode="json") if wanted.amount else None)
        and record.project_code == approval.project_code
    )
    return "settle" if same else "adjust"


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _time_entry(approval: TimeApprovalV1) -> TimeEntry:
    line = approval.line
    assert line is not None and line.hours is not None
    return TimeEntry(
        id=approval.entry_id,
        project_id=approval.project_code,
        worker_id=approval.worker,
        work_date=line.work_date,
        hours=line.hours,
        billable=line.billable,
        role=line.role,
        status=ApprovalStatus.APPROVED,
        approved_at=approval.approved_at,
        notes=line.notes,
    )


def _expense(approval: TimeApprovalV1) -> Expense:
    line = approval.line
    assert line is not None and line.amount is not None
    return Expense(
        id=approval.entry_id,
        project_id=approval.project_code,
        worker_id=approval.worker,
        incurred_on=line.work_date,
        amount=line.amount,
        category=line.category or "other",
        billable=line.billable,
        status=ApprovalStatus.APPROVED,
        approved_at=approval.approved_at,
        receipt_ref=line.receipt_ref,
    )


def _backoff(attempt: int, jitter: float) -> float:
    """Full-jitter exponential backoff: 2, 4, 8 ... s (at most SQS's 900 s), times 0.5-1.5."""
    return float(min(MAX_DELAY_S, BASE_BACKOFF_S * (2 ** min(attempt, 9)) * (0.5 + jitter)))


def _owner(reason: str) -> OwnerTeam:
    text = reason.lower()
    if "period" in text or "worker" in text or "employee" in text:
        return OwnerTeam.FINANCE_OPS
    return OwnerTeam.PMO


def _is_business(error: PermanentConnectorError) -> bool:
    detail = f"{error.platform_message or ''} {error}".lower()
    return any(word in detail for word in ("period", "inactive", "project", "billed", "employee"))


def _refusal(error: PermanentConnectorError) -> str:
    detail = (error.platform_message or str(error)).strip()
    return detail[:300]
