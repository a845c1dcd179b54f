"""The stack's outputs: how an operator command finds a resource, deployed or local.

Every queue, table, bucket and state machine of the topology is a stack output under one
name (``Queue<Key>Url``, ``<Key>Table``, ``<Key>Bucket``, ``StateMachine<Key>Arn``). The CDK
stack declares them; the local runtime registers the same outputs on a stack of the same
name in moto, so ``pshub --local ...`` and ``pshub --stack pshub-prod ...`` run the same code
and only the endpoint differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import Topology

Kind = Literal["queue", "table", "bucket", "state_machine", "function"]


def output_key(kind: Kind, key: str) -> str:
    """``("queue", "raw_deliveries")`` -> ``QueueRawDeliveriesUrl``; tables ``<Key>Table`` ..."""
    name = pascal_id(key)
    return {
        "queue": f"Queue{name}Url",
        "table": f"{name}Table",
        "bucket": f"{name}Bucket",
        "state_machine": f"StateMachine{name}Arn",
        "function": f"Function{name}Name",
    }[kind]


@dataclass(frozen=True)
class ResourceOutput:
    name: str  # the output's key
    kind: Kind
    key: str  # the topology key
    description: str


def resource_outputs(topology: Topology) -> Iterator[ResourceOutput]:
    """One output per queue (its URL), table (name), bucket (name), state machine (ARN) and
    function (name)."""
    for kind, specs in (
        ("queue", topology.queues),
        ("table", topology.tables),
        ("bucket", topology.buckets),
        ("state_machine", topology.state_machines),
        ("function", topology.functions),
    ):
        for spec in specs:
            yield ResourceOutput(output_key(kind, spec.key), kind, spec.key, spec.purpose[:1000])  # type: ignore[arg-type]
