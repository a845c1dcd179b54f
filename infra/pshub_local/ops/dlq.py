"""Dead-letter queues: what is stuck, why, and putting it back without posting twice.

``overview`` gives every queue's depth beside its dead-letter queue's, with the oldest dead
letter's age. ``read`` holds a dead-letter queue's messages out of sight while they are
decoded (the connection, the event type, the correlation id, the error: the reason a posting
function attached, else the consumer's last recorded failure) and ``release`` lets them be
seen again. ``redrive`` sends the selected messages back to the queue they came from, then
deletes them from the dead-letter queue; those not selected are released untouched. Running
it twice is safe: a message redriven twice (a crash between send and delete) is absorbed by
the consumers' idempotency (the posting ledger, the inboxes), so nothing posts twice.

Redriving a whole queue against AWS uses SQS's own message-move task; a selection (or the
local runtime, where moto has no move task) is moved message by message.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pshub.pipeline.failures import read_failures
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.workflows.time_expense.posting import ATTEMPT_ATTRIBUTE, THROTTLE_ATTRIBUTE
from pshub.workflows.time_expense.queueing import ERROR_CLASS_ATTRIBUTE, ERROR_REASON_ATTRIBUTE
from pshub_infra.topology import PIPELINE, Topology
from pshub_local.ops.render import mask, mask_text
from pshub_local.ops.target import Target, TargetError

# Attributes a posting function (or EventBridge) puts on a message it dead-letters: the reason.
# They, and the posting attempt counters, are not sent back: a redriven message starts afresh.
ERROR_CLASS_ATTRIBUTES = (ERROR_CLASS_ATTRIBUTE, "ERROR_CODE")
ERROR_REASON_ATTRIBUTES = (ERROR_REASON_ATTRIBUTE, "ERROR_MESSAGE")
NOT_RESENT = frozenset(
    {
        *ERROR_CLASS_ATTRIBUTES,
        *ERROR_REASON_ATTRIBUTES,
        ATTEMPT_ATTRIBUTE,
        THROTTLE_ATTRIBUTE,
        "RULE_ARN",
        "TARGET_ARN",
    }
)
HOLD_S = 120  # how long a read keeps the messages out of sight (released at the end either way)


@dataclass
class QueueRow:
    key: str
    depth: int
    in_flight: int
    dead_letter_queue: str | None
    dead_letters: int
    oldest_dead_letter_age_s: float | None


@dataclass
class DeadLetter:
    queue: str
    message_id: str
    sent_at: str
    receive_count: int
    connection: str | None
    event_type: str | None
    correlation_id: str | None
    error_class: str | None
    error: str | None
    body: Any  # decoded, masked
    receipt_handle: str = field(default="", repr=False)
    raw_body: str = field(default="", repr=False)
    message_attributes: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_doc(self) -> dict[str, Any]:
        document = asdict(self)
        for private in ("receipt_handle", "raw_body", "message_attributes"):
            document.pop(private)
        return document


@dataclass(frozen=True)
class Selection:
    """Which dead letters a redrive moves; every given criterion must hold."""

    connection: str | None = None
    event_type: str | None = None  # a glob: TimeEntry*
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    message_ids: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not (
            self.connection
            or self.event_type
            or self.error_class
            or self.since
            or self.until
            or self.message_ids
        )

    def matches(self, letter: DeadLetter) -> bool:
        sent = datetime.fromisoformat(letter.sent_at)
        return (
            (not self.connection or letter.connection == self.connection)
            and (not self.event_type or fnmatch.fnmatchcase(letter.event_type or "", self.event_type))
            and (not self.error_class or letter.error_class == self.error_class)
            and (self.since is None or sent >= self.since)
            and (self.until is None or sent < self.until)
            and (not self.message_ids or letter.message_id in self.message_ids)
        )


@dataclass
class RedriveReport:
    queue: str
    destination: str
    dry_run: bool
    method: str  # "message-move-task" | "per-message"
    selected: list[dict[str, Any]] = field(default_factory=list)
    moved: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    task_handle: str | None = None


def dead_letter_queues(topology: Topology = PIPELINE) -> dict[str, str | None]:
    return topology.dead_letter_sources()


def check_queue(key: str, topology: Topology = PIPELINE) -> str:
    """``key`` if it is a dead-letter queue; a ``TargetError`` naming the ones there are otherwise."""
    queues = dead_letter_queues(topology)
    if key not in queues:
        raise TargetError(f"{key} is not a dead-letter queue; they are: {', '.join(sorted(queues))}")
    return key


def overview(target: Target, topology: Topology = PIPELINE) -> list[QueueRow]:
    sqs = target.client("sqs")
    sources = topology.dead_letter_sources()
    dlq_of = {source: dlq for dlq, source in sources.items() if source}
    rows = []
    for queue in topology.queues:
        if queue.key in sources:
            continue  # a dead-letter queue is shown beside its source
        depth, in_flight = _depth(sqs, target.resource("queue", queue.key))
        dlq = dlq_of.get(queue.key)
        dead, oldest = _dlq_depth_and_age(target, dlq) if dlq else (0, None)
        rows.append(QueueRow(queue.key, depth, in_flight, dlq, dead, oldest))
    for dlq, source in sorted(sources.items()):
        if source is None:  # a dead-letter queue with no queue of its own (rules to logs, schedules)
            dead, oldest = _dlq_depth_and_age(target, dlq)
            rows.append(QueueRow(f"({dlq})", 0, 0, dlq, dead, oldest))
    return rows


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _dlq_depth_and_age(target: Target, dlq: str) -> tuple[int, float | None]:
    sqs = target.client("sqs")
    url = target.resource("queue", dlq)
    depth, in_flight = _depth(sqs, url)
    if depth + in_flight == 0:
        return 0, None
    return depth + in_flight, _oldest_age(target, url)


def _oldest_age(target: Target, url: str) -> float | None:
    """CloudWatch's ApproximateAgeOfOldestMessage where there is one (AWS); else the oldest of a
    sample read without hiding anything (visibility 0), a lower bound."""
    if not target.local and not target.endpoint_url:
        from datetime import timedelta

        now = datetime.now(UTC)
        answer = target.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": url.rsplit("/", 1)[-1]}],
            StartTime=now - timedelta(minutes=15), EndTime=now, Period=300, Statistics=["Maximum"],
        )  # fmt: skip
        points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
        if points:
            return float(points[-1]["Maximum"])
    sample = (
        target.client("sqs")
        .receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["SentTimestamp"]
        )
        .get("Messages", [])
    )
    sent = [int(m["Attributes"]["SentTimestamp"]) / 1000 for m in sample]
    return time.time() - min(sent) if sent else None


def read(target: Target, dlq: str, limit: int | None = None, hold_s: int = HOLD_S) -> list[DeadLetter]:
    """The dead-letter queue's messages (up to ``limit``), decoded and masked, held out of sight."""
    sqs = target.client("sqs")
    url = target.resource("queue", check_queue(dlq))
    letters: list[DeadLetter] = []
    while limit is None or len(letters) < limit:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=hold_s, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        if not batch:
            break
        letters += [_decode(dlq, m) for m in batch]
    _attach_recorded_failures(target, letters)
    return letters[:limit] if limit is not None else letters


