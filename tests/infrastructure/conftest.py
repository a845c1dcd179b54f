"""One CDK synth per test run (xdist workers included), shared by every infrastructure test.

The app is synthesized into a fixed folder under ``cdk.out/`` so the dependencies
layer, which pip builds from PyPI, is bundled only the first time: CDK skips
bundling an asset whose folder already exists. Templates are read from the cloud
assembly, so the tests never synthesize twice.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from .support import REPO_ROOT, STACK_NAME, Synth


@pytest.fixture(scope="session")
def cdk_app() -> Any:
    """infra/app.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("pshub_cdk_app", REPO_ROOT / "infra" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prune_stale_assets(outdir: Path) -> None:
    """Drop asset folders of earlier runs that this synth no longer references (the layer stays)."""
    manifest = json.loads((outdir / f"{STACK_NAME}.assets.json").read_text())
    live = {entry["source"]["path"] for entry in manifest.get("files", {}).values()}
    for child in outdir.glob("asset.*"):
        if child.name in live:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink()


@pytest.fixture(scope="session")
def synth(cdk_app: Any, request: pytest.FixtureRequest) -> Synth:
    outdir = REPO_ROOT / "cdk.out" / "test"
    outdir.mkdir(parents=True, exist_ok=True)
    # xdist workers of one run share its uid: the first synthesizes, the others wait for
    # it and read the same cloud assembly (two synths must never stage into one folder).
    run_id = getattr(request.config, "workerinput", {}).get("testrun_uid") or uuid.uuid4().hex
    stamp, error_file = outdir / ".synthesized-by", outdir / ".synth-error"
    with (outdir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != run_id:
            stamp.unlink(missing_ok=True)
            for stale in ("validation-report.json", f"{STACK_NAME}.template.json", error_file.name):
                (outdir / stale).unlink(missing_ok=True)
            try:
                cdk_app.build_app(outdir=str(outdir)).synth()
            except RuntimeError as exc:
                # cdk-nag findings fail synth after the template is written; test_nag reports them.
                if "ValidationFailed" not in str(exc):
                    raise
                error_file.write_text(str(exc))
            _prune_stale_assets(outdir)
            stamp.write_text(run_id)
        return Synth(
            outdir=outdir,
            template=json.loads((outdir / f"{STACK_NAME}.template.json").read_text()),
            error=error_file.read_text() if error_file.exists() else None,
            report=json.loads((outdir / "validation-report.json").read_text()),
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything here that needs the synth is slow: `-m "not slow"` skips it.
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here and "synth" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
