"""Platform adapters by platform name, each imported when its platform is first seen.

A function imports only the adapters of the platforms it actually receives from: an
ingress that only ever hears from Stripe never loads the Salesforce SOAP parser.
"""

from __future__ import annotations

from importlib import import_module

from pshub.errors import PshubError
from pshub.platforms.base import PlatformAdapter, PlatformEvent

# platform -> (module, class)
_MODULES = {
    "stripe": ("pshub.platforms.stripe.inbound", "StripeAdapter"),
    "hubspot": ("pshub.platforms.hubspot.inbound", "HubSpotAdapter"),
    "salesforce": ("pshub.platforms.salesforce.inbound", "SalesforceAdapter"),
}
_loaded: dict[str, PlatformAdapter] = {}


def adapter_for(platform: str) -> PlatformAdapter:
    adapter = _loaded.get(platform)
    if adapter is None:
        try:
            module, name = _MODULES[platform]
        except KeyError:
            raise PshubError(f"no adapter for platform {platform!r}") from None
        adapter = _loaded[platform] = getattr(import_module(module), name)()
    return adapter


__all__ = ["PlatformAdapter", "PlatformEvent", "adapter_for"]
