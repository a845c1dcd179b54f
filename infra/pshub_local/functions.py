"""Our Lambda handlers, loaded from ``functions/`` and called in-process.

In Lambda each function has its own ``/var/task``; here all functions share one
interpreter. So each handler module is imported under a name unique to the
runtime instance (its module-level boto3 clients bind to that runtime's moto
state), and the helper modules it imports from its own folder are dropped from
``sys.modules`` afterwards so another function's same-named helper cannot shadow
them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from pshub_infra.topology import FunctionSpec

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

# sys.path and sys.modules are process-wide: load one handler at a time.
_IMPORT_LOCK = threading.Lock()
# A Lambda execution environment runs one invocation at a time, and the functions
# here share module-level state (Powertools' logger keys and metric set, caches).
# Invocations from the server, the pollers and Step Functions threads take turns;
# re-entrant for a handler that invokes another synchronously.
_INVOKE_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            day = datetime.now(UTC).strftime("%Y/%m/%d")
            self.log_stream_name = f"{day}/[{self.function_version}]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    spec: FunctionSpec
    name: str
    arn: str
    handler: Handler
    module: ModuleType

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
        )

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        with _INVOKE_LOCK:
            started = time.monotonic()
            try:
                return self.handler(event, context or self.context())
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.spec.timeout_s:
                    # Not enforced locally, but AWS would have killed it: say so.
                    log.warning(
                        "%s took %.1f s, over its %d s timeout: Lambda would have timed out",
                        self.name,
                        elapsed,
                        self.spec.timeout_s,
                    )

    def invoke_as_lambda(self, event: Any) -> tuple[str, bool]:
        """(payload JSON, errored) as the Lambda service reports it to Invoke callers."""
        context = self.context()
        try:
            result = self.invoke(event, context)
        except Exception as exc:
            log.info("%s raised %s: %s", self.name, type(exc).__name__, exc)
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(error), True
        return json.dumps(result, default=str), False


def load_handler(repo_root: Path, spec: FunctionSpec, module_name: str) -> tuple[Handler, ModuleType]:
    """Import ``spec.handler`` from ``spec.code_dir`` as a fresh module called ``module_name``."""
    code_dir = (repo_root / spec.code_dir).resolve()
    module_path, _, function_name = spec.handler.rpartition(".")
    source = code_dir / (module_path.replace(".", "/") + ".py")
    if not source.is_file():
        raise FileNotFoundError(f"function {spec.key!r}: handler module {source} does not exist")
    with _IMPORT_LOCK:
        before = set(sys.modules)
        sys.path.insert(0, str(code_dir))
        try:
            import_spec = importlib.util.spec_from_file_location(module_name, source)
            if import_spec is None or import_spec.loader is None:
                raise ImportError(f"cannot load {source}")
            module = importlib.util.module_from_spec(import_spec)
            sys.modules[module_name] = module  # dataclasses and pydantic look themselves up here
            try:
                import_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
        finally:
            sys.path.remove(str(code_dir))
            _forget_modules_from(code_dir, set(sys.modules) - before - {module_name})
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"function {spec.key!r}: {source} has no callable {function_name!r}")
    return handler, module


def unload(module: ModuleType) -> None:
    sys.modules.pop(module.__name__, None)


def _forget_modules_from(code_dir: Path, names: set[str]) -> None:
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and Path(file).resolve().is_relative_to(code_dir):
            del sys.modules[name]
