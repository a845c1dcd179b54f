"""What every sandbox shares: one lock, a call log, throttling, injected failures, outages.

Every public operation runs inside ``_call``, which holds the sandbox's lock for the
whole check-then-write (the real systems enforce unique keys atomically, and Step
Functions Map iterations call from several threads), then logs the outcome.
Order of the gates, as a request meets them: outage (503 before anything), an
injected failure, the rate limit, then the operation's own checks.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.sandbox.content import differing_fields
from pshub.connectors.sandbox.dialects import DIALECTS, Dialect, Refusal
from pshub.connectors.sandbox.options import SandboxOptions
from pshub.connectors.sandbox.ratelimit import TokenBucket

_E = TypeVar("_E", bound=ConnectorError)
_R = TypeVar("_R")
Clock = Callable[[], float]  # seconds, monotonic; tests pass a fake to step through time


@dataclass(frozen=True)
class CallRecord:
    """One call as the platform saw it. ``summary`` never holds money or rates."""

    sequence: int
    operation: str
    summary: str
    outcome: str


@dataclass
class _Injected:
    error: ConnectorError
    remaining: int
    when: Literal["before", "after"]


@dataclass
class _Call:
    operation: str
    summary: str
    outcome: str = "ok"


@dataclass
class _Counters:
    by_kind: dict[str, int] = field(default_factory=dict)

    def next(self, kind: str) -> int:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        return self.by_kind[kind]


class SandboxSystem(ABC):
    """Base of the in-memory platforms. Subclasses set ``role`` and ``platforms``."""

    role: ClassVar[str]
    platforms: ClassVar[frozenset[str]]

    def __init__(self, connection: Connection, *, clock: Clock = time.monotonic) -> None:
        if connection.platform not in self.platforms:
            raise ConnectionConfigError(
                f"connection {connection.id!r}: no {self.role} sandbox for platform {connection.platform!r} "
                f"(one of {sorted(self.platforms)})"
            )
        self.connection = connection
        self.options = SandboxOptions.of(connection)
        self.dialect: Dialect = DIALECTS[connection.platform]
        self._lock = threading.RLock()
        self._bucket = TokenBucket(self.options.rate_limit_per_s, self.options.rate_limit_burst, clock)
        self._injected: dict[str, deque[_Injected]] = {}
        self._outage = False
        self._calls: list[CallRecord] = []
        self._ids = _Counters()

    @property
    def connection_id(self) -> str:
        return self.connection.id

    @property
    def platform(self) -> str:
        return self.connection.platform

    # -- test and demo controls (not part of the role interfaces) ------------------------
    def inject_failure(
        self,
        operation: str,
        error: ConnectorError,
        times: int = 1,
        when: Literal["before", "after"] = "before",
    ) -> None:
        """Fail the next ``times`` calls of ``operation`` with ``error``.

        ``when="after"`` applies the call's effect and then fails: the response was lost
        (a timeout after commit), the case idempotent creates exist for.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        with self._lock:
            self._injected.setdefault(operation, deque()).append(_Injected(error, times, when))

    def timeout(self, operation: str, message: str = "read timed out after 30 s") -> TransientConnectorError:
        """A timeout as this platform's connector would raise it, for ``inject_failure``."""
        return TransientConnectorError(
            message,
            platform=self.platform,
            connection_id=self.connection_id,
            operation=operation,
            http_status=504,
        )

    def set_outage(self, down: bool) -> None:
        """While down, every call fails with a 503 ``TransientConnectorError``."""
        with self._lock:
            self._outage = down

    def calls(self, operation: str | None = None) -> list[CallRecord]:
        with self._lock:
            return [c for c in self._calls if operation is None or c.operation == operation]

    def snapshot(self) -> dict[str, Any]:
        """Every record, JSON-able, for the local demo's printout."""
        with self._lock:
            return {
                "platform": self.platform,
                "role": self.role,
                "implementation": "sandbox",
                "records": self._records(),
                "calls": len(self._calls),
            }

    @abstractmethod
    def _records(self) -> dict[str, Any]:
        """Each role's records, JSON-able, for the snapshot."""

    # -- for subclasses ------------------------------------------------------------------
    @contextmanager
    def _call(self, operation: str, summary: str) -> Iterator[_Call]:
        with self._lock:
            call = _Call(operation, summary)
            applied = False
            try:
                self._gate(operation)
                yield call
                applied = True
                self._fail_if_injected(operation, "after")
            except ConnectorError as error:
                self._log(call, error, applied)
                raise
            self._log(call)

    def _log(self, call: _Call, error: ConnectorError | None = None, applied: bool = False) -> None:
        outcome = call.outcome
        if error is not None:
            failure = type(error).__name__ + (f" {error.platform_code}" if error.platform_code else "")
            outcome = f"{outcome}, then {failure} (response lost)" if applied else failure
        self._calls.append(CallRecord(len(self._calls) + 1, call.operation, call.summary, outcome))

    def _gate(self, operation: str) -> None:
        if self._outage:
            raise self._error(
                TransientConnectorError, operation, "platform unavailable (outage)", Refusal.UNAVAILABLE
            )
        self._fail_if_injected(operation, "before")
        wait = self._bucket.take()
        if wait is not None:
            code, text, status = self.dialect.words(Refusal.RATE_LIMITED)
            raise RateLimited(
                f"rate limit of {self.options.rate_limit_per_s:g}/s (burst {self.options.rate_limit_burst}) "
                f"exceeded; retry after {wait:.2f} s",
                retry_after_s=round(wait, 3),
                platform=self.platform,
                connection_id=self.connection_id,
                operation=operation,
                platform_code=code,
                platform_message=text,
                http_status=status,
            )

    def _fail_if_injected(self, operation: str, when: Literal["before", "after"]) -> None:
        queue = self._injected.get(operation)
        if not queue or queue[0].when != when:
            return
        injected = queue[0]
        injected.remaining -= 1
        if injected.remaining <= 0:
            queue.popleft()
        raise injected.error.with_traceback(None)

    def _find(
        self, operation: str, summary: str, native_id: str | None, records: Mapping[str, _R]
    ) -> _R | None:
        """A read by business key: the record under ``native_id`` (looked up in an index), or None."""
        with self._call(operation, summary) as call:
            call.outcome = f"found {native_id}" if native_id else "not found"
            return records[native_id] if native_id else None

    def _new_id(self, kind: str, key: str | None = None) -> str:
        return self.dialect.new_id(self.connection_id, kind, self._ids.next(kind), key)

    def _error(
        self,
        cls: type[_E],
        operation: str,
        message: str,
        refusal: Refusal,
        words: Mapping[str, object] | None = None,
        **own: Any,
    ) -> _E:
        """An error of type ``cls`` worded as the platform words ``refusal``.

        ``words`` fill the platform's message (record, id, field, value, fields, date);
        ``own`` are the error class's own arguments (``Conflict``'s key and fields).
        """
        code, text, status = self.dialect.words(refusal, **(words or {}))
        return cls(
            message,
            platform=self.platform,
            connection_id=self.connection_id,
            operation=operation,
            platform_code=code,
            platform_message=text,
            http_status=status,
            **own,
        )

    def _not_found(self, operation: str, kind: str, native_id: str) -> NotFound:
        record = self.dialect.record(kind)
        message = f"no {kind} {native_id!r} in {self.platform}"
        return self._error(
            NotFound, operation, message, Refusal.NOT_FOUND, {"record": record, "id": native_id}
        )

    def _same_or_conflict(
        self,
        operation: str,
        code: str,
        *,
        kind: str,
        existing_id: str,
        existing: dict[str, Any],
        requested: dict[str, Any],
    ) -> None:
        """Idempotent create: the same content is the existing record; other content is a conflict."""
        differing = differing_fields(existing, requested)
        if differing:
            raise self._error(
                Conflict,
                operation,
                f"project code {code} already has {kind.replace('_', ' ')} {existing_id} with different "
                f"{', '.join(differing)}",
                Refusal.DUPLICATE,
                {
                    "record": self.dialect.record(kind),
                    "field": "project code",
                    "id": existing_id,
                    "value": code,
                },
                key=code,
                fields=differing,
            )

    def _check_code(self, operation: str, code: str) -> None:
        pattern = self.options.project_code_pattern
        if pattern is not None and not pattern.fullmatch(code):
            raise self._error(
                PermanentConnectorError,
                operation,
                f"project code {code!r} does not match this {self.role}'s format {pattern.pattern}",
                Refusal.INVALID_VALUE,
                {"field": "project code", "value": code},
            )
