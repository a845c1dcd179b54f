"""Configuration delivered to the functions: the connection registry and the files of
``FunctionSpec.config_env``, each in an SSM parameter (``ConfigParameters``) the function's
variable names (``ssm:<name>``), or for the ingress, in the variable itself.

Lambda allows 4 KB for all of a function's variables together, so comment lines are
blanked (line numbers stay, so a loader's "line N" still points into the repository
file) and JSON is compacted. The result must mean exactly what the file means; that
is checked by parsing both.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import (
    CONNECTIONS_VARIABLE,
    REPO_ROOT,
    Topology,
    config_files,
    config_key,
    config_parameter_name,
    render_config,
)

# Lambda's limit on the total size of a function's environment variables.
LAMBDA_ENV_LIMIT_BYTES = 4 * 1024
# Unresolved values (queue URLs, ARNs, names) are counted at this upper bound.
TOKEN_ESTIMATE_BYTES = 160


def config_text(path: Path) -> str:
    """The file's text, as small as its meaning allows (the topology's one rendering)."""
    return render_config(str(path))


def environment_size(environment: dict[str, str]) -> int:
    """Bytes Lambda counts for these variables, with unresolved tokens at their upper bound."""
    size = 0
    for name, value in environment.items():
        size += len(name.encode())
        size += TOKEN_ESTIMATE_BYTES if cdk.Token.is_unresolved(value) else len(value.encode())
    return size


# SSM Parameter Store's standard tier holds 4 KB a parameter (free); the texts are packed
# (``render_config``) above 1 KB, so a configuration of ~20 KB of TOML or JSON still fits.
PARAMETER_LIMIT_BYTES = 4096


class ConfigParameters(Construct):
    """One SSM parameter per configuration variable (the connection registry and every
    ``config_env`` file), named ``/pshub/<stage>/config/<key>``, holding the text the variable
    would have held. ``self.parameters`` is indexed by variable."""

    def __init__(
        self, scope: Construct, construct_id: str, *, topology: Topology, registry_text: str, stage: str = ""
    ) -> None:
        super().__init__(scope, construct_id)
        texts = {CONNECTIONS_VARIABLE: registry_text}
        texts.update({v: config_text(REPO_ROOT / path) for v, path in config_files(topology).items()})
        self.parameters: dict[str, ssm.StringParameter] = {}
        for variable, text in texts.items():
            if len(text.encode()) > PARAMETER_LIMIT_BYTES:
                raise ValueError(
                    f"{variable}: {len(text.encode())} bytes packed, over SSM's {PARAMETER_LIMIT_BYTES}"
                )
            self.parameters[variable] = ssm.StringParameter(
                self,
                pascal_id(variable.lower()),
                parameter_name=config_parameter_name(variable, stage),
                string_value=text,
                tier=ssm.ParameterTier.STANDARD,
                description=f"pshub configuration {config_key(variable)}: `pshub config show|set`",
            )
