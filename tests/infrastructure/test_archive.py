"""Firehose: batches raw deliveries into the archive bucket, compressed, encrypted, as declared."""

from __future__ import annotations

import pytest

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, DeliveryStreamSpec

from .support import Synth, get_att


@pytest.mark.parametrize("spec", PIPELINE.streams, ids=lambda spec: spec.key)
def test_delivery_stream_matches_its_spec(synth: Synth, spec: DeliveryStreamSpec) -> None:
    # Given a topology delivery stream
    props = synth.props(f"RawArchive/{pascal_id(spec.key)}/Resource")
    destination = props["ExtendedS3DestinationConfiguration"]

    # Then producers put records directly and they are encrypted in the stream
    assert props["DeliveryStreamType"] == "DirectPut"
    assert props["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] in {
        "AWS_OWNED_CMK",
        "CUSTOMER_MANAGED_CMK",
    }
    # And it writes GZIP batches to its bucket with the declared buffering and prefixes
    assert destination["BucketARN"] == get_att(synth.logical_id(f"Storage/{pascal_id(spec.bucket)}/Resource"))
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["BufferingHints"] == {
        "IntervalInSeconds": spec.buffer_interval_s,
        "SizeInMBs": spec.buffer_size_mib,
    }
    assert destination["Prefix"] == spec.prefix
    assert destination["ErrorOutputPrefix"] == spec.error_prefix
    # And delivery errors are logged
    assert destination["CloudWatchLoggingOptions"]["Enabled"] is True
