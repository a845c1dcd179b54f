"""Kantata (Mavenlink): the PSA role (projects from templates, rate cards, milestones); its
milestone stories polled, their completion a ``MilestoneCompleted``."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="kantata",
    title="Kantata",
    roles=frozenset({"psa"}),
    inbound="poll",
    adapter="pshub.platforms.kantata.inbound:KantataAdapter",
    outbound={"psa": "pshub.platforms.kantata.outbound:connect"},
)
