"""The one definition of pshub's AWS resources.

The CDK constructs (``pshub_infra.constructs``) and the embedded local runtime
(``pshub_local.runtime``) both build what is declared here, so what the tests run
on moto is what ``cdk deploy`` creates. Nothing else may declare a queue, table,
bucket, bus, rule, function or state machine; ``tests/infrastructure`` checks the
synthesized template against this module.

Keys (``"raw_deliveries"``) are stable identifiers used by both runtimes; physical
names are derived from them (CDK lets CloudFormation name things; the local runtime
uses ``local_name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

from pshub.connections import Connection
from pshub.store.archive import RAW_ARCHIVE_RETENTION_DAYS
from pshub.workflows.time_expense.limits import PostingLimits

REPO_ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS_FILE = REPO_ROOT / "infra" / "config" / "connections.json"
OWNERSHIP_POLICY_FILE = REPO_ROOT / "infra" / "config" / "ownership.toml"
STATE_MACHINE_DIR = REPO_ROOT / "infra" / "statemachines"

SERVICE_NAME = "pshub"
CANONICAL_EVENT_SOURCE = "pshub.canonical"
# What every function's environment starts with, in AWS and locally.
BASE_FUNCTION_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
    "LOG_LEVEL": "INFO",
}


@dataclass(frozen=True)
class Ref:
    """A reference from a function's environment to another resource.

    ``attribute`` says which value the variable receives: ``url`` (queue URL),
    ``arn``, ``name`` (table, bucket, bus, stream, function name).
    """

    kind: Literal["queue", "table", "bucket", "bus", "stream", "state_machine", "function"]
    key: str
    attribute: Literal["url", "arn", "name"] = "name"


@dataclass(frozen=True)
class QueueSpec:
    key: str
    purpose: str
    visibility_timeout_s: int = 60
    retention_days: int = 14
    # A queue with a consumer gets its own DLQ; ``max_receive_count`` deliveries
    # that all failed move the message there.
    dead_letter_queue: str | None = None
    max_receive_count: int = 5
    fifo: bool = False


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index (string keys, every attribute projected)."""

    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    key: str
    purpose: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[IndexSpec, ...] = ()


@dataclass(frozen=True)
class BucketSpec:
    key: str
    purpose: str
    expire_days: int | None = None


@dataclass(frozen=True)
class DeliveryStreamSpec:
    """Firehose stream batching records into S3 (the raw archive)."""

    key: str
    purpose: str
    bucket: str
    prefix: str
    error_prefix: str
    buffer_interval_s: int = 60
    buffer_size_mib: int = 5