def release(target: Target, dlq: str, letters: Iterable[DeadLetter]) -> None:
    """Make held messages visible again, as they were."""
    sqs = target.client("sqs")
    url = target.resource("queue", dlq)
    pending = [letter for letter in letters if letter.receipt_handle]
    for start in range(0, len(pending), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                for i, letter in enumerate(pending[start : start + 10])
            ],
        )


def redrive(
    target: Target,
    dlq: str,
    selection: Selection,
    *,
    dry_run: bool,
    per_message: bool = False,
    advance: Callable[[int], None] = lambda n: None,
    topology: Topology = PIPELINE,
) -> RedriveReport:
    source = topology.dead_letter_sources().get(check_queue(dlq, topology))
    if source is None:
        raise TargetError(
            f"{dlq} has no queue to redrive to (its messages are a rule's or the scheduler's); "
            "`pshub dlq show` gives each message to re-run by hand"
        )
    sqs = target.client("sqs")
    if selection.everything and not dry_run and not per_message and not target.local:
        try:
            return _move_task(target, dlq, source)
        except NotImplementedError:
            pass  # moto has no message-move task: moved message by message below
    report = RedriveReport(dlq, source, dry_run, "per-message")
    letters = read(target, dlq)
    chosen = [letter for letter in letters if selection.matches(letter)]
    report.selected = [letter.to_doc() for letter in chosen]
    report.skipped = len(letters) - len(chosen)
    try:
        if dry_run:
            return report
        destination = target.resource("queue", source)
        dlq_url = target.resource("queue", dlq)
        for start in range(0, len(chosen), 10):
            batch = chosen[start : start + 10]
            sent = sqs.send_message_batch(
                QueueUrl=destination,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": letter.raw_body,
                        "MessageAttributes": letter.message_attributes,
                    }
                    if letter.message_attributes
                    else {"Id": str(i), "MessageBody": letter.raw_body}
                    for i, letter in enumerate(batch)
                ],
            )
            ok = {int(s["Id"]) for s in sent.get("Successful", [])}
            for failure in sent.get("Failed", []):
                letter = batch[int(failure["Id"])]
                report.failures.append(f"{letter.message_id}: {failure.get('Message', failure.get('Code'))}")
            moved = [letter for i, letter in enumerate(batch) if i in ok]
            if moved:  # deleted only once sent: a crash in between redrives it again, harmlessly
                sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(moved)],
                )
                for letter in moved:
                    letter.receipt_handle = ""
            report.moved += len(moved)
            report.failed += len(batch) - len(moved)
            advance(len(batch))
    finally:
        release(target, dlq, letters)
    return report


