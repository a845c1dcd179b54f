"""Queues: every topology queue exists, encrypted, TLS-only, with its DLQ wired as declared."""

from __future__ import annotations

import pytest

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, QueueSpec

from .support import Synth, get_att


@pytest.mark.parametrize("spec", PIPELINE.queues, ids=lambda spec: spec.key)
def test_queue_matches_its_spec(synth: Synth, spec: QueueSpec) -> None:
    # Given the queue declared in the topology
    # When the stack is synthesized
    props = synth.props(f"Queues/{pascal_id(spec.key)}/Resource")

    # Then its timeouts and encryption are the declared ones
    assert props["VisibilityTimeout"] == spec.visibility_timeout_s
    assert props["MessageRetentionPeriod"] == spec.retention_days * 24 * 3600
    assert props["SqsManagedSseEnabled"] is True
    # And it redrives to its DLQ after max_receive_count failed receives, or not at all
    if spec.dead_letter_queue is None:
        assert "RedrivePolicy" not in props
    else:
        dlq_id = synth.logical_id(f"Queues/{pascal_id(spec.dead_letter_queue)}/Resource")
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": get_att(dlq_id),
            "maxReceiveCount": spec.max_receive_count,
        }


@pytest.mark.parametrize("spec", PIPELINE.queues, ids=lambda spec: spec.key)
def test_queue_refuses_plain_http(synth: Synth, spec: QueueSpec) -> None:
    # Given the queue's resource policy
    queue_id = synth.logical_id(f"Queues/{pascal_id(spec.key)}/Resource")
    statements = synth.props(f"Queues/{pascal_id(spec.key)}/Policy/Resource")["PolicyDocument"]["Statement"]

    # Then it denies every request that is not over TLS
    assert {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": get_att(queue_id),
    } in statements


def test_raw_deliveries_dlq_is_the_declared_one(synth: Synth) -> None:
    # Given the ingest queue the normaliser consumes
    spec = PIPELINE.queue("raw_deliveries")
    # Then a failed delivery ends, after five tries, in raw_deliveries_dlq
    assert spec.dead_letter_queue == "raw_deliveries_dlq"
    redrive = synth.props("Queues/RawDeliveries/Resource")["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"] == get_att(synth.logical_id("Queues/RawDeliveriesDlq/Resource"))
