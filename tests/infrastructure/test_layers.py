"""Layers: third-party dependencies built for Lambda's platform, and our pshub package."""

from __future__ import annotations

import re

from pshub_infra.constants import DEPENDENCIES_LAYER_DIR, DEPENDENCIES_REQUIREMENTS

from .support import Synth

# Shipped by the Lambda python3.12 runtime; a copy in the layer would shadow it.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3"}


def _requirements() -> dict[str, str]:
    pins = {}
    for raw in (DEPENDENCIES_LAYER_DIR / DEPENDENCIES_REQUIREMENTS).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==([0-9][0-9A-Za-z.]*)", line)
            assert match, f"not an exact pin: {line!r}"
            pins[match.group(1).lower()] = match.group(3)
    return pins


def test_requirements_pin_the_runtime_closure_without_the_sdk() -> None:
    # Given layers/dependencies/requirements.txt
    pins = _requirements()
    # Then the direct dependencies are pinned at the project's versions
    assert pins["aws-lambda-powertools"] == "3.37.0"
    assert pins["pydantic"] == "2.14.3"
    assert pins["defusedxml"] == "0.7.1"
    # And so are the transitive ones of Powertools[tracer,parser] and pydantic
    assert {"aws-xray-sdk", "wrapt", "jmespath", "pydantic-core", "typing-extensions"} <= set(pins)
    # And nothing the Lambda runtime already provides
    assert not RUNTIME_PROVIDED & set(pins)


def _layer_asset(synth: Synth, name: str) -> str:
    asset: str = synth.resource(f"Layers/{name}/Resource")["Metadata"]["aws:asset:path"]
    return asset


def test_dependencies_layer_holds_aarch64_cp312_wheels(synth: Synth) -> None:
    # Given the bundled dependencies layer
    python_dir = synth.outdir / _layer_asset(synth, "Dependencies") / "python"
    # Then every pinned distribution is installed under python/
    installed = {p.name.split("-")[0].lower().replace("_", "-") for p in python_dir.glob("*.dist-info")}
    assert installed == set(_requirements())
    # And the compiled parts are for CPython 3.12 on aarch64
    (core,) = list((python_dir / "pydantic_core").glob("_pydantic_core*.so"))
    assert "cpython-312-aarch64" in core.name
    # And no host bytecode or SDK copy came along
    assert not list(python_dir.rglob("*.pyc"))
    assert not (python_dir / "botocore").exists()


def test_common_layer_holds_the_pshub_package(synth: Synth) -> None:
    # Given the bundled pshub layer
    package = synth.outdir / _layer_asset(synth, "Common") / "python" / "pshub"
    # Then it is importable as `pshub` from /opt/python, without interpreter caches
    assert (package / "__init__.py").is_file()
    assert (package / "connections.py").is_file()
    assert not list(package.rglob("__pycache__"))


def test_layers_target_the_functions_platform(synth: Synth) -> None:
    for name in ("Dependencies", "Common"):
        props = synth.props(f"Layers/{name}/Resource")
        assert props["CompatibleRuntimes"] == ["python3.12"]
        assert props["CompatibleArchitectures"] == ["arm64"]
