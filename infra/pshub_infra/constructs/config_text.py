"""Configuration files delivered as environment variables (``FunctionSpec.config_env``).

Lambda allows 4 KB for all of a function's variables together, so comment lines are
blanked (line numbers stay, so a loader's "line N" still points into the repository
file) and JSON is compacted. The result must mean exactly what the file means; that
is checked by parsing both.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from pshub_infra.topology import render_config

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
