"""Layers: third-party dependencies built for Lambda's platform, and our pshub package."""

from __future__ import annotations

import re
import sys

from pshub_infra.constants import (
    DEPENDENCIES_LAYER_DIR,
    DEPENDENCIES_REQUIREMENTS,
    LAMBDA_RUNTIME,
    PYTHON_VERSION,
)
from pshub_infra.layer_lock import LAYER_REQUIREMENTS, LOCK_FILE, lock_hashes, render

from .support import Synth

# Shipped by the Lambda python3.11 runtime; a copy in the layer would shadow it.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3"}


def _requirements() -> dict[str, str]:
    pins = {}
    for raw in (DEPENDENCIES_LAYER_DIR / DEPENDENCIES_REQUIREMENTS).read_text().splitlines():
        line = raw.split("#", 1)[0].strip().removesuffix("\\").strip()
        if line and not line.startswith("--hash="):
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


def test_what_ships_is_what_was_tested() -> None:
    # The Lambda runtime is the Python these tests run on ...
    tested = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (PYTHON_VERSION, LAMBDA_RUNTIME.name) == (tested, f"python{tested}")
    # ... and every distribution in the layer is the lock's version, with the lock's hashes
    # (the layer build installs with --require-hashes).
    text = LAYER_REQUIREMENTS.read_text(encoding="utf-8")
    assert render(text, LOCK_FILE.read_text(encoding="utf-8")) == text, (
        "run python -m pshub_infra.layer_lock write"
    )
    lock = lock_hashes(LOCK_FILE.read_text(encoding="utf-8"))
    for name, version in _requirements().items():
        assert lock[name][0] == version
        assert all(f"--hash={h}" in text for h in lock[name][1])


def test_the_layer_refuses_a_pin_the_tests_never_ran_on() -> None:
    import pytest

    lock = LOCK_FILE.read_text(encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"pydantic==2\.0\.0 in the layer, ==2\.14\.3 in requirements-dev.lock"
    ):
        render("pydantic==2.0.0\n", lock)
    with pytest.raises(ValueError, match=r"not in requirements-dev\.lock"):
        render("left-pad==1.0\n", lock)


def test_dependencies_layer_holds_aarch64_cp311_wheels(synth: Synth) -> None:
    # Given the bundled dependencies layer
    python_dir = synth.outdir / _layer_asset(synth, "Dependencies") / "python"
    # Then every pinned distribution is installed under python/
    installed = {p.name.split("-")[0].lower().replace("_", "-") for p in python_dir.glob("*.dist-info")}
    assert installed == set(_requirements())
    # And the compiled parts are for CPython 3.11 on aarch64
    (core,) = list((python_dir / "pydantic_core").glob("_pydantic_core*.so"))
    assert "cpython-311-aarch64" in core.name
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
        assert props["CompatibleRuntimes"] == ["python3.11"]
        assert props["CompatibleArchitectures"] == ["arm64"]