@dataclass(frozen=True)
class EventBusSpec:
    key: str
    purpose: str
    archive_retention_days: int = 365


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule on one of our buses.

    Targets are SQS queues or CloudWatch Logs groups only: both are delivered by
    EventBridge itself in AWS and by moto locally, and a queue target buffers,
    rate-limits and dead-letters work for its consumer.
    """

    key: str
    purpose: str
    bus: str
    pattern: dict[str, object]
    target_queue: str | None = None
    target_log_group: str | None = None
    # Queue key receiving events EventBridge could not deliver to the target after
    # its retries (it would otherwise drop them after 24 h).
    target_dlq: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    purpose: str
    code_dir: str  # relative to the repository root
    handler: str  # "module.function" inside code_dir
    environment: dict[str, Ref | str] = field(default_factory=dict)
    memory_mb: int = 512
    timeout_s: int = 30
    # What the function is allowed to touch, by resource key (least privilege).
    sends_to_queues: tuple[str, ...] = ()
    reads_buckets: tuple[str, ...] = ()
    writes_buckets: tuple[str, ...] = ()
    reads_writes_tables: tuple[str, ...] = ()
    reads_tables: tuple[str, ...] = ()  # read only: GetItem, Query, Scan
    puts_events_to: tuple[str, ...] = ()
    writes_streams: tuple[str, ...] = ()
    # Receives the connection registry (``PSHUB_CONNECTIONS``).
    uses_connections: bool = False
    # Which connection secrets its role may read, each secret granted by its ARN: the
    # webhook signing secrets (of every connection that receives webhooks) and the API
    # credentials of the connections whose role is listed here. No function gets both.
    reads_signing_secrets: bool = False
    reads_api_credentials_for: tuple[str, ...] = ()
    # Environment variable -> configuration file (relative to the repository root) whose
    # text the variable receives, e.g. the ownership policy. Deployed with the stack.
    config_env: dict[str, str] = field(default_factory=dict)
    starts_state_machines: tuple[str, ...] = ()
    reserved_concurrency: int | None = None
    # Configuration (the connection registry, ``config_env``) is read from SSM Parameter Store
    # (``ssm:<name>`` in the variable); True keeps the text in the environment instead, for a
    # function whose cold start is on a caller's critical path (the ingress acknowledges webhooks).
    config_in_environment: bool = False
    # Table holding the function's consumer inbox (``pshub.store.inbox``, consumer = the
    # function's key): its role may touch only the items under that consumer's key prefix.
    inbox_table: str | None = None


@dataclass(frozen=True)
class QueueConsumerSpec:
    """An SQS event-source mapping: ``queue`` drives ``function`` in batches."""

    queue: str
    function: str
    batch_size: int = 10
    max_batching_window_s: int = 1
    max_concurrency: int | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """EventBridge Scheduler invoking ``function`` every ``every_minutes`` with ``input``.

    Locally, ``LocalRuntime.run_schedules`` invokes them (a test, the demo) and ``pshub serve``
    runs them on the same period."""

    key: str
    purpose: str
    function: str
    every_minutes: int
    input: dict[str, str] = field(default_factory=dict)
    # Invocations the scheduler could not make after its retries are kept here.
    dead_letter_queue: str = "schedule_dlq"


@dataclass(frozen=True)
class HttpRouteSpec:
    method: str
    path: str
    function: str


@dataclass(frozen=True)
class StateMachineSpec:
    """A Step Functions (Standard) workflow whose ASL lives in infra/statemachines/.

    ``${Name}`` placeholders in the file are replaced by the referenced resources:
    by CDK (``definition_substitutions``) and by the local runtime alike.
    """

    key: str
    purpose: str
    definition_file: str  # relative to STATE_MACHINE_DIR
    substitutions: dict[str, Ref] = field(default_factory=dict)
    invokes_functions: tuple[str, ...] = ()
    puts_events_to: tuple[str, ...] = ()

    @property
    def definition_path(self) -> Path:
        return STATE_MACHINE_DIR / self.definition_file


@dataclass(frozen=True)
class Topology:
    queues: tuple[QueueSpec, ...]
    tables: tuple[TableSpec, ...]
    buckets: tuple[BucketSpec, ...]
    streams: tuple[DeliveryStreamSpec, ...]
    buses: tuple[EventBusSpec, ...]
    rules: tuple[RuleSpec, ...]
    functions: tuple[FunctionSpec, ...]
    consumers: tuple[QueueConsumerSpec, ...]
    routes: tuple[HttpRouteSpec, ...]
    log_groups: tuple[str, ...]
    state_machines: tuple[StateMachineSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()

    def queue(self, key: str) -> QueueSpec:
        return _by_key(self.queues, key)

    def table(self, key: str) -> TableSpec:
        return _by_key(self.tables, key)

    def bucket(self, key: str) -> BucketSpec:
        return _by_key(self.buckets, key)

    def function(self, key: str) -> FunctionSpec:
        return _by_key(self.functions, key)

    def bus(self, key: str) -> EventBusSpec:
        return _by_key(self.buses, key)

    def stream(self, key: str) -> DeliveryStreamSpec:
        return _by_key(self.streams, key)

    def state_machine(self, key: str) -> StateMachineSpec:
        return _by_key(self.state_machines, key)

    def dead_letter_sources(self) -> dict[str, str | None]:
        """Each dead-letter queue -> the queue its messages are redriven to (None: no queue, e.g. a
        rule that writes to a log group, or the scheduler's; those are shown, not redriven)."""
        sources: dict[str, str | None] = {}
        for queue in self.queues:
            if queue.dead_letter_queue:
                sources[queue.dead_letter_queue] = queue.key
        for rule in self.rules:
            if rule.target_dlq:
                sources.setdefault(rule.target_dlq, rule.target_queue)
        for schedule in self.schedules:
            sources.setdefault(schedule.dead_letter_queue, None)
        return sources


_Spec = TypeVar(
    "_Spec",
    QueueSpec,
    TableSpec,
    BucketSpec,
    FunctionSpec,
    EventBusSpec,
    DeliveryStreamSpec,
    StateMachineSpec,
)


def _by_key(items: tuple[_Spec, ...], key: str) -> _Spec:
    for item in items:
        if item.key == key:
            return item
    raise KeyError(f"no resource with key {key!r} in the topology")


def local_name(key: str) -> str:
    """Physical name the local runtime gives a resource (``raw_deliveries`` -> ``pshub-raw-deliveries``)."""
    return f"{SERVICE_NAME}-{key.replace('_', '-')}"


# Upper bound of a webhook body we accept (API Gateway allows 10 MB; a synchronous
# Lambda invocation 6 MB including the event envelope).
MAX_WEBHOOK_BODY_BYTES = 5 * 1024 * 1024
# Above this a raw delivery goes to S3 and the queue carries a pointer. SQS accepts
# 1 MiB, but a normaliser batch of 10 must stay under Lambda's 6 MB event limit.
CLAIM_CHECK_THRESHOLD_BYTES = 256 * 1024
# The largest amount, in major units of any currency, a canonical event may carry: far
# above any real deal or invoice, far below what a typing error or an attack produces.
# Raise it here for a firm that bills more than a trillion of anything in one document.
MAX_MONEY_AMOUNT = "1000000000000"

# What the approvals step announces, and each ERP connection's posting queue receives.
APPROVAL_EVENT_TYPES = tuple(
    f"{kind}{step}" for kind in ("TimeEntry", "Expense") for step in ("Approved", "Adjusted", "Rejected")
)
TIME_EXPENSE_CHANGES = ("TimeEntryChanged", "TimeEntryDeleted", "ExpenseChanged", "ExpenseDeleted")
POSTING_TIMEOUT_S = 60


def erp_connections() -> list[tuple[str, PostingLimits]]:
    """Every ERP connection of the registry, with its declared limits, in registry order."""
    import json

    from pshub.connections import parse_registry
    from pshub.workflows.time_expense.limits import declared_limits

    registry = parse_registry(json.loads(CONNECTIONS_FILE.read_text(encoding="utf-8")), str(CONNECTIONS_FILE))
    return [(c.id, declared_limits(c)) for c in registry.values() if c.role == "erp"]


def posting_key(connection_id: str) -> str:
    """The key of an ERP connection's posting queue and function (``erp_posting_netsuite_acme``)."""
    return "erp_posting_" + connection_id.replace("-", "_")


def _posting_resources() -> tuple[
    tuple[QueueSpec, ...], tuple[RuleSpec, ...], tuple[FunctionSpec, ...], tuple[QueueConsumerSpec, ...]
]:
    queues: list[QueueSpec] = []
    rules: list[RuleSpec] = []
    functions: list[FunctionSpec] = []
    consumers: list[QueueConsumerSpec] = []
    for connection_id, limits in erp_connections():
        key = posting_key(connection_id)
        queues += [
            QueueSpec(
                key=key,
                purpose=f"Approved time and expenses waiting to post to {connection_id}, at its declared limits",
                visibility_timeout_s=6 * POSTING_TIMEOUT_S,
                dead_letter_queue=f"{key}_dlq",
                # A backstop for crashes only: throttling and counted retries re-enqueue with a
                # delay and never count here; the function dead-letters with the reason itself.
                max_receive_count=10,
            ),
            QueueSpec(
                key=f"{key}_dlq",
                purpose=f"Postings to {connection_id} refused for good or out of retries, each with its reason",
            ),
        ]
        rules.append(
            RuleSpec(
                key=key,
                purpose=f"Approvals, corrections and reversals whose project is in {connection_id}",
                bus="business_events",
                pattern={
                    "source": [CANONICAL_EVENT_SOURCE],
                    "detail-type": list(APPROVAL_EVENT_TYPES),
                    "detail": {"payload": {"erp_connection": [connection_id]}},
                },
                target_queue=key,
                target_dlq=f"{key}_dlq",
            )
        )
        functions.append(
            FunctionSpec(
                key=key,
                purpose=f"Posts approved time and expenses to {connection_id}: exactly once, at its limits",
                code_dir="functions/erp_posting",
                handler="handler.lambda_handler",
                memory_mb=512,
                timeout_s=POSTING_TIMEOUT_S,
                environment={
                    "ERP_CONNECTION": connection_id,
                    "POSTINGS_TABLE": Ref("table", "postings"),
                    "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                    "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
                    "POSTING_QUEUE_URL": Ref("queue", key, "url"),
                    "POSTING_DLQ_URL": Ref("queue", f"{key}_dlq", "url"),
                },
                uses_connections=True,
                reads_api_credentials_for=("erp",),
                sends_to_queues=(key, f"{key}_dlq"),
                reads_writes_tables=("postings", "business_exceptions", "connector_state"),
                # The ERP's concurrency, not Lambda's: never more calls in flight than it allows.
                reserved_concurrency=limits.function_concurrency,
            )
        )
        consumers.append(
            QueueConsumerSpec(
                queue=key,
                function=key,
                batch_size=limits.queue_batch_size,
                max_batching_window_s=1,
                max_concurrency=max(2, limits.function_concurrency),
            )
        )
    return tuple(queues), tuple(rules), tuple(functions), tuple(consumers)


_POSTING_QUEUES, _POSTING_RULES, _POSTING_FUNCTIONS, _POSTING_CONSUMERS = _posting_resources()
DEFAULT_POLL_MINUTES = 5
OPERATIONS_TICK_MINUTES = 5


@cache
def connection_registry() -> Mapping[str, Connection]:
    """The connections the stack is built for (``infra/config/connections.json``)."""
    import json

    from pshub.connections import parse_registry

    return parse_registry(json.loads(CONNECTIONS_FILE.read_text(encoding="utf-8")), str(CONNECTIONS_FILE))


def poll_connections() -> list[tuple[str, int]]:
    """(connection id, minutes between polls) of every connection whose platform is polled."""
    from pshub.platforms import platform

    found = []
    for connection in connection_registry().values():
        if platform(connection.platform).inbound == "poll":
            raw = connection.options.get("poll_every_minutes") or str(DEFAULT_POLL_MINUTES)
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(
                    f"connection {connection.id!r}: options.poll_every_minutes must be a whole number"
                )
            found.append((connection.id, int(raw)))
    return found


_SCHEDULES = tuple(
    ScheduleSpec(
        key="poll_" + connection_id.replace("-", "_"),
        purpose=f"Reads {connection_id}'s change feed every {minutes} min (it cannot push)",
        function="poller",
        every_minutes=minutes,
        input={"connection": connection_id},
    )
    for connection_id, minutes in poll_connections()
)

_PIPELINE = Topology(
    queues=(
        QueueSpec(
            key="raw_deliveries",
            purpose="Verified webhook deliveries, exactly as received, waiting to be normalised",
            visibility_timeout_s=180,  # 6x the normaliser timeout, as AWS recommends
            dead_letter_queue="raw_deliveries_dlq",
            max_receive_count=5,
        ),
        QueueSpec(key="raw_deliveries_dlq", purpose="Raw deliveries the normaliser failed 5 times"),
        QueueSpec(
            key="unmappable_deliveries",
            purpose="Deliveries no adapter could map, each with the reason attached, kept for a person",
        ),
        QueueSpec(
            key="canonical_event_log_dlq",
            purpose="Canonical events EventBridge failed to write to the canonical event log group",
        ),
        QueueSpec(
            key="provisioning_requests",
            purpose="OpportunityClosedWon events waiting to start a provisioning workflow",
            visibility_timeout_s=60,  # 6x the starter's timeout
            dead_letter_queue="provisioning_requests_dlq",
            max_receive_count=5,
        ),
        QueueSpec(
            key="provisioning_requests_dlq", purpose="Closed-won deals whose workflow could not be started"
        ),
        QueueSpec(
            key="time_expense_changes",
            purpose="Synced time entries and expenses waiting to be turned into posting instructions",
            visibility_timeout_s=180,
            dead_letter_queue="time_expense_changes_dlq",
            max_receive_count=5,
        ),
        QueueSpec(
            key="time_expense_changes_dlq",
            purpose="Time and expense changes the approvals step failed 5 times",
        ),
        QueueSpec(
            key="amendment_requests",
            purpose="Approved change orders waiting to start the change-order workflow",
            visibility_timeout_s=60,
            dead_letter_queue="amendment_requests_dlq",
            max_receive_count=5,
        ),
        QueueSpec(
            key="amendment_requests_dlq", purpose="Change orders whose workflow failed to start 5 times"
        ),
        QueueSpec(
            key="billing_events",
            purpose="Milestones completed and invoices paid, for the billing workflow",
            visibility_timeout_s=180,
            dead_letter_queue="billing_events_dlq",
            max_receive_count=5,
        ),
        QueueSpec(key="billing_events_dlq", purpose="Billing events the billing consumer failed 5 times"),
        *_POSTING_QUEUES,
        QueueSpec(
            key="trace_events",
            purpose="Every canonical event, for the trace index (business key -> its timeline)",
            dead_letter_queue="trace_events_dlq",
        ),
        QueueSpec(key="trace_events_dlq", purpose="Canonical events the trace indexer failed 5 times"),
        QueueSpec(
            key="schedule_dlq",
            purpose="Scheduled runs (polls) EventBridge Scheduler could not invoke after its retries",
        ),
    ),
    tables=(
        TableSpec(
            key="idempotency",
            purpose=(
                "Powertools idempotency records: the normaliser's, keyed on the platform's own event id, "
                "and consumer inboxes, keyed on (consumer, canonical event id)"
            ),
            partition_key="id",
            ttl_attribute="expiration",
        ),
        TableSpec(
            key="identity",
            purpose="Cross-system ids, per-entity sync state (values, versions, echoes), duplicate index",
            partition_key="pk",
            sort_key="sk",
        ),
        TableSpec(
            key="connector_state",
            purpose="What every connector invocation shares: API tokens, rate-limit cells, daily quotas",
            partition_key="pk",
            ttl_attribute="purge_at",
        ),
        TableSpec(
            key="poll_state",
            purpose="Per polled connection and object: the watermark, the query in progress, ids seen",
            partition_key="pk",
            sort_key="sk",
        ),
        TableSpec(
            key="postings",
            purpose=(
                "The posting ledger: per time entry and expense, the version approved and what the ERP "
                "holds (document id, hours, amount, state)"
            ),
            partition_key="pk",
            sort_key="sk",
            # What billing reads: a project's posted lines by day (PostingLedger.posted_in).
            indexes=(IndexSpec("by_project_day", "project_code", "work_day"),),
        ),
        TableSpec(
            key="billing",
            purpose=(
                "The billing ledger: per invoice key (contract, period, cycle) its state and document, and per "
                "time entry, expense, milestone and usage record the invoice that bills it"
            ),
            partition_key="pk",
            sort_key="sk",
        ),
        TableSpec(
            key="business_exceptions",
            purpose="Business exceptions a person resolves: ownership conflicts, duplicates, parked work",
            partition_key="id",
        ),
        TableSpec(
            key="trace",
            purpose=(
                "The trace index: per business key (opportunity, project, invoice, time entry, correlation id) "
                "the canonical events about it, in order, with their references (`pshub trace`)"
            ),
            partition_key="pk",
            sort_key="sk",
            ttl_attribute="expires_at",
        ),
        TableSpec(
            key="failures",
            purpose=(
                "Why a queued message failed, by message id (its last error and attempts), kept as long as "
                "a dead letter: what `pshub dlq show` attaches"
            ),
            partition_key="id",
            ttl_attribute="expires_at",
        ),
        TableSpec(
            key="audit",
            purpose=(
                "The audit trail, append-only: who resolved or abandoned an exception, changed configuration, "
                "redrove or replayed what, when, with before and after (no function may update or delete it)"
            ),
            partition_key="pk",
            sort_key="sk",
        ),
    ),
    buckets=(
        # Kept as long as the raw archive, whose records point here for oversize bodies.
        BucketSpec(
            key="claim_checks", purpose="Raw bodies too large for SQS", expire_days=RAW_ARCHIVE_RETENTION_DAYS
        ),
        # Consumer inboxes remember a canonical event for as long as this can replay it
        # (one constant: pshub.store.archive.RAW_ARCHIVE_RETENTION_DAYS).
        BucketSpec(
            key="raw_archive",
            purpose="Every raw delivery, for replay and audit",
            expire_days=RAW_ARCHIVE_RETENTION_DAYS,
        ),
    ),
    streams=(
        DeliveryStreamSpec(
            key="raw_archive_stream",
            purpose="Batches raw deliveries into the raw archive bucket off the ack path",
            bucket="raw_archive",
            prefix="raw/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
            error_prefix="errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/",
        ),
    ),
    buses=(EventBusSpec(key="business_events", purpose="Canonical business events (versioned)"),),
    rules=(
        RuleSpec(
            key="canonical_event_log",
            purpose="Every canonical event, to a log group for tracing by correlation id",
            bus="business_events",
            pattern={"source": [CANONICAL_EVENT_SOURCE]},
            target_log_group="canonical_events",
            target_dlq="canonical_event_log_dlq",
        ),
        RuleSpec(
            key="opportunity_closed_won",
            purpose="A won deal starts the opportunity-to-project workflow (through a queue: buffered, DLQ)",
            bus="business_events",
            pattern={"source": [CANONICAL_EVENT_SOURCE], "detail-type": ["OpportunityClosedWon"]},
            target_queue="provisioning_requests",
            target_dlq="provisioning_requests_dlq",
        ),
        RuleSpec(
            key="time_expense_changes",
            purpose=(
                "Time entries and expenses changed in their source, and projects activated (time "
                "booked before its project existed), to the approvals step"
            ),
            bus="business_events",
            pattern={
                "source": [CANONICAL_EVENT_SOURCE],
                "detail-type": [*TIME_EXPENSE_CHANGES, "ProjectActivated"],
            },
            target_queue="time_expense_changes",
            target_dlq="time_expense_changes_dlq",
        ),
        RuleSpec(
            key="change_order_approved",
            purpose="An approved change order starts the change-order workflow (through a queue: buffered, DLQ)",
            bus="business_events",
            pattern={"source": [CANONICAL_EVENT_SOURCE], "detail-type": ["ChangeOrderApproved"]},
            target_queue="amendment_requests",
            target_dlq="amendment_requests_dlq",
        ),
        RuleSpec(
            key="billing_events",
            purpose="A milestone completed starts its billing run; an invoice paid marks its lines paid",
            bus="business_events",
            pattern={
                "source": [CANONICAL_EVENT_SOURCE],
                "detail-type": ["MilestoneCompleted", "InvoicePaid"],
            },
            target_queue="billing_events",
            target_dlq="billing_events_dlq",
        ),
        RuleSpec(
            key="trace_index",
            purpose="Every canonical event, to the trace indexer",
            bus="business_events",
            pattern={"source": [CANONICAL_EVENT_SOURCE]},
            target_queue="trace_events",
            target_dlq="trace_events_dlq",
        ),
        *_POSTING_RULES,
    ),
    functions=(
        FunctionSpec(
            key="ingress",
            purpose="Verifies a webhook's signature and durably enqueues it before acknowledging",
            code_dir="functions/ingress",
            handler="handler.lambda_handler",
            memory_mb=1024,  # more memory buys CPU: signature checks and cold starts get faster
            timeout_s=10,
            environment={
                "RAW_DELIVERY_QUEUE_URL": Ref("queue", "raw_deliveries", "url"),
                "CLAIM_CHECK_BUCKET": Ref("bucket", "claim_checks"),
                "UNMAPPABLE_QUEUE_URL": Ref("queue", "unmappable_deliveries", "url"),
                "MAX_BODY_BYTES": str(MAX_WEBHOOK_BODY_BYTES),
                "CLAIM_CHECK_THRESHOLD_BYTES": str(CLAIM_CHECK_THRESHOLD_BYTES),
            },
            sends_to_queues=("raw_deliveries", "unmappable_deliveries"),
            writes_buckets=("claim_checks",),
            uses_connections=True,
            config_in_environment=True,  # no SSM call before the first acknowledgement
            reads_signing_secrets=True,
        ),
        FunctionSpec(
            key="normaliser",
            purpose="Turns raw deliveries into canonical events on the bus, exactly once",
            code_dir="functions/normaliser",
            handler="handler.lambda_handler",
            memory_mb=1024,
            timeout_s=30,
            environment={
                "CLAIM_CHECK_BUCKET": Ref("bucket", "claim_checks"),
                "IDEMPOTENCY_TABLE": Ref("table", "idempotency"),
                "EVENT_BUS_NAME": Ref("bus", "business_events"),
                "UNMAPPABLE_QUEUE_URL": Ref("queue", "unmappable_deliveries", "url"),
                "RAW_ARCHIVE_STREAM": Ref("stream", "raw_archive_stream"),
                "IDENTITY_TABLE": Ref("table", "identity"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "CLAIM_CHECK_THRESHOLD_BYTES": str(CLAIM_CHECK_THRESHOLD_BYTES),
                "MAX_MONEY_AMOUNT": MAX_MONEY_AMOUNT,
                "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
            },
            config_env={"PSHUB_OWNERSHIP_POLICY": "infra/config/ownership.toml"},
            uses_connections=True,
            # A CRM creation webhook carrying only an id: the record is read before identity;
            # an expense report notification names the report: its expenses are read.
            reads_api_credentials_for=("crm", "expense"),
            sends_to_queues=("unmappable_deliveries",),
            reads_buckets=("claim_checks",),
            # A parked delivery too large for one SQS message keeps its body there.
            writes_buckets=("claim_checks",),
            reads_writes_tables=("idempotency", "identity", "business_exceptions", "connector_state"),
            puts_events_to=("business_events",),
            writes_streams=("raw_archive_stream",),
        ),
        FunctionSpec(
            key="start_provisioning",
            purpose="Starts one provisioning execution per won opportunity (execution name = the deal)",
            code_dir="functions/start_provisioning",
            handler="handler.lambda_handler",
            memory_mb=256,
            timeout_s=10,
            environment={
                "PROVISIONING_STATE_MACHINE_ARN": Ref("state_machine", "provision_project", "arn"),
                "INBOX_TABLE": Ref("table", "idempotency"),
            },
            starts_state_machines=("provision_project",),
            # A canonical event id it already handled starts nothing, however late it is replayed.
            inbox_table="idempotency",
        ),
        FunctionSpec(
            key="provisioning",
            purpose="The provisioning workflow's steps: connector calls, validation, parking, compensation",
            code_dir="functions/provisioning",
            handler="handler.lambda_handler",
            memory_mb=512,
            timeout_s=60,
            environment={
                "IDENTITY_TABLE": Ref("table", "identity"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
            },
            uses_connections=True,
            # The workflow's connectors call these platforms (the CRM for the deal's details).
            reads_api_credentials_for=("erp", "psa", "crm", "billing"),
            config_env={"PSHUB_PROVISIONING": "infra/config/provisioning.json"},
            reads_writes_tables=("identity", "business_exceptions", "connector_state"),
        ),
        FunctionSpec(
            key="time_approvals",
            purpose="Turns synced time and expenses into posting instructions at the rate in force",
            code_dir="functions/time_approvals",
            handler="handler.lambda_handler",
            memory_mb=512,
            timeout_s=30,
            environment={
                "IDENTITY_TABLE": Ref("table", "identity"),
                "POSTINGS_TABLE": Ref("table", "postings"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "EVENT_BUS_NAME": Ref("bus", "business_events"),
            },
            reads_writes_tables=("identity", "postings", "business_exceptions"),
            puts_events_to=("business_events",),
        ),
        FunctionSpec(
            key="poller",
            purpose="Reads a poll-only platform's changes since its watermark onto the raw queue",
            code_dir="functions/poller",
            handler="handler.lambda_handler",
            memory_mb=512,
            timeout_s=300,
            environment={
                "POLL_STATE_TABLE": Ref("table", "poll_state"),
                "RAW_DELIVERY_QUEUE_URL": Ref("queue", "raw_deliveries", "url"),
                "CLAIM_CHECK_BUCKET": Ref("bucket", "claim_checks"),
                "CLAIM_CHECK_THRESHOLD_BYTES": str(CLAIM_CHECK_THRESHOLD_BYTES),
                "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
            },
            uses_connections=True,
            reads_api_credentials_for=("time", "expense", "psa"),
            sends_to_queues=("raw_deliveries",),
            writes_buckets=("claim_checks",),
            reads_writes_tables=("poll_state", "connector_state"),
            # One poll per connection and object at a time is what the watermark's conditional
            # write assumes cheaply; more would only contend.
            reserved_concurrency=2,
        ),
        FunctionSpec(
            key="billing",
            purpose="The billing workflow's steps: the period assessed, held or drafted once; the daily tick",
            code_dir="functions/billing",
            handler="handler.lambda_handler",
            memory_mb=512,
            timeout_s=120,
            environment={
                "IDENTITY_TABLE": Ref("table", "identity"),
                "POSTINGS_TABLE": Ref("table", "postings"),
                "BILLING_TABLE": Ref("table", "billing"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
            },
            uses_connections=True,
            # Invoices are drafted in the ERP or in the billing platform, by billing model.
            reads_api_credentials_for=("erp", "billing"),
            config_env={"PSHUB_BILLING": "infra/config/billing.json"},
            reads_writes_tables=("identity", "postings", "billing", "business_exceptions", "connector_state"),
        ),
        FunctionSpec(
            key="billing_tick",
            purpose="Starts each legal entity's billing run for the month before, on its billing day",
            code_dir="functions/billing_tick",
            handler="handler.lambda_handler",
            memory_mb=256,
            timeout_s=30,
            environment={"BILLING_STATE_MACHINE_ARN": Ref("state_machine", "bill_projects", "arn")},
            config_env={"PSHUB_BILLING": "infra/config/billing.json"},
            starts_state_machines=("bill_projects",),
        ),
        FunctionSpec(
            key="operations_tick",
            purpose="Every five minutes: open exceptions, their age, hours and money at risk per owner team, as metrics",
            code_dir="functions/operations_tick",
            handler="handler.lambda_handler",
            memory_mb=256,
            timeout_s=60,
            environment={"EXCEPTIONS_TABLE": Ref("table", "business_exceptions")},
            reads_tables=("business_exceptions",),
        ),
        FunctionSpec(
            key="start_amendment",
            purpose="Starts one change-order execution per approved change order (named by its id; read from the CRM when the webhook named only the deal)",
            code_dir="functions/start_amendment",
            handler="handler.lambda_handler",
            memory_mb=256,
            timeout_s=10,
            environment={
                "AMENDMENT_STATE_MACHINE_ARN": Ref("state_machine", "amend_contract", "arn"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
            },
            uses_connections=True,
            reads_api_credentials_for=("crm",),  # a change order that named only its deal is read
            reads_writes_tables=("business_exceptions", "connector_state"),
            starts_state_machines=("amend_contract",),
        ),
        FunctionSpec(
            key="amendments",
            purpose="The change-order workflow's steps: the CRM's contract checked, ERP and PSA amended, parking",
            code_dir="functions/amendments",
            handler="handler.lambda_handler",
            memory_mb=512,
            timeout_s=60,
            environment={
                "IDENTITY_TABLE": Ref("table", "identity"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "CONNECTOR_STATE_TABLE": Ref("table", "connector_state"),
            },
            uses_connections=True,
            reads_api_credentials_for=("erp", "psa", "crm"),
            reads_writes_tables=("identity", "business_exceptions", "connector_state"),
        ),
        FunctionSpec(
            key="billing_events",
            purpose="Milestones completed start their billing run; invoices paid are marked paid",
            code_dir="functions/billing_events",
            handler="handler.lambda_handler",
            memory_mb=256,
            timeout_s=30,
            environment={
                "IDENTITY_TABLE": Ref("table", "identity"),
                "BILLING_TABLE": Ref("table", "billing"),
                "EXCEPTIONS_TABLE": Ref("table", "business_exceptions"),
                "BILLING_STATE_MACHINE_ARN": Ref("state_machine", "bill_projects", "arn"),
            },
            reads_writes_tables=("identity", "billing", "business_exceptions"),
            starts_state_machines=("bill_projects",),
        ),
        FunctionSpec(
            key="trace_indexer",
            purpose="Writes each canonical event to the trace index under every business key it names",
            code_dir="functions/trace_indexer",
            handler="handler.lambda_handler",
            memory_mb=256,
            timeout_s=30,
            environment={"TRACE_TABLE": Ref("table", "trace")},
            reads_writes_tables=("trace",),
        ),
        *_POSTING_FUNCTIONS,
    ),
    consumers=(
        QueueConsumerSpec(queue="raw_deliveries", function="normaliser", batch_size=10),
        QueueConsumerSpec(queue="provisioning_requests", function="start_provisioning", batch_size=10),
        QueueConsumerSpec(queue="time_expense_changes", function="time_approvals", batch_size=10),
        QueueConsumerSpec(queue="amendment_requests", function="start_amendment", batch_size=10),
        QueueConsumerSpec(queue="billing_events", function="billing_events", batch_size=10),
        # Off every business path: large batches, a few seconds' wait, one write per key.
        QueueConsumerSpec(
            queue="trace_events", function="trace_indexer", batch_size=100, max_batching_window_s=5
        ),
        *_POSTING_CONSUMERS,
    ),
    routes=(HttpRouteSpec(method="POST", path="/webhooks/{connection}", function="ingress"),),
    log_groups=("canonical_events",),
    state_machines=(
        StateMachineSpec(
            key="provision_project",
            purpose="Opportunity to project: ERP client and project, PSA project and rate card, billing",
            definition_file="provision_project.asl.json",
            substitutions={
                "ProvisioningFunctionArn": Ref("function", "provisioning", "arn"),
                "EventBusName": Ref("bus", "business_events"),
            },
            invokes_functions=("provisioning",),
            puts_events_to=("business_events",),
        ),
        StateMachineSpec(
            key="bill_projects",
            purpose="Project to invoice: each due project's period held with reasons or drafted once",
            definition_file="bill_projects.asl.json",
            substitutions={
                "BillingFunctionArn": Ref("function", "billing", "arn"),
                "EventBusName": Ref("bus", "business_events"),
            },
            invokes_functions=("billing",),
            puts_events_to=("business_events",),
        ),
        StateMachineSpec(
            key="amend_contract",
            purpose="Change order: the CRM's contract checked, ERP and PSA amended, rates from the effective date",
            definition_file="amend_contract.asl.json",
            substitutions={
                "AmendmentFunctionArn": Ref("function", "amendments", "arn"),
                "EventBusName": Ref("bus", "business_events"),
            },
            invokes_functions=("amendments",),
            puts_events_to=("business_events",),
        ),
    ),
    schedules=(
        *_SCHEDULES,
        # Daily: on each legal entity's billing day its run for the month before starts, once
        # (the execution is named per entity and period).
        ScheduleSpec(
            key="billing_tick",
            purpose="Starts each legal entity's billing run for the month before, on its billing day",
            function="billing_tick",
            every_minutes=1440,
        ),
        ScheduleSpec(
            key="operations_tick",
            purpose="Writes the exception backlog's gauges per owner team (the backlog-age alarms read them)",
            function="operations_tick",
            every_minutes=OPERATIONS_TICK_MINUTES,
        ),
    ),
)


def _with_failure_records(topology: Topology) -> Topology:
    """Every queue consumer that processes its batch with Powertools records why a message
    failed (``FAILURES_TABLE``), so ``pshub dlq show`` gives a dead letter's error. The posting
    functions dead-letter with the reason on the message themselves."""
    consumers = {c.function for c in topology.consumers if not c.function.startswith("erp_posting_")}
    functions = tuple(
        replace(
            spec,
            environment={**spec.environment, "FAILURES_TABLE": Ref("table", "failures")},
            reads_writes_tables=(*spec.reads_writes_tables, "failures"),
        )
        if spec.key in consumers
        else spec
        for spec in topology.functions
    )
    return replace(topology, functions=functions)


PIPELINE = _with_failure_records(_PIPELINE)


def log_group_name(key: str, stage: str = "") -> str:
    """Name of a log group declared in ``Topology.log_groups`` (same in AWS and locally;
    ``/pshub/<stage>/...`` for a deployed stage, so stages share an account)."""
    return f"/{SERVICE_NAME}/{stage + '/' if stage else ''}{key.replace('_', '-')}"


def state_machine_log_group_name(key: str, stage: str = "") -> str:
    """A state machine's execution log group (the ``/aws/vendedlogs/`` prefix keeps Step
    Functions from growing the account's one CloudWatch Logs resource policy)."""
    return f"/aws/vendedlogs/states/{SERVICE_NAME}-{stage + '-' if stage else ''}{key.replace('_', '-')}"


CONNECTIONS_VARIABLE = "PSHUB_CONNECTIONS"


def config_key(variable: str) -> str:
    """``PSHUB_OWNERSHIP_POLICY`` -> ``ownership-policy``: the parameter's last name part."""
    return variable.lower().removeprefix("pshub_").replace("_", "-")


def config_parameter_name(variable: str, stage: str = "") -> str:
    """The SSM parameter holding configuration variable ``variable``'s text, in AWS and locally
    (``/pshub/<stage>/config/<key>``; ``/pshub/config/<key>`` for no stage)."""
    return f"/{SERVICE_NAME}/{stage + '/' if stage else ''}config/{config_key(variable)}"


def config_files(topology: Topology) -> dict[str, str]:
    """Every ``config_env`` variable the functions read -> its repository file (one file per
    variable across functions: the parameter is shared)."""
    found: dict[str, str] = {}
    for spec in topology.functions:
        for variable, relative_path in spec.config_env.items():
            if found.setdefault(variable, relative_path) != relative_path:
                raise ValueError(f"{variable} names {found[variable]} and {relative_path}")
    return found


def config_variables(spec: FunctionSpec) -> tuple[str, ...]:
    """The configuration variables function ``spec`` reads (the registry first)."""
    return ((CONNECTIONS_VARIABLE,) if spec.uses_connections else ()) + tuple(spec.config_env)


def render_config(relative_path: str) -> str:
    """The value a ``config_env`` variable receives, in AWS and locally alike.

    Lambda allows 4 KB of environment in all, so JSON is compacted and TOML comment
    lines are blanked (line numbers stay, so a loader's "line N" still points into the
    repository file), and a text still over 1 KB is packed (zlib, base64: the loaders
    unpack it with ``pshub.settings.config_value``). The result must mean exactly what
    the file means.
    """
    from pshub.settings import pack_config

    return pack_config(_compact_config(relative_path))


def _compact_config(relative_path: str) -> str:
    import json
    import tomllib

    path = REPO_ROOT / relative_path  # an absolute path stays as it is
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    if path.suffix == ".toml":
        compact = "\n".join(
            "" if line.lstrip().startswith("#") else line.rstrip() for line in text.splitlines()
        )
        # A '#' line inside a multi-line string is data, not a comment: keep the original then.
        return compact.rstrip("\n") + "\n" if tomllib.loads(compact) == tomllib.loads(text) else text
    return text
