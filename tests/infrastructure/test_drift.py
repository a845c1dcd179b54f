"""Drift: the template holds exactly the resources the topology declares, no more, no fewer."""

from __future__ import annotations

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, log_group_name

from .support import STACK_NAME, Synth

# Lambda functions CDK itself adds as helpers for some L2 features, by the construct id
# of their singleton provider. None is in the stack today (log-group rule targets use a
# native resource policy instead of the AwsCustomResource one); adding a feature that
# brings one is fine, it just must not count as a topology function.
CDK_HELPER_FUNCTIONS = {
    "AWS679f53fac002430cb0da5b7982bd2287": "AwsCustomResource provider (e.g. events_targets.CloudWatchLogGroup)",
    "CustomS3AutoDeleteObjectsCustomResourceProvider": "s3.Bucket(auto_delete_objects=True)",
    "BucketNotificationsHandler050a0587b7544547bf325f094a3db834": "S3 bucket notifications",
    "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a": "lambda.Function(log_retention=...)",
}


def _paths(synth: Synth, *types: str) -> set[str]:
    return {synth.path_of(logical_id) for type_ in types for logical_id in synth.resources(type_)}


def test_queues_are_exactly_the_topology_queues(synth: Synth) -> None:
    # Given the topology's queues, When the template's queues are listed, Then they match one to one
    assert _paths(synth, "AWS::SQS::Queue") == {
        f"Queues/{pascal_id(q.key)}/Resource" for q in PIPELINE.queues
    }
    assert len(synth.resources("AWS::SQS::Queue")) == len(PIPELINE.queues)


def test_tables_are_exactly_the_topology_tables(synth: Synth) -> None:
    assert _paths(synth, "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable") == {
        f"Storage/{pascal_id(t.key)}/Resource" for t in PIPELINE.tables
    }


def test_buckets_are_the_topology_buckets_plus_their_access_log_bucket(synth: Synth) -> None:
    assert _paths(synth, "AWS::S3::Bucket") == {
        f"Storage/{pascal_id(b.key)}/Resource" for b in PIPELINE.buckets
    } | {"Storage/AccessLogs/Resource"}


def test_buses_rules_and_streams_are_exactly_the_topology_ones(synth: Synth) -> None:
    assert _paths(synth, "AWS::Events::EventBus") == {
        f"Events/{pascal_id(b.key)}/Resource" for b in PIPELINE.buses
    }
    assert _paths(synth, "AWS::Events::Rule") == {
        f"Events/{pascal_id(r.key)}/Resource" for r in PIPELINE.rules
    }
    assert _paths(synth, "AWS::KinesisFirehose::DeliveryStream") == {
        f"RawArchive/{pascal_id(s.key)}/Resource" for s in PIPELINE.streams
    }


def test_state_machines_are_exactly_the_topology_ones(synth: Synth) -> None:
    assert _paths(synth, "AWS::StepFunctions::StateMachine") == {
        f"Workflows/{pascal_id(m.key)}/Resource" for m in PIPELINE.state_machines
    }


def test_named_log_groups_are_exactly_the_topology_ones(synth: Synth) -> None:
    # Given every log group with a fixed name (the others are per function, API, stream or workflow)
    named = {
        g["Properties"]["LogGroupName"]
        for g in synth.resources("AWS::Logs::LogGroup").values()
        if "LogGroupName" in g["Properties"]
        and not g["Properties"]["LogGroupName"].startswith("/aws/vendedlogs/")
    }
    # Then they are the topology's, named the way the local runtime names them
    assert named == {log_group_name(key) for key in PIPELINE.log_groups}


def test_functions_are_exactly_the_topology_functions(synth: Synth) -> None:
    # Given every Lambda function in the template
    paths = _paths(synth, "AWS::Lambda::Function")
    # When CDK's own helper functions are set aside
    helpers = {path for path in paths if path.split("/")[0] in CDK_HELPER_FUNCTIONS}
    ours = paths - helpers
    # Then the rest are the topology's functions, one each
    assert ours == {f"Functions/{pascal_id(f.key)}/Function/Resource" for f in PIPELINE.functions}
    assert not {p for p in ours if not p.startswith("Functions/")}, f"unexpected functions in {STACK_NAME}"
