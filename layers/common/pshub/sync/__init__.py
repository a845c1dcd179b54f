"""Keeping records trustworthy across systems: identity, ownership, ordering, echo suppression."""
