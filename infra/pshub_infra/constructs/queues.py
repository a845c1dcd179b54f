"""SQS queues of the topology, each with its dead-letter queue wired as declared."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from pshub_infra.constructs.acknowledgments import acknowledge
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import QueueSpec, Topology


class Queues(Construct):
    """One ``sqs.Queue`` per ``QueueSpec``; ``self.queues`` is indexed by topology key."""

    def __init__(self, scope: Construct, construct_id: str, *, topology: Topology) -> None:
        super().__init__(scope, construct_id)
        self._topology = topology
        self.queues: dict[str, sqs.Queue] = {}
        for spec in topology.queues:
            self._build(spec)
        self._acknowledge_terminal_queues()

    def _build(self, spec: QueueSpec) -> sqs.Queue:
        if spec.key in self.queues:
            return self.queues[spec.key]
        dead_letter = None
        if spec.dead_letter_queue is not None:
            # A DLQ may be declared after the queue that uses it.
            dlq = self._build(self._topology.queue(spec.dead_letter_queue))
            dead_letter = sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count)
        queue = sqs.Queue(
            self,
            pascal_id(spec.key),
            fifo=spec.fifo or None,
            visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout_s),
            retention_period=cdk.Duration.days(spec.retention_days),
            dead_letter_queue=dead_letter,
            # SSE-SQS: encrypted at rest without a key policy that EventBridge (a
            # producer of some queues) would also have to be let into.
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queues[spec.key] = queue
        return queue

    def _acknowledge_terminal_queues(self) -> None:
        """SQS3 wants a DLQ on every queue that is not a redrive target; ours end somewhere on purpose."""
        redrive_targets = {q.dead_letter_queue for q in self._topology.queues if q.dead_letter_queue}
        consumed = {c.queue for c in self._topology.consumers}
        rule_dlqs = {r.target_dlq: r.key for r in self._topology.rules if r.target_dlq}
        for spec in self._topology.queues:
            # A consumed queue without a DLQ is a real finding: leave it to fail synth.
            if spec.dead_letter_queue is not None or spec.key in redrive_targets or spec.key in consumed:
                continue
            if spec.key in rule_dlqs:
                reason = (
                    f"Dead-letter queue of the EventBridge rule {rule_dlqs[spec.key]!r}: it is the end of "
                    "the line for events EventBridge could not deliver, read and redriven by an operator."
                )
            else:
                reason = (
                    f"Terminal queue ({spec.purpose}): no function consumes it, a person reads it, so "
                    "messages are never received and failed repeatedly; a DLQ would stay empty."
                )
            acknowledge(self.queues[spec.key], "AwsSolutions-SQS3", reason)
