"""pshub on a laptop: the topology on moto, our handlers in-process.

``LocalRuntime`` starts moto, creates every resource the CDK stack declares (from
``pshub_infra.topology``, the one definition), loads the real handlers from
``functions/`` with the environment CDK would give them, and plays the parts of
AWS that moto cannot: SQS event-source mappings (polled here) and Lambda
invocations by other services (moto's Lambda is patched to call our handlers).

One runtime at a time per process: moto's state is process-wide.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from pshub.connections import Connection, parse_registry
from pshub.connectors.registry import reset_connectors
from pshub.settings import pack_config
from pshub_infra.topology import (
    CANONICAL_EVENT_SOURCE,
    CONNECTIONS_FILE,
    PIPELINE,
    REPO_ROOT,
    QueueConsumerSpec,
    Topology,
)
from pshub_local import functions
from pshub_local.consumers import Poller, QueueConsumer
from pshub_local.fakes import FakeApi
from pshub_local.fakes.local import LocalFake, start_fakes, stop_fakes
from pshub_local.moto_patches import event_bus_patches, queue_patches, step_functions_patches
from pshub_local.resources import (
    Resources,
    create_config_parameters,
    create_state_machines,
    declare_compute,
    function_environment,
    provision,
    put_api_credentials,
    register_functions,
    stack_outputs,
)
from pshub_local.vendors import local_secret

if TYPE_CHECKING:
    from unittest import mock

    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
UNMAPPABLE_QUEUE = "unmappable_deliveries"
EXCEPTIONS_TABLE = "business_exceptions"
# The stack the operator commands read by default, as deployed without a stage.
LOCAL_STACK_NAME = "pshub"
# The shared layer, imported once per process (in Lambda, once per function).
_LAYER_PACKAGE = "pshub"
# Settings that would send boto3 somewhere other than moto, or fail before it gets there.
_ISOLATED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE")


@dataclass(frozen=True)
class QueueMessage:
    """A message seen on a queue without receiving it."""

    queue: str
    message_id: str
    body: str
    attributes: dict[str, str]  # message attributes (reason, error_code, ...), as strings
    receive_count: int

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class LocalRuntime:
    def __init__(
        self,
        topology: Topology = PIPELINE,
        *,
        repo_root: Path = REPO_ROOT,
        connections_file: Path = CONNECTIONS_FILE,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.topology = topology
        self.repo_root = repo_root
        self.region = region
        document = json.loads(connections_file.read_text(encoding="utf-8"))
        self._document = document
        self._connections_source = str(connections_file)
        self.connections: dict[str, Connection] = parse_registry(document, str(connections_file))
        # Each connection with a real connector gets its platform's fake on 127.0.0.1 (on start).
        self.fakes: dict[str, LocalFake] = {}
        # The registry reaches the functions as compact JSON, as CDK writes it.
        self._connections_json = pack_config(json.dumps(document, separators=(",", ":"), ensure_ascii=False))
        # Signing secrets of the connections that receive webhooks (as in AWS; by connection id).
        self.secrets = {
            c.id: local_secret(c.id, c.platform) for c in self.connections.values() if c.receives_webhooks
        }
        self.resources = Resources()
        self.started_in_s: float | None = None
        self._instance = uuid.uuid4().hex[:8]
        self._functions: dict[str, functions.LocalFunction] = {}
        self._by_name: dict[str, functions.LocalFunction] = {}
        self._consumers: list[QueueConsumer] = []
        self._pollers: list[Poller] = []
        self._timers: list[_Every] = []
        self._saved_env: dict[str, str | None] = {}
        self._mock: Any = None
        self._patches: list[mock._patch[Any]] = []
        self._sqs: SQSClient | None = None
        self._logs: Any = None  # CloudWatch Logs (no type stubs installed)
        self._sfn: Any = None
        self._dynamodb: Any = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalRuntime:
        started = time.perf_counter()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        try:
            self._isolate_environment()
            self._patch_lambda_invoke()
            session = _default_session(self.region)
            self._sqs = session.client("sqs")
            self._logs = session.client("logs")
            self._sfn = session.client("stepfunctions")
            self._dynamodb = session.client("dynamodb")
            self._serve_fakes()
            self.resources = provision(self.topology, session, self.region, self.connections, self.secrets)
            for connection_id, local in self.fakes.items():
                put_api_credentials(session, connection_id, local.credentials)
            account_id = self.resources.get("role", "service").arn.split(":")[4]
            declare_compute(self.topology, self.resources, self.region, account_id)
            create_config_parameters(self.topology, session, self._connections_json, self.repo_root)
            parameters.clear_caches()  # type: ignore[no-untyped-call]  # a fresh stack: nothing cached
            environments = {
                spec.key: function_environment(spec, self.resources, self._connections_json, self.repo_root)
                for spec in self.topology.functions
            }
            register_functions(self.topology, session, self.resources, environments)
            create_state_machines(self.topology, session, self.resources)
            self._register_stack(session)
            # Each runtime starts with fresh platform fakes, as it starts with fresh AWS state,
            # and builds its connectors anew (pointed at this runtime's fakes).
            reset_connectors()
            self._load_functions(environments)
            self._consumers = [self._consumer(spec) for spec in self.topology.consumers]
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.perf_counter() - started
        log.info("local runtime up in %.2f s (%s)", self.started_in_s, self._summary())
        return self

    def stop(self) -> None:
        self.stop_schedules()
        self.stop_pollers()
        stop_fakes(self.fakes)
        self.fakes = {}
        for function in self._functions.values():
            functions.unload(function.module)
        self._functions.clear()
        self._by_name.clear()
        for patch in reversed(self._patches):
            patch.stop()
        self._patches.clear()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve_fakes(self) -> None:
        """Start the fakes and point their connections at them (base URL, token endpoints)."""
        self.fakes = start_fakes(self.connections)
        if not self.fakes:
            return
        document = json.loads(json.dumps(self._document))
        for entry in document["connections"]:
            local = self.fakes.get(entry["id"])
            if local is not None:
                entry["options"] = {**entry.get("options", {}), **local.fake.local_options()}
        self.connections = parse_registry(document, self._connections_source)
        self._connections_json = pack_config(json.dumps(document, separators=(",", ":"), ensure_ascii=False))

    def fake(self, connection_id: str) -> FakeApi:
        """The local fake behind a connection (its controls: inject, drop_answer, set_outage, calls)."""
        return self.fakes[connection_id].fake

    def systems_snapshot(self) -> dict[str, Any]:
        """Every outbound system's records by connection id (its fake's, JSON-able)."""
        return {
            k: {**local.fake.snapshot(), "role": local.connection.role}
            for k, local in sorted(self.fakes.items())
        }

    # --- names --------------------------------------------------------------------------------

    def outputs(self) -> dict[str, str]:
        """The outputs the CDK stack would have, valued with this runtime's resources."""
        return stack_outputs(self.topology, self.resources)

    def _register_stack(self, session: boto3.session.Session) -> None:
        """A CloudFormation stack named as the deployed one (``pshub``) holding only the outputs:
        the operator commands read it exactly as they read a deployed stack's."""
        outputs = {name: {"Value": value} for name, value in self.outputs().items()}
        outputs["Stage"] = {"Value": "-"}  # the local runtime names its secrets without a stage
        # moto needs one resource; it warns that it does not model this type, which is the point.
        template = {"Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            session.client("cloudformation").create_stack(
                StackName=LOCAL_STACK_NAME, TemplateBody=json.dumps({**template, "Outputs": outputs})
            )

    def resource_name(self, kind: str, key: str) -> str:
        return self.resources.get(kind, key).name

    def resource_arn(self, kind: str, key: str) -> str:
        return self.resources.get(kind, key).arn

    def queue_url(self, key: str) -> str:
        return self.resources.get("queue", key).url or ""

    def function_arn(self, key: str) -> str:
        return self.resources.get("function", key).arn

    def state_machine_arn(self, key: str) -> str:
        return self.resources.get("state_machine", key).arn

    def signing_secret(self, connection_id: str) -> str:
        """The LOCAL-ONLY signing secret the runtime stored for a connection that receives webhooks."""
        return self.secrets[connection_id]

    # --- invoking -----------------------------------------------------------------------------

    def invoke(self, function_key: str, event: Any) -> Any:
        """Call a function's handler in-process with a fresh Lambda context."""
        return self._functions[function_key].invoke(event)

    def run_schedules(self, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """Invoke every scheduled function (or those of ``keys``) once, as EventBridge Scheduler
        does on its period; returns each one's result by schedule key."""
        results = {}
        for spec in self.topology.schedules:
            if keys is None or spec.key in keys:
                results[spec.key] = self.invoke(spec.function, dict(spec.input))
        return results

    def start_schedules(self, speedup: float = 1.0) -> None:
        """Run the schedules in the background on their periods (``pshub serve``)."""
        for spec in self.topology.schedules:
            timer = _Every(
                spec.every_minutes * 60 / speedup, functools.partial(self.run_schedules, [spec.key])
            )
            timer.start()
            self._timers.append(timer)

    def pump(self) -> int:
        """One batch from every consumer queue; returns how many messages were handled."""
        return sum(consumer.poll_once() for consumer in self._consumers)

    def drain(self, timeout_s: float = 30.0) -> int:
        """Run until consumer queues are empty and no workflow is working; returns messages handled.

        An execution waiting for a task token (parked for a person) counts as done.
        """
        deadline = time.monotonic() + timeout_s
        handled = 0
        confirmed = False
        while True:
            batch = self.pump()
            handled += batch
            if batch == 0:
                busy = self._busy(first_only=True)
                if not busy:
                    # A resumed execution counts as busy (its answered token), so one more look
                    # only covers a step that moved between reading the queues and the executions.
                    if confirmed or not self.executions("RUNNING"):
                        return handled
                    confirmed = True
                    time.sleep(0.05)
                    continue
                confirmed = False
                if time.monotonic() > deadline:
                    raise TimeoutError(f"still busy after {timeout_s} s: {', '.join(self._busy())}")
                time.sleep(0.05)  # in flight with a poller, delayed, or a workflow running
            elif time.monotonic() > deadline:
                raise TimeoutError(f"queues still busy after {timeout_s} s")

    def _busy(self, first_only: bool = False) -> list[str]:
        """What still works: consumer queues holding messages, executions not parked.

        ``first_only`` stops at the first busy thing: reading every running execution's
        history on each turn of a drain costs seconds with a hundred workflows parked.
        """
        busy = [
            f"{c.spec.queue}: {n} message(s)"
            for c in self._consumers
            if (n := self.queue_depth(c.spec.queue))
        ]
        if busy and first_only:
            return busy
        for execution in self.executions("RUNNING"):
            if not self.waiting_for_callback(execution["executionArn"]):
                busy.append(f"execution {execution['name']} running")
                if first_only:
                    break
        return busy

    def start_pollers(self) -> None:
        if not self._pollers:
            self._pollers = [Poller(consumer) for consumer in self._consumers]
            for poller in self._pollers:
                poller.start()

    def stop_schedules(self) -> None:
        for timer in self._timers:
            timer.stop()
        self._timers = []

    def stop_pollers(self) -> None:
        # All at once: each may be inside a one-second long poll.
        for poller in self._pollers:
            poller.request_stop()
        for poller in self._pollers:
            poller.join()
        self._pollers = []

    # --- observing ----------------------------------------------------------------------------

    def queue_depth(self, key: str) -> int:
        """Messages on the queue: visible, in flight and delayed."""
        assert self._sqs is not None, "runtime not started"
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url(key),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def peek(self, queue_key: str) -> list[QueueMessage]:
        """The queue's messages, without receiving them (a receive would count as a delivery)."""
        from moto.sqs.models import sqs_backends

        resource = self.resources.get("queue", queue_key)
        account_id = resource.arn.split(":")[4]
        queue = sqs_backends[account_id][self.region].get_queue(resource.name)
        with queue._messages_lock:  # moto internals: there is no peek in the SQS API
            messages = list(queue._messages)
        return [
            QueueMessage(
                queue=queue_key,
                message_id=m.id,
                body=m.body,
                attributes={
                    name: str(value.get("StringValue", value.get("BinaryValue", "")))
                    for name, value in m.message_attributes.items()
                },
                receive_count=m.approximate_receive_count,
            )
            for m in messages
        ]

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Executions of the topology's state machines (``list_executions`` entries)."""
        found: list[dict[str, Any]] = []
        for machine in self.topology.state_machines:
            arn = self.state_machine_arn(machine.key)
            pages = self._sfn.get_paginator("list_executions").paginate(
                stateMachineArn=arn, **({"statusFilter": status} if status else {})
            )
            found.extend(execution for page in pages for execution in page["executions"])
        return found

    def waiting_for_callback(self, execution_arn: str) -> bool:
        """Whether the execution's latest step is a task waiting for its token (parked for a person)."""
        # moto ignores reverseOrder/maxResults: read the whole history, take the last event.
        events = self._sfn.get_execution_history(executionArn=execution_arn)["events"]
        if not events or events[-1]["type"] != "TaskSubmitted":
            return False
        resource = str(events[-1].get("taskSubmittedEventDetails", {}).get("resource", ""))
        return resource.endswith(".waitForTaskToken") and not self._callback_answered(execution_arn)

    def _callback_answered(self, execution_arn: str) -> bool:
        """Whether the token the execution waits on was already answered (``send_task_success``):
        it is resuming, and its history moves on a moment later, however long that moment is."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        account_id = execution_arn.split(":")[4]
        backend = stepfunctions_parser_backends[account_id][self.region]
        for execution in backend._get_executions():  # moto internals: no API tells this
            if execution.exec_arn == execution_arn and execution.exec_worker and execution.exec_worker.env:
                pool = execution.exec_worker.env.callback_pool_manager._pool
                latest = next(reversed(pool.values()), None) if pool else None
                return latest is not None and latest.get_outcome() is not None
        return False

    def dead_letters(self) -> list[QueueMessage]:
        """Everything on any dead-letter queue of the topology."""
        dlqs = sorted(
            {q.dead_letter_queue for q in self.topology.queues if q.dead_letter_queue}
            | {r.target_dlq for r in self.topology.rules if r.target_dlq}
        )
        return [message for key in dlqs for message in self.peek(key)]

    def unmappable(self) -> list[QueueMessage]:
        return self.peek(UNMAPPABLE_QUEUE)

    def business_exceptions(self) -> list[dict[str, Any]]:
        """The business-exception register: each exception as recorded (its ``doc``)."""
        assert self._dynamodb is not None, "runtime not started"
        if not any(table.key == EXCEPTIONS_TABLE for table in self.topology.tables):
            return []
        name = self.resource_name("table", EXCEPTIONS_TABLE)
        items = [
            item
            for page in self._dynamodb.get_paginator("scan").paginate(TableName=name)
            for item in page["Items"]
        ]
        return sorted(
            (json.loads(item["doc"]["S"]) if "doc" in item else item for item in items),
            key=lambda doc: str(doc.get("raised_at", "")),
        )

    def log_events(self, log_group_key: str) -> list[dict[str, Any]]:
        assert self._logs is not None, "runtime not started"
        name = self.resources.get("log_group", log_group_key).name
        events: list[dict[str, Any]] = []
        for page in self._logs.get_paginator("filter_log_events").paginate(logGroupName=name):
            events.extend(page["events"])
        return sorted(events, key=lambda e: (e.get("timestamp", 0), e.get("ingestionTime", 0)))

    def canonical_events(self) -> list[dict[str, Any]]:
        """Every event EventBridge delivered to the canonical event log, as full event JSON."""
        group = next(
            (
                rule.target_log_group
                for rule in self.topology.rules
                if rule.target_log_group and CANONICAL_EVENT_SOURCE in _as_list(rule.pattern.get("source"))
            ),
            None,
        )
        if group is None:
            raise LookupError("the topology has no rule logging canonical events")
        return [json.loads(event["message"]) for event in self.log_events(group)]

    # --- internals ----------------------------------------------------------------------------

    def _isolate_environment(self) -> None:
        from aws_lambda_powertools.utilities import parameters

        # A cached SecretsProvider would hold a client and values from an earlier runtime.
        getattr(parameters.base, "DEFAULT_PROVIDERS", {}).clear()
        self._set_env(
            {
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        for name in list(os.environ):
            if name in _ISOLATED_ENV or name.startswith("AWS_ENDPOINT_URL_"):
                self._set_env({name: None})

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _patch_lambda_invoke(self) -> None:
        from unittest import mock

        from moto.awslambda.models import LambdaFunction

        runtime = self

        def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            return runtime._invoke_by_name(fn.function_name, event)

        patches = [
            mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_lambda),
            *step_functions_patches(),
            *event_bus_patches(),
            *queue_patches(),
        ]
        for patch in patches:
            patch.start()
            self._patches.append(patch)

    def _invoke_by_name(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        function = self._by_name.get(function_name)
        if function is None:
            error = {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"no local handler for {function_name}",
            }
            return json.dumps(error), True, ""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        payload, errored = function.invoke_as_lambda(event)
        return payload, errored, ""

    def _load_functions(self, environments: Mapping[str, Mapping[str, str]]) -> None:
        # All functions share this process's environment. Each handler module is
        # imported with its own function's variables set (pshub's handlers read their
        # settings at import); a variable two functions set differently keeps the
        # value of the last one loaded afterwards.
        conflicting = _conflicting_names(environments)
        if conflicting:
            log.info("set differently per function (each sees its own at import): %s", ", ".join(conflicting))
        for spec in self.topology.functions:
            self._set_env(environments[spec.key])
            declared = self.resources.get("function", spec.key)
            module_name = f"pshub_local_fn_{self._instance}_{spec.key}"
            handler, module = functions.load_handler(self.repo_root, spec, module_name)
            function = functions.LocalFunction(spec, declared.name, declared.arn, handler, module)
            self._functions[spec.key] = function
            self._by_name[declared.name] = function

    def _consumer(self, spec: QueueConsumerSpec) -> QueueConsumer:
        assert self._sqs is not None
        queue = self.resources.get("queue", spec.queue)
        function = self._functions[spec.function]
        return QueueConsumer(
            spec, sqs=self._sqs, queue_url=queue.url or "", queue_arn=queue.arn, region=self.region,
            invoke=function.invoke,
        )  # fmt: skip

    def _summary(self) -> str:
        kinds = (
            "queue",
            "table",
            "bucket",
            "stream",
            "bus",
            "rule",
            "log_group",
            "function",
            "state_machine",
            "secret",
        )
        return " ".join(f"{k}:{len(self.resources.of_kind(k))}" for k in kinds)


# Process-wide: botocore's model loader, kept across runtimes (see _default_session).
_SHARED: dict[str, Any] = {}


def _default_session(region: str) -> boto3.session.Session:
    """boto3's default session (the handlers' clients come from it), sharing one model loader.

    Parsing botocore's service models is most of a cold start; sharing the loader
    across runtimes makes the second runtime in a process (every test) start fast.
    """
    boto3.setup_default_session(region_name=region)
    session = boto3.DEFAULT_SESSION
    assert session is not None
    if "loader" in _SHARED:
        session._session.register_component("data_loader", _SHARED["loader"])
    else:
        _SHARED["loader"] = session._session.get_component("data_loader")
    return session


def _conflicting_names(environments: Mapping[str, Mapping[str, str]]) -> list[str]:
    values: dict[str, set[str]] = {}
    for env in environments.values():
        for name, value in env.items():
            values.setdefault(name, set()).add(value)
    return sorted(name for name, seen in values.items() if len(seen) > 1)


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


class _Every:
    """A daemon thread calling ``action`` every ``period_s`` (first call after one period)."""

    def __init__(self, period_s: float, action: Callable[[], Any]) -> None:
        self._period_s = period_s
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            try:
                self._action()
            except Exception:
                log.exception("scheduled run failed; it runs again next period")
