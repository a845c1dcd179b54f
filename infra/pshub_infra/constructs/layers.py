"""The two Lambda layers every function gets: third-party dependencies and our ``pshub`` package."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from pshub_infra.bundling import dependencies_layer_code, package_layer_code
from pshub_infra.constants import (
    COMMON_LAYER_DIR,
    DEPENDENCIES_LAYER_DIR,
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
)


class Layers(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Separate layers: the dependencies change rarely and are large, our code often
        # and is small, so a code change re-uploads kilobytes, not megabytes.
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=dependencies_layer_code(DEPENDENCIES_LAYER_DIR),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            description="pshub third-party runtime dependencies (layers/dependencies/requirements.txt)",
        )
        self.common = lambda_.LayerVersion(
            self,
            "Common",
            code=package_layer_code(COMMON_LAYER_DIR),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            description="pshub shared code (layers/common/pshub)",
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.dependencies, self.common]