def _move_task(target: Target, dlq: str, source: str) -> RedriveReport:
    sqs = target.client("sqs")
    arn = _arn(sqs, target.resource("queue", dlq))
    destination = _arn(sqs, target.resource("queue", source))
    depth, _ = _depth(sqs, target.resource("queue", dlq))
    from botocore.exceptions import ClientError

    try:
        handle = sqs.start_message_move_task(SourceArn=arn, DestinationArn=destination)["TaskHandle"]
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if target.endpoint_url and status >= 500:  # an emulator without the move task
            raise NotImplementedError("start_message_move_task") from error
        raise
    return RedriveReport(dlq, source, False, "message-move-task", moved=depth, task_handle=handle)


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _decode(queue: str, message: dict[str, Any]) -> DeadLetter:
    body_text: str = message["Body"]
    attributes = message.get("Attributes", {})
    message_attributes = message.get("MessageAttributes", {})
    connection = event_type = correlation_id = None
    decoded: Any
    try:
        delivery = RawDelivery.from_message(body_text)
    except (ValueError, KeyError, TypeError):
        delivery = None
    if delivery is not None and getattr(delivery, "connection", None):
        connection, event_type, correlation_id = (
            delivery.connection,
            f"raw:{delivery.platform}",
            delivery.correlation_id,
        )
        decoded = {
            "delivery_id": delivery.delivery_id, "received_at": delivery.received_at, "url": delivery.url,
            "body": mask_text(delivery.body_text) if delivery.body_text is not None else "(binary or claim-checked)",
        }  # fmt: skip
    else:
        try:
            document = json.loads(body_text)
        except ValueError:
            document = None
        if isinstance(document, dict):
            inner: dict[str, Any] = (
                document["detail"] if isinstance(document.get("detail"), dict) else document
            )
            connection = _str(inner.get("connection")) or _str(document.get("connection"))
            event_type = _str(document.get("detail-type")) or _str(inner.get("event_type"))
            correlation_id = _str(inner.get("correlation_id"))
            decoded = mask(document)
        else:
            decoded = mask_text(body_text)
    values = {name: str(value.get("StringValue", "")) for name, value in message_attributes.items()}
    error_class = next((values[n] for n in ERROR_CLASS_ATTRIBUTES if values.get(n)), None)
    error = next((values[n] for n in ERROR_REASON_ATTRIBUTES if values.get(n)), None)
    sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", "0")) / 1000, UTC)
    return DeadLetter(
        queue=queue,
        message_id=message["MessageId"],
        sent_at=sent.isoformat(timespec="seconds"),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        connection=connection,
        event_type=event_type,
        correlation_id=correlation_id,
        error_class=error_class,
        error=mask_text(error) if error else None,
        body=decoded,
        receipt_handle=message["ReceiptHandle"],
        raw_body=body_text,
        message_attributes=_resendable(message_attributes),
    )


def _attach_recorded_failures(target: Target, letters: Sequence[DeadLetter]) -> None:
    missing = [letter for letter in letters if letter.error_class is None]
    if not missing:
        return
    try:
        table = target.resource("table", "failures")
    except TargetError:
        return  # a stack from before failures were recorded
    recorded = read_failures(target.client("dynamodb"), table, [letter.message_id for letter in missing])
    for letter in missing:
        failure = recorded.get(letter.message_id)
        if failure:
            letter.error_class = failure.get("error_class")
            letter.error = mask_text(failure.get("error", ""))


def _resendable(attributes: dict[str, Any]) -> dict[str, Any]:
    """Message attributes as SendMessage takes them (string and number values)."""
    kept = {}
    for name, value in attributes.items():
        if name in NOT_RESENT:
            continue
        data_type = value.get("DataType", "String")
        if "StringValue" in value:
            kept[name] = {"DataType": data_type, "StringValue": value["StringValue"]}
        elif "BinaryValue" in value:
            kept[name] = {"DataType": data_type, "BinaryValue": value["BinaryValue"]}
    return kept


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def audit_redrive(target: Target, report: RedriveReport, selection: Selection, note: str) -> None:
    """The redrive on the audit trail: who, which queue, the selection, what moved."""
    from pshub.store.audit import AuditLog

    moved_ids = [letter["message_id"] for letter in report.selected][:100]
    criteria = {k: (sorted(v) if isinstance(v, frozenset) else v) for k, v in asdict(selection).items() if v}
    AuditLog(target.client("dynamodb"), target.resource("table", "audit")).record(
        queue_subject(report.queue),
        "dlq.redrive",
        target.actor(),
        note=note or None,
        before={"selection": {k: str(v) for k, v in criteria.items()}, "method": report.method},
        after={
            "destination": report.destination, "moved": report.moved, "skipped": report.skipped,
            "failed": report.failed, "message_ids": moved_ids,
        },
    )  # fmt: skip


def queue_subject(queue: str) -> str:
    return f"queue#{queue}"
