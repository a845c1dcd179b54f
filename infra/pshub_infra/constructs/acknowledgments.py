"""cdk-nag acknowledgments: one finding id, one reason, on the narrowest construct."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` and below."""
    if len(reason) < 20:
        raise ValueError(f"acknowledging {finding} needs a real reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def logical_id(resource: IConstruct) -> str:
    """The CloudFormation logical id of an L2's resource, as cdk-nag prints it in findings."""
    cfn = resource if isinstance(resource, cdk.CfnElement) else resource.node.default_child
    if not isinstance(cfn, cdk.CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    resolved = cdk.Stack.of(cfn).resolve(cfn.logical_id)
    return str(resolved)
