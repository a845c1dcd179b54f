"""CDK entry point: ``cdk synth`` (via cdk.json) or ``CDK_OUTDIR=cdk.out python infra/app.py``.

Synthesizes without Docker or AWS credentials: the stack is environment-agnostic
and the layers bundle on the host. cdk-nag's AwsSolutions pack validates every
synth; an unacknowledged finding fails it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# jsii's banner about Node 20 would bury the synth output (the CLI path sets it too).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[1]
# The app runs from a plain checkout: our packages are not installed.
for path in (REPO_ROOT / "infra", REPO_ROOT / "layers" / "common"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from pshub_infra.constants import STAGE_CONTEXT, stack_name  # noqa: E402
from pshub_infra.stack import PshubStack  # noqa: E402

# What the CLI turns on by default: construct paths and asset folders in the template
# metadata (the infrastructure tests map resources back to the topology by them).
CLI_DEFAULT_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
}


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context plus the CLI's defaults, so a synth without the CLI matches one with it."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return {**CLI_DEFAULT_CONTEXT, **context}


def build_app(outdir: str | None = None, stages: tuple[str, ...] | None = None) -> cdk.App:
    """The app with its stack (one per stage) and cdk-nag; ``outdir`` defaults to ``CDK_OUTDIR``
    (the CLI sets it). The stage comes from ``-c stage=dev`` (or ``PSHUB_STAGE``): stack
    ``pshub-dev``, and the stage in every physical name, so stages share an account."""
    # Context given here ranks below the CLI's, which carries the same cdk.json values.
    app = cdk.App(outdir=outdir, context=cdk_json_context())
    if stages is None:
        chosen = app.node.try_get_context(STAGE_CONTEXT) or os.environ.get("PSHUB_STAGE", "")
        stages = (str(chosen),)
    for stage in stages:
        PshubStack(
            app,
            stack_name(stage),
            stage=stage,
            description="pshub: serverless integration hub (webhook ingress to canonical events)"
            + (f", stage {stage}" if stage else ""),
        )
    add_compliance_checks(app)
    return app


def add_compliance_checks(app: cdk.App) -> None:
    """cdk-nag's AwsSolutions pack as a synth-time validation: any unacknowledged finding fails synth."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


if __name__ == "__main__":
    build_app().synth()
