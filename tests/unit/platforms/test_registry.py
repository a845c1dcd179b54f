"""Every platform that sends webhooks has its adapter, loaded when first asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pshub.connections import WEBHOOK_PLATFORMS
from pshub.errors import PshubError
from pshub.platforms import adapter_for
from tests.helpers import REPO


@pytest.mark.parametrize("platform", sorted(WEBHOOK_PLATFORMS))
def test_every_webhook_platform_has_its_adapter(platform: str) -> None:
    adapter = adapter_for(platform)
    assert adapter.platform == platform
    assert adapter_for(platform) is adapter  # one per process


def test_a_platform_without_an_adapter_is_named_in_the_error() -> None:
    with pytest.raises(PshubError, match="no adapter for platform 'netsuite'"):
        adapter_for("netsuite")


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
        == "['pshub.platforms.base', 'pshub.platforms.fields', 'pshub.platforms.stripe', 'pshub.platforms.stripe.inbound']"
    )
