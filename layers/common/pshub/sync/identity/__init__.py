"""Client identity: normalised names, domains and validated strong ids, and the match decision.

Pure functions over a record's facts (no I/O): ``pshub.sync.entity_sync`` reads the
candidates from the identity store, ``decide`` weighs them, and the store registers the
outcome atomically. See ``matching`` for the decision rules.
"""

from pshub.sync.identity.domains import email_domain, normalise_domain, website_domain
from pshub.sync.identity.ids import StrongId, compact_id, is_placeholder, strong_ids
from pshub.sync.identity.matching import (
    ClientFacts,
    ClientProfile,
    Evidence,
    MatchDecision,
    decide,
    normalise_country,
    profile,
    weigh,
)
from pshub.sync.identity.names import normalise_name

__all__ = [
    "ClientFacts",
    "ClientProfile",
    "Evidence",
    "MatchDecision",
    "StrongId",
    "compact_id",
    "decide",
    "email_domain",
    "is_placeholder",
    "normalise_country",
    "normalise_domain",
    "normalise_name",
    "profile",
    "strong_ids",
    "website_domain",
    "weigh",
]
