"""Platform adapters by platform name."""

from __future__ import annotations

from pshub.errors import PshubError
from pshub.platforms.base import PlatformAdapter, PlatformEvent
from pshub.platforms.hubspot import HubSpotAdapter
from pshub.platforms.salesforce import SalesforceAdapter
from pshub.platforms.stripe import StripeAdapter

ADAPTERS: dict[str, PlatformAdapter] = {
    adapter.platform: adapter for adapter in (StripeAdapter(), HubSpotAdapter(), SalesforceAdapter())
}


def adapter_for(platform: str) -> PlatformAdapter:
    try:
        return ADAPTERS[platform]
    except KeyError:
        raise PshubError(f"no adapter for platform {platform!r}") from None


__all__ = ["ADAPTERS", "PlatformAdapter", "PlatformEvent", "adapter_for"]
