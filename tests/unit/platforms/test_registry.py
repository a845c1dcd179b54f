"""Every platform that sends webhooks has its adapter, loaded when first asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pshub.errors import PshubError
from pshub.platforms import adapter_for, platform, platform_names
from tests.helpers import REPO

WEBHOOK_PLATFORMS = sorted(name for name in platform_names() if platform(name).inbound == "webhook")


def test_the_platforms_are_the_packages_and_each_declares_itself() -> None:
    assert {"stripe", "hubspot", "salesforce", "netsuite", "kantata"} <= platform_names()
    for name in platform_names():
        manifest = platform(name)
        assert manifest.name == name and manifest.title and manifest.roles
        assert (manifest.adapter is not None) == (manifest.inbound is not None)


def test_an_unknown_platform_is_named_with_the_known_ones() -> None:
    with pytest.raises(PshubError, match=r"no platform 'zzz' \(known: .*stripe"):
        platform("zzz")


@pytest.mark.parametrize("platform_name", WEBHOOK_PLATFORMS)
def test_every_webhook_platform_has_its_adapter(platform_name: str) -> None:
    platform = platform_name
    adapter = adapter_for(platform)
    assert adapter.platform == platform
    assert adapter_for(platform) is adapter  # one per process


def test_a_platform_without_an_adapter_is_named_in_the_error() -> None:
    with pytest.raises(PshubError, match="no adapter for platform 'zuora'"):
        adapter_for("zuora")


def test_only_the_adapters_asked_for_are_imported() -> None:
    # Given a fresh process that asks for Stripe's adapter only
    script = (
        "import sys; from pshub.platforms import adapter_for; adapter_for('stripe'); "
        "print(sorted(m for m in sys.modules if m.startswith('pshub.platforms.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(REPO / "layers/common")},
        capture_output=True,
        text=True,
        check=True,
    )

    # Then neither HubSpot's nor Salesforce's module (nor its XML parser) was loaded
    assert (
        result.stdout.strip()
        == "['pshub.platforms.base', 'pshub.platforms.fields', 'pshub.platforms.manifest', "
        "'pshub.platforms.stripe', 'pshub.platforms.stripe.inbound']"
    )
