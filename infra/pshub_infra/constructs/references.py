"""Resolving the topology's ``Ref(kind, key, attribute)`` to the built resources' values."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
import jsii
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn

from pshub_infra.topology import Ref


@dataclass
class ResourceIndex:
    """Every resource the stack built, by topology key, so constructs can find each other.

    ``functions`` and ``state_machines`` fill in after the functions exist; refs to them
    resolve lazily (at synth), so a function may name a state machine built after it.
    """

    queues: dict[str, sqs.Queue] = field(default_factory=dict)
    tables: dict[str, dynamodb.Table] = field(default_factory=dict)
    buckets: dict[str, s3.Bucket] = field(default_factory=dict)
    streams: dict[str, firehose.DeliveryStream] = field(default_factory=dict)
    buses: dict[str, events.EventBus] = field(default_factory=dict)
    functions: dict[str, lambda_.Function] = field(default_factory=dict)
    state_machines: dict[str, sfn.StateMachine] = field(default_factory=dict)

    def resolve(self, ref: Ref) -> str:
        if ref.kind in ("function", "state_machine"):
            return cdk.Lazy.string(_LazyRef(self, ref))
        return self.resolve_now(ref)

    def resolve_now(self, ref: Ref) -> str:  # noqa: PLR0911 - one branch per kind and attribute
        try:
            if ref.kind == "queue":
                queue = self.queues[ref.key]
                return {"url": queue.queue_url, "arn": queue.queue_arn, "name": queue.queue_name}[
                    ref.attribute
                ]
            if ref.kind == "table":
                table = self.tables[ref.key]
                return table.table_arn if ref.attribute == "arn" else _name_only(ref, table.table_name)
            if ref.kind == "bucket":
                bucket = self.buckets[ref.key]
                return bucket.bucket_arn if ref.attribute == "arn" else _name_only(ref, bucket.bucket_name)
            if ref.kind == "bus":
                bus = self.buses[ref.key]
                return bus.event_bus_arn if ref.attribute == "arn" else _name_only(ref, bus.event_bus_name)
            if ref.kind == "stream":
                stream = self.streams[ref.key]
                if ref.attribute == "arn":
                    return stream.delivery_stream_arn
                return _name_only(ref, stream.delivery_stream_name)
            if ref.kind == "function":
                function = self.functions[ref.key]
                if ref.attribute == "arn":
                    return function.function_arn
                return _name_only(ref, function.function_name)
            if ref.kind == "state_machine":
                machine = self.state_machines[ref.key]
                if ref.attribute == "arn":
                    return machine.state_machine_arn
                return _name_only(ref, machine.state_machine_name)
        except KeyError:
            raise KeyError(f"{ref}: no {ref.kind} with key {ref.key!r} was built") from None
        raise ValueError(f"{ref}: unknown kind {ref.kind!r}")


def _name_only(ref: Ref, name: str) -> str:
    if ref.attribute != "name":
        raise ValueError(f"{ref}: a {ref.kind} has no {ref.attribute!r}; use 'name' or 'arn'")
    return name


@jsii.implements(cdk.IStableStringProducer)
class _LazyRef:
    def __init__(self, index: ResourceIndex, ref: Ref) -> None:
        self._index = index
        self._ref = ref

    def produce(self) -> str | None:
        return self._index.resolve_now(self._ref)
