"""Docker-free bundling of the Lambda layers.

CDK's ``BundlingOptions`` runs a container unless a ``local`` bundler succeeds. Our
machines (developers', CI's) have no Docker, so both layers are built on the host:
pip can fetch wheels for another platform (``--platform``), and our own package is
a plain copy. The Docker ``command`` stays equivalent so a machine with Docker and a
failing local build would still produce the same layer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from pshub_infra.constants import (
    ASSET_EXCLUDES,
    COMMON_PACKAGE,
    DEPENDENCIES_REQUIREMENTS,
    LAMBDA_RUNTIME,
    PIP_PLATFORM,
    PYTHON_VERSION,
)

# Lambda layers put ``/opt/python`` on ``sys.path``.
LAYER_PYTHON_DIR = "python"


def pip_install_args(requirements: str, target: str) -> list[str]:
    """Arguments after ``pip`` that install the pinned closure for the Lambda platform.

    ``--no-deps``: requirements.txt is the full closure minus what the runtime ships
    (see its header), so pip must not add anything. ``--no-compile``: the host's .pyc
    files would be for the wrong interpreter and only bloat the layer.
    """
    return [
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--quiet",  # twice: errors only; the index-location warnings of some machines are noise
        "--platform",
        PIP_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-deps",
        "--require-hashes",  # the lock's hashes (pshub_infra.layer_lock): the distributions tested
        "--no-compile",
        "--target",
        target,
        "-r",
        requirements,
    ]


@jsii.implements(cdk.ILocalBundling)
class PipInstallBundler:
    """Installs ``requirements.txt`` of the asset folder into ``<output>/python``."""

    def __init__(self, source_dir: Path) -> None:
        self._requirements = source_dir / DEPENDENCIES_REQUIREMENTS

    # jsii passes the BundlingOptions struct after output_dir; we need none of it.
    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        target = Path(output_dir) / LAYER_PYTHON_DIR
        command = [sys.executable, "-m", "pip", *pip_install_args(str(self._requirements), str(target))]
        subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
        return True


@jsii.implements(cdk.ILocalBundling)
class PackageCopyBundler:
    """Copies one package of the asset folder to ``<output>/python/<package>``."""

    def __init__(self, source_dir: Path, package: str) -> None:
        self._package_dir = source_dir / package
        self._package = package

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        target = Path(output_dir) / LAYER_PYTHON_DIR / self._package
        shutil.copytree(
            self._package_dir,
            target,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def _layer_code(source_dir: Path, shell_command: str, local: cdk.ILocalBundling) -> lambda_.Code:
    """A layer asset bundled by ``local`` here, or by ``shell_command`` in the runtime's image.

    SOURCE hashing: the hash covers the source folder and these bundling options, not the
    bundler's output (pip's embeds timestamps), so an unchanged layer is not rebuilt when
    the asset already sits in the output directory.
    """
    return lambda_.Code.from_asset(
        str(source_dir),
        asset_hash_type=cdk.AssetHashType.SOURCE,
        exclude=list(ASSET_EXCLUDES),
        bundling=cdk.BundlingOptions(
            image=LAMBDA_RUNTIME.bundling_image, command=["bash", "-c", shell_command], local=local
        ),
    )


def dependencies_layer_code(source_dir: Path) -> lambda_.Code:
    """Third-party dependencies, installed from ``source_dir/requirements.txt`` at synth time."""
    command = " ".join(
        ["pip", *pip_install_args(DEPENDENCIES_REQUIREMENTS, f"/asset-output/{LAYER_PYTHON_DIR}")]
    )
    return _layer_code(source_dir, command, PipInstallBundler(source_dir))


def package_layer_code(source_dir: Path, package: str = COMMON_PACKAGE) -> lambda_.Code:
    """Our own shared package, copied as ``python/<package>``."""
    command = (
        f"mkdir -p /asset-output/{LAYER_PYTHON_DIR} && "
        f"cp -r /asset-input/{package} /asset-output/{LAYER_PYTHON_DIR}/"
    )
    return _layer_code(source_dir, command, PackageCopyBundler(source_dir, package))
