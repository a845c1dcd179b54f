"""Kantata (Mavenlink): the PSA role (projects from templates, rate cards)."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="kantata",
    title="Kantata",
    roles=frozenset({"psa"}),
    outbound={"psa": "pshub.platforms.kantata.outbound:connect"},
)
