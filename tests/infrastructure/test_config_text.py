"""Configuration delivered in environment variables: compact, same meaning, within Lambda's limit."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import aws_cdk as cdk
import pytest

from pshub.settings import PACKED_PREFIX, config_value, pack_config
from pshub_infra.constructs.config_text import (
    LAMBDA_ENV_LIMIT_BYTES,
    TOKEN_ESTIMATE_BYTES,
    config_text,
    environment_size,
)
from pshub_infra.topology import PIPELINE, REPO_ROOT


def test_toml_comments_are_blanked_keeping_line_numbers(tmp_path: Path) -> None:
    # Given a commented TOML file
    path = tmp_path / "policy.toml"
    path.write_text("# header\n# more\nversion = 1\n\n[[rule]]  # inline stays\nowner = 'crm'\n")
    # When it is prepared for the environment
    text = config_text(path)
    # Then comment lines are empty, the rest is where it was, and the meaning is unchanged
    assert text.splitlines()[2] == "version = 1"
    assert "# header" not in text
    assert tomllib.loads(text) == tomllib.loads(path.read_text())


def test_toml_hash_lines_inside_strings_are_data(tmp_path: Path) -> None:
    # Given a multi-line string whose line starts with '#'
    path = tmp_path / "policy.toml"
    path.write_text('note = """\n# not a comment\n"""\n')
    # Then the file is delivered unchanged
    assert config_text(path) == path.read_text()


def test_json_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n  "a": [1, 2],\n  "b": {"c": "d"}\n}\n')
    assert config_text(path) == '{"a":[1,2],"b":{"c":"d"}}'


def test_unresolved_values_count_at_their_upper_bound() -> None:
    stack = cdk.Stack(cdk.App(), "Probe")
    token = cdk.Token.as_string(cdk.Fn.ref("Something"))
    del stack
    assert environment_size({"A": "xy", "B": token}) == 1 + 2 + 1 + TOKEN_ESTIMATE_BYTES


@pytest.mark.parametrize("spec", [f for f in PIPELINE.functions if f.config_env], ids=lambda f: f.key)
def test_declared_config_files_fit_the_environment(spec: object) -> None:
    # Given a function that receives configuration files
    texts = {name: config_text(REPO_ROOT / path) for name, path in spec.config_env.items()}  # type: ignore[attr-defined]
    # Then they leave room for its other variables
    assert environment_size(texts) < LAMBDA_ENV_LIMIT_BYTES * 3 // 4, {k: len(v) for k, v in texts.items()}
    for name, path in spec.config_env.items():  # type: ignore[attr-defined]
        text = config_value(texts[name])
        if path.endswith(".json"):
            assert json.loads(text) == json.loads((REPO_ROOT / path).read_text())
        if path.endswith(".toml"):  # the same meaning, line for line
            assert tomllib.loads(text) == tomllib.loads((REPO_ROOT / path).read_text())
            assert len(text.splitlines()) == len((REPO_ROOT / path).read_text().splitlines())


def test_a_large_file_is_packed_and_unpacks_to_its_text() -> None:
    text = "".join(f"key_{n} = {n}\n" for n in range(200))
    packed = pack_config(text)
    assert packed.startswith(PACKED_PREFIX) and len(packed) < len(text) // 2
    assert config_value(packed) == text
    assert pack_config("small = 1\n") == "small = 1\n" == config_value("small = 1\n")
