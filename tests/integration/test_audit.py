"""The audit trail on the table the stack deploys (moto): append-only, in order, with who."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from pshub.store.audit import AuditEntry, AuditLog, AuditOverwrite, caller_identity, exception_subject
from tests.integration.aws import REGION, aws_stores


def test_entries_come_back_in_order_and_an_entry_is_never_overwritten() -> None:
    with aws_stores() as stores:
        moments = iter(datetime(2026, 12, 7, 16, 0, tzinfo=UTC) + timedelta(seconds=n) for n in range(10))
        log = AuditLog(
            boto3.client("dynamodb", region_name=REGION),
            stores.resources.get("table", "audit").name,
            clock=lambda: next(moments),
        )
        subject = exception_subject("provisioning_failed-1")
        first = log.record(subject, "exception.retry", "arn:aws:iam::123456789012:user/ana", note="template restored",
                           before={"status": "open"}, after={"status": "resolved"})  # fmt: skip
        log.record(subject, "exception.abandon", "local:sam", note="deal withdrawn")
        # The same entry again (a retried write, or someone rewriting history) is refused ...
        with pytest.raises(AuditOverwrite, match="not replaced"):
            log.append(first)
        forged = AuditEntry(subject, first.at, "local:mallory", "exception.retry", suffix=first.suffix)
        with pytest.raises(AuditOverwrite):
            log.append(forged)
        # ... and what was written stands, oldest first, with who, what and the before and after.
        entries = log.entries(subject)
        assert [(e.actor, e.action, e.note) for e in entries] == [
            ("arn:aws:iam::123456789012:user/ana", "exception.retry", "template restored"),
            ("local:sam", "exception.abandon", "deal withdrawn"),
        ]
        assert (entries[0].before, entries[0].after) == ({"status": "open"}, {"status": "resolved"})
        assert entries[0].at == "2026-12-07T16:00:00.000000Z"
        assert log.entries(exception_subject("another")) == []


def test_the_actor_is_the_callers_iam_identity_or_the_local_user() -> None:
    with aws_stores():
        assert caller_identity(boto3.client("sts", region_name=REGION)).startswith("arn:aws:")
    assert caller_identity(None).startswith("local:")
