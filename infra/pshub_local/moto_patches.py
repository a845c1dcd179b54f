"""What moto's Step Functions interpreter needs to survive concurrent executions, and what
its EventBridge needs to keep up with a month-end burst.

Each execution runs in its own thread, and the interpreter parses the definition
there with ANTLR (and JSONPath with PLY), whose generated parsers share caches at
class level: two executions parsing at once can corrupt them (seen as an
``IndexError`` in one worker thread). And an exception in a worker thread ends the
thread but leaves the execution RUNNING for ever. So: parsing is serialised, and an
execution whose interpreter fails is marked FAILED (``States.Runtime``, with the
cause) as Step Functions itself would, so nothing waits on it.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

log = logging.getLogger(__name__)


def step_functions_patches() -> list[mock._patch[Any]]:
    """The patches, not started; start them after ``mock_aws`` and stop them before it ends."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    parsing = threading.RLock()  # re-entrant: the ASL preprocessor parses intrinsic functions

    def serialised(parse: Callable[[str], Any]) -> Callable[[str], Any]:
        def locked(source: str) -> Any:
            with parsing:
                return parse(source)

        return locked

    run_execution = ExecutionWorker._execution_logic

    def guarded(worker: Any) -> None:
        try:
            run_execution(worker)  # type: ignore[no-untyped-call]
        except Exception as error:
            execution = worker._execution_communication.execution
            log.exception("execution %s failed inside the local Step Functions interpreter", execution.name)
            execution.exec_status = ExecutionStatus.FAILED
            execution.error = "States.Runtime"
            execution.cause = f"local Step Functions interpreter: {type(error).__name__}: {error}"
            execution.stop_date = datetime.datetime.now(tz=datetime.UTC)

    return [
        mock.patch.object(
            AmazonStateLanguageParser, "parse", staticmethod(serialised(AmazonStateLanguageParser.parse))
        ),
        mock.patch.object(IntrinsicParser, "parse", staticmethod(serialised(IntrinsicParser.parse))),
        mock.patch.object(json_path, "parse", serialised(json_path.parse)),  # type: ignore[attr-defined]
        mock.patch.object(ExecutionWorker, "_execution_logic", guarded),
    ]


def event_bus_patches() -> list[mock._patch[Any]]:
    """moto's EventBridge compiles the same JSONPath expressions (its default input template:
    eight of them) with PLY for every event and every target: most of a local PutEvents' time.
    The compiled expressions are kept (one per text); what each finds is unchanged."""
    import functools

    import jsonpath_ng.ext

    compile_path = jsonpath_ng.ext.parse  # type: ignore[attr-defined]
    compiling = threading.Lock()  # PLY's parser tables are shared: compile one at a time

    @functools.lru_cache(maxsize=256)
    def cached(text: str) -> Any:
        with compiling:
            return compile_path(text)

    return [mock.patch.object(jsonpath_ng.ext, "parse", cached)]


def queue_patches() -> list[mock._patch[Any]]:
    """moto's SQS reads its clock through ``datetime`` (two conversions per reading) and, for
    every message it hands out, recomputes all the queue's attributes, message counts included
    (a pass over the whole queue), to find the retention period: receiving ten messages from a
    queue a month-end burst has filled to a thousand took half a second. The clock reads
    ``time.time()`` (the same instant: moto's reading is the UTC wall clock as seconds since the
    epoch), and the retention check reads the queue's retention period alone. What a receive
    returns is unchanged, expiry by retention included."""
    import time

    from moto.core import utils as moto_utils
    from moto.sqs import models

    unix_time, unix_time_millis = moto_utils.unix_time, moto_utils.unix_time_millis

    def now_s(dt: datetime.datetime | None = None) -> float:
        return time.time() if dt is None else unix_time(dt)

    def now_ms(dt: datetime.datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else unix_time_millis(dt)

    def retained(backend: Any, queue_name: str, message: Any) -> bool:
        retention_s = int(backend.get_queue(queue_name).message_retention_period)
        return bool(retention_s + message.sent_timestamp / 1000 > time.time())

    return [
        mock.patch.object(models, "unix_time", now_s),
        mock.patch.object(models, "unix_time_millis", now_ms),
        mock.patch.object(models.SQSBackend, "is_message_valid_based_on_retention_period", retained),
    ]
