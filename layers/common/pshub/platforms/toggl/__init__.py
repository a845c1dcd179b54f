"""Toggl Track: signed webhooks in (time entries, with Toggl's validation handshake); no outbound."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="toggl",
    title="Toggl Track",
    roles=frozenset({"time"}),
    inbound="webhook",
    adapter="pshub.platforms.toggl.inbound:TogglAdapter",
)
