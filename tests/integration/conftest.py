"""Shared fixtures for integration tests: pshub's whole topology on moto, in-process."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from pshub_local.runtime import LocalRuntime


@pytest.fixture
def local_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    """A fresh LocalRuntime per test: its own moto state, handlers imported anew.

    ``runtime.invoke(key, event)`` calls a handler, ``runtime.drain()`` runs the SQS
    consumers until their queues are empty, ``runtime.canonical_events()``,
    ``runtime.unmappable()`` and ``runtime.dead_letters()`` show what came out.
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    # Step Functions Retry sleeps in real time in moto; tests need not wait.
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _seconds: None))
    with LocalRuntime() as runtime:
        yield runtime
