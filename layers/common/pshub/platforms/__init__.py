"""The platforms pshub knows, each a package that declares itself (``manifest.Platform``).

Packages are found by listing this folder, and each is imported only when a connection
to it is first used: an ingress that only ever hears from Stripe never loads the
Salesforce SOAP parser. Adding a platform is adding its package; nothing here changes.
"""

from __future__ import annotations

import pkgutil
from functools import cache
from importlib import import_module

from pshub.errors import PshubError
from pshub.platforms.base import PlatformAdapter, PlatformEvent
from pshub.platforms.manifest import Platform

_loaded: dict[str, PlatformAdapter] = {}


@cache
def platform_names() -> frozenset[str]:
    """Every platform with a package here (a directory listing; nothing is imported)."""
    return frozenset(module.name for module in pkgutil.iter_modules(__path__) if module.ispkg)


def platform(name: str) -> Platform:
    """The manifest of platform ``name``; PshubError if there is no such package."""
    if name not in platform_names():
        raise PshubError(f"no platform {name!r} (known: {', '.join(sorted(platform_names()))})")
    manifest = getattr(import_module(f"{__name__}.{name}"), "PLATFORM", None)
    if not isinstance(manifest, Platform) or manifest.name != name:
        raise PshubError(f"pshub.platforms.{name} declares no PLATFORM manifest named {name!r}")
    return manifest


def adapter_for(name: str) -> PlatformAdapter:
    """The inbound adapter of platform ``name``, built once per process."""
    adapter = _loaded.get(name)
    if adapter is None:
        reference = platform(name).adapter if name in platform_names() else None
        if reference is None:
            raise PshubError(f"no adapter for platform {name!r}")
        module, _, cls = reference.partition(":")
        adapter = _loaded[name] = getattr(import_module(module), cls)()
    return adapter


__all__ = ["Platform", "PlatformAdapter", "PlatformEvent", "adapter_for", "platform", "platform_names"]
