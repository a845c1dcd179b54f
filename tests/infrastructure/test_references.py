"""ResourceIndex: topology Refs resolve to the built resources, late-built kinds lazily."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from pshub_infra.constructs.references import ResourceIndex
from pshub_infra.topology import Ref

from . import support  # noqa: F401 - puts infra/ and layers/common on sys.path


def test_queue_ref_resolves_to_the_requested_attribute() -> None:
    # Given an index holding a queue
    stack = cdk.Stack(cdk.App(), "Probe")
    queue = sqs.Queue(stack, "Work")
    index = ResourceIndex(queues={"work": queue})
    # Then url, arn and name are the queue's
    assert stack.resolve(index.resolve(Ref("queue", "work", "url"))) == stack.resolve(queue.queue_url)
    assert stack.resolve(index.resolve(Ref("queue", "work", "arn"))) == stack.resolve(queue.queue_arn)
    assert stack.resolve(index.resolve(Ref("queue", "work", "name"))) == stack.resolve(queue.queue_name)


def test_function_ref_resolves_after_the_function_is_built() -> None:
    # Given a ref to a function that does not exist yet (state machines will be the same)
    stack = cdk.Stack(cdk.App(), "Probe")
    index = ResourceIndex()
    value = index.resolve(Ref("function", "later", "arn"))
    # When the function is built and registered afterwards
    function = lambda_.Function(
        stack,
        "Later",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )
    index.functions["later"] = function
    # Then the value is its ARN at synth time
    assert stack.resolve(value) == stack.resolve(function.function_arn)


def test_a_missing_or_meaningless_ref_fails_synth_with_its_name() -> None:
    # Given an empty index
    index = ResourceIndex()
    # Then a ref to nothing names what is missing
    with pytest.raises(KeyError, match="raw_deliveries"):
        index.resolve(Ref("queue", "raw_deliveries", "url"))
    # And a bucket has no URL attribute
    stack = cdk.Stack(cdk.App(), "Probe")
    from aws_cdk import aws_s3 as s3

    index.buckets["claims"] = s3.Bucket(stack, "Claims")
    with pytest.raises(ValueError, match="no 'url'"):
        index.resolve(Ref("bucket", "claims", "url"))
