"""Several stages (dev, staging, prod) deploy side by side into one account: each is its own
stack (``pshub-<stage>``), and every physical name the stack fixes carries its stage, so no
two stages claim the same name. Names CloudFormation generates are unique by construction; the
ones pshub sets (log groups, secrets) are what could collide."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .support import REPO_ROOT, Synth

# Properties that hold a resource's physical name (the others CloudFormation generates).
NAME_PROPERTIES = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Events::EventBus": "Name",
    "AWS::S3::Bucket": "BucketName",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::SSM::Parameter": "Name",
}


def fixed_names(template: dict[str, Any]) -> set[str]:
    """The physical names a template spells out (literal strings, not generated)."""
    names = set()
    for resource in template["Resources"].values():
        prop = NAME_PROPERTIES.get(resource["Type"])
        value = (resource.get("Properties") or {}).get(prop) if prop else None
        if isinstance(value, str):
            names.add(value)
    return names


@pytest.fixture(scope="module")
def two_stages(cdk_app: Any, synth: Synth) -> dict[str, dict[str, Any]]:
    outdir = REPO_ROOT / "cdk.out" / "stages"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    # The assets (the dependencies layer above all) are the ones the stack's own synth built:
    # linked, so CDK finds them bundled and does not run pip again.
    for asset in synth.outdir.glob("asset.*"):
        (outdir / asset.name).symlink_to(asset, target_is_directory=asset.is_dir())
    try:
        cdk_app.build_app(outdir=str(outdir), stages=("dev", "prod")).synth()
    except RuntimeError as exc:  # cdk-nag findings are test_nag's to report
        if "ValidationFailed" not in str(exc):
            raise
    return {
        stage: json.loads((outdir / f"pshub-{stage}.template.json").read_text()) for stage in ("dev", "prod")
    }


@pytest.mark.xdist_group("synth")
def test_two_stages_synthesize_side_by_side_with_no_name_in_common(
    two_stages: dict[str, dict[str, Any]],
) -> None:
    dev, prod = (fixed_names(two_stages[s]) for s in ("dev", "prod"))
    assert dev and prod and dev.isdisjoint(prod)
    # Every fixed name carries its stage: the secrets, the event and execution log groups.
    assert all("dev" in name for name in dev) and all("prod" in name for name in prod)
    assert "pshub/dev/connections/stripe-acme/api" in dev and "/pshub/prod/canonical-events" in prod
    assert "/aws/vendedlogs/states/pshub-dev-provision-project" in dev


@pytest.mark.xdist_group("synth")
def test_each_stage_says_its_stage_and_its_functions_read_its_own_secrets(
    two_stages: dict[str, dict[str, Any]],
) -> None:
    for stage, template in two_stages.items():
        assert template["Outputs"]["Stage"]["Value"] == stage
        functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        environments = [(f["Properties"].get("Environment") or {}).get("Variables", {}) for f in functions]
        ours = [e for e in environments if "POWERTOOLS_SERVICE_NAME" in e]
        assert ours and all(e.get("PSHUB_STAGE") == stage for e in ours)


def test_a_stage_name_that_would_break_a_physical_name_is_refused() -> None:
    from pshub.connections import ConnectionConfigError, api_secret_name

    assert api_secret_name("stripe-acme", "dev") == "pshub/dev/connections/stripe-acme/api"
    assert api_secret_name("stripe-acme", "") == "pshub/connections/stripe-acme/api"
    for bad in ("Dev", "dev-1", "d/ev", "averyveryverylongstage", "1dev"):
        with pytest.raises(ConnectionConfigError, match="not 1-12 lowercase"):
            api_secret_name("stripe-acme", bad)


def test_the_stage_comes_from_the_environment_or_cdk_context(
    cdk_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws_cdk as cdk

    monkeypatch.setenv("PSHUB_STAGE", "staging")
    app = cdk_app.build_app(outdir=str(tmp_path))
    assert [c.node.id for c in app.node.children if isinstance(c, cdk.Stack)] == ["pshub-staging"]
    monkeypatch.delenv("PSHUB_STAGE")
    app = cdk_app.build_app(outdir=str(tmp_path / "none"))
    assert [c.node.id for c in app.node.children if isinstance(c, cdk.Stack)] == ["pshub"]


@pytest.mark.xdist_group("synth")
def test_every_stage_passes_cfn_lint(two_stages: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    from .test_cfn_lint import lint

    for stage, template in two_stages.items():
        assert lint(template, tmp_path) == [], stage


@pytest.mark.xdist_group("synth")
def test_each_stage_alarms_on_its_own_business_figures(two_stages: dict[str, dict[str, Any]]) -> None:
    for stage, template in two_stages.items():
        kpi_alarms = [
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "pshub"
        ]
        assert kpi_alarms
        for alarm in kpi_alarms:  # never another stage's figures, nor all stages' mixed
            assert {"Name": "stage", "Value": stage} in alarm["Dimensions"]
