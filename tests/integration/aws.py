"""pshub's AWS resources on moto without the rest of the runtime: for fast store-level tests.

The resources come from the same topology and the same provisioning code the local
runtime uses, so the tables tested here are the ones CDK deploys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from moto import mock_aws

from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import IdentityStore
from pshub.sync.entity_sync import EntitySync
from pshub.sync.ownership import OwnershipPolicy, load_policy
from pshub_infra.topology import OWNERSHIP_POLICY_FILE, PIPELINE
from pshub_local.resources import Resources, provision
from tests.helpers import connections

REGION = "us-east-1"


@dataclass
class Stores:
    resources: Resources
    identity: IdentityStore
    exceptions: ExceptionStore
    policy: OwnershipPolicy

    def entity_sync(self) -> EntitySync:
        return EntitySync(self.identity, self.exceptions, self.policy)


@contextmanager
def aws_stores() -> Iterator[Stores]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        registry = connections()
        resources = provision(
            PIPELINE, session, REGION, registry, dict.fromkeys(registry, "test-only-secret")
        )
        dynamodb = session.client("dynamodb")
        yield Stores(
            resources=resources,
            identity=IdentityStore(dynamodb, resources.get("table", "identity").name),
            exceptions=ExceptionStore(dynamodb, resources.get("table", "business_exceptions").name),
            policy=load_policy(OWNERSHIP_POLICY_FILE.read_text()),
        )
