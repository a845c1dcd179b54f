"""cfn-lint, CloudFormation's own linter, beside cdk-nag: what ``cdk deploy`` would refuse
(a property CloudFormation does not know, a bad value, a reference to nothing) fails here first.

Every finding fails the test, errors and warnings alike, except two that the CDK itself emits
and pshub cannot change: W3005 (CDK's L2 functions and state machines list their role in
``DependsOn`` as well as referencing it) and W7001 (the Firehose L2 adds a region -> CIDR mapping
it only uses for destinations we do not have).
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint_file

from .support import Synth

CDK_OWN_FINDINGS = ["W3005", "W7001"]
# The regions pshub is documented to deploy in (resource types and properties are checked per region).
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]


def lint(template: dict[str, Any], folder: Path) -> list[str]:
    """cfn-lint's findings on ``template`` (written to a file of its own in ``folder``)."""
    path = folder / f"lint-{uuid.uuid4().hex}.template.json"
    path.write_text(json.dumps(template))
    matches = lint_file(path, ManualArgs(regions=REGIONS, ignore_checks=CDK_OWN_FINDINGS))
    return [str(m) for m in matches]


def test_the_stack_passes_cfn_lint(synth: Synth, tmp_path: Path) -> None:
    assert lint(synth.template, tmp_path) == []


def test_cfn_lint_catches_what_cloudformation_would_refuse(synth: Synth, tmp_path: Path) -> None:
    # The same template with a table billed in a mode DynamoDB does not have and a queue given a
    # property that does not exist: the check is live, not a formality.
    template = copy.deepcopy(synth.template)
    resources = template["Resources"].values()
    table = next(r for r in resources if r["Type"] == "AWS::DynamoDB::Table")
    table["Properties"]["BillingMode"] = "WHEN_BUSY"
    queue = next(r for r in resources if r["Type"] == "AWS::SQS::Queue")
    queue["Properties"]["RetentionDays"] = 30
    found = lint(template, tmp_path)
    assert any("WHEN_BUSY" in f for f in found), found
    assert any("RetentionDays" in f for f in found), found
